//! Helpers for the payments endpoints' tests: two accounts, a valid sale, and requests with a
//! token and a key set.

use super::*;

pub(super) const KEY_A: &str = "payments-key-a";
pub(super) const KEY_B: &str = "payments-key-b";
pub(super) const TERMINAL_A: &str = "1234001";
pub(super) const TERMINAL_A2: &str = "1234002";
pub(super) const TERMINAL_B: &str = "5678001";
pub(super) const CARD_NUMBER: &str = "4539858876047062";

pub(super) async fn start_two() -> FakePayroc {
    let config = FakePayrocConfig {
        api_key: KEY_A.to_owned(),
        terminals: vec![TERMINAL_A.to_owned(), TERMINAL_A2.to_owned()],
        other_accounts: vec![FakeAccount {
            api_key: KEY_B.to_owned(),
            terminals: vec![TERMINAL_B.to_owned()],
            ..FakeAccount::default()
        }],
        ..FakePayrocConfig::default()
    };
    FakePayroc::start(config).await.expect("fake starts")
}

pub(super) async fn token_of(client: &Client, fake: &FakePayroc, key: &str) -> String {
    let response = authorize_with(client, fake, key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("identity sends JSON");
    body["access_token"].as_str().expect("a token").to_owned()
}

pub(super) fn payments_url(fake: &FakePayroc) -> String {
    format!("{}/payments", fake.api_url())
}

pub(super) fn payment_url(fake: &FakePayroc, id: &str) -> String {
    format!("{}/{id}", payments_url(fake))
}

pub(super) fn refund_url(fake: &FakePayroc, id: &str) -> String {
    format!("{}/refund", payment_url(fake, id))
}

/// The spec's example sale, keyed card and all, on `terminal`.
pub(super) fn sale_on(terminal: &str, order_id: &str, amount: i64) -> Value {
    json!({
        "channel": "web",
        "processingTerminalId": terminal,
        "order": {"orderId": order_id, "amount": amount, "currency": "USD"},
        "paymentMethod": {
            "type": "card",
            "cardDetails": {
                "entryMethod": "keyed",
                "cardholderName": "Sarah Hazel Hopper",
                "keyedData": {
                    "dataFormat": "plainText",
                    "cardNumber": CARD_NUMBER,
                    "expiryDate": "1225",
                },
            },
        },
    })
}

pub(super) fn sale(order_id: &str, amount: i64) -> Value {
    sale_on(TERMINAL_A, order_id, amount)
}

/// A POST to `url` with the Bearer and the key set, no body yet.
pub(super) fn keyed_post(client: &Client, url: &str, token: &str, key: &str) -> RequestBuilder {
    let request = client.post(url).bearer_auth(token);
    request.header("Idempotency-Key", key)
}

pub(super) fn post_sale(
    client: &Client,
    fake: &FakePayroc,
    token: &str,
    key: &str,
    body: &Value,
) -> RequestBuilder {
    keyed_post(client, &payments_url(fake), token, key).json(body)
}

/// Creates a payment with a fresh key and returns its body.
pub(super) async fn create_sale(
    client: &Client,
    fake: &FakePayroc,
    token: &str,
    body: &Value,
) -> Value {
    let response = send(post_sale(client, fake, token, &new_key(), body)).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("a payment body")
}

pub(super) fn get_with(client: &Client, url: &str, token: &str) -> RequestBuilder {
    client.get(url).bearer_auth(token)
}

pub(super) fn id_of(payment: &Value) -> String {
    payment["paymentId"]
        .as_str()
        .expect("a paymentId")
        .to_owned()
}

pub(super) fn ids(page: &Value) -> Vec<String> {
    let data = page["data"].as_array().expect("a data array");
    data.iter().map(id_of).collect()
}

/// Payroc's ids: 10 upper-case letters and digits.
pub(super) fn is_payroc_id(id: &str) -> bool {
    id.len() == 10
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}
