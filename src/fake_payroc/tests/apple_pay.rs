//! The Apple Pay endpoint against its spec slice: Bearer checked and account-scoped, both
//! members required, an unknown `appleDomainId` a 400, a 200 whose string is Apple's object,
//! and its faults.

use super::payments_kit::{KEY_A, KEY_B, TERMINAL_A, TERMINAL_B, start_two, token_of};
use super::*;

fn apple_pay_url(fake: &FakePayroc, terminal: &str) -> String {
    format!(
        "{}/processing-terminals/{terminal}/apple-pay-sessions",
        fake.api_url()
    )
}

fn start_body() -> Value {
    json!({
        "appleDomainId": DEFAULT_APPLE_DOMAIN_ID,
        "appleValidationUrl": "https://apple-pay-gateway.apple.com/paymentservices/startSession",
    })
}

async fn start(
    client: &Client,
    fake: &FakePayroc,
    token: &str,
    terminal: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(apple_pay_url(fake, terminal))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("the fake answers")
}

#[tokio::test]
async fn a_known_domain_gets_apples_merchant_session_as_a_string() {
    let (client, fake) = (client(), start_two().await);
    let token = token_of(&client, &fake, KEY_A).await;

    let response = start(&client, &fake, &token, TERMINAL_A, &start_body()).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let session: Value =
        serde_json::from_str(body["startSessionResponse"].as_str().unwrap()).unwrap();
    for member in [
        "epochTimestamp",
        "expiresAt",
        "merchantSessionIdentifier",
        "nonce",
        "merchantIdentifier",
        "domainName",
        "displayName",
        "signature",
    ] {
        assert!(session.get(member).is_some(), "{member} missing: {session}");
    }
    let recorded = &fake.apple_pay_requests()[0];
    assert_eq!(recorded.api_key.as_deref(), Some(KEY_A));
    assert_eq!(recorded.body, Some(start_body()));
}

#[tokio::test]
async fn tokens_are_checked_and_scoped_to_their_account() {
    let (client, fake) = (client(), start_two().await);
    let no_token = start(&client, &fake, "not-a-token", TERMINAL_A, &start_body()).await;
    assert_eq!(no_token.status(), 401);
    let token_b = token_of(&client, &fake, KEY_B).await;
    let foreign = start(&client, &fake, &token_b, TERMINAL_A, &start_body()).await;
    assert_eq!(foreign.status(), 403, "another account's terminal");
    // Account B has no Apple Pay domain at all: Payroc's 400 naming the member.
    let unknown = start(&client, &fake, &token_b, TERMINAL_B, &start_body()).await;
    assert_eq!(unknown.status(), 400);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["errors"][0]["parameter"], "appleDomainId");
}

#[tokio::test]
async fn both_members_are_required() {
    let (client, fake) = (client(), start_two().await);
    let token = token_of(&client, &fake, KEY_A).await;
    for (body, parameter) in [
        (
            json!({"appleValidationUrl": "https://apple-pay-gateway.apple.com/x"}),
            "appleDomainId",
        ),
        (
            json!({"appleDomainId": DEFAULT_APPLE_DOMAIN_ID}),
            "appleValidationUrl",
        ),
        (
            json!({"appleDomainId": 7, "appleValidationUrl": "https://apple-pay-gateway.apple.com/x"}),
            "appleDomainId",
        ),
    ] {
        let response = start(&client, &fake, &token, TERMINAL_A, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["parameter"], parameter, "{problem}");
    }
}

#[tokio::test]
async fn faults_fail_drop_delay_and_spoil_the_answer() {
    let (client, fake) = (client(), start_two().await);
    let token = token_of(&client, &fake, KEY_A).await;

    fake.fail_next_apple_pay(1, 503);
    assert_eq!(
        start(&client, &fake, &token, TERMINAL_A, &start_body())
            .await
            .status(),
        503
    );

    fake.drop_next_apple_pay(1);
    let dropped = start(&client, &fake, &token, TERMINAL_A, &start_body()).await;
    assert!(dropped.bytes().await.is_err(), "the answer was cut off");

    fake.set_apple_pay_not_an_object(true);
    let spoiled: Value = start(&client, &fake, &token, TERMINAL_A, &start_body())
        .await
        .json()
        .await
        .unwrap();
    let inner: Value =
        serde_json::from_str(spoiled["startSessionResponse"].as_str().unwrap()).unwrap();
    assert!(!inner.is_object(), "{inner}");
    fake.set_apple_pay_not_an_object(false);

    fake.set_apple_pay_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        start(&client, &fake, &token, TERMINAL_A, &start_body())
            .await
            .status(),
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(fake.apple_pay_calls(), 4);
    assert!(format!("{:?}", fake.apple_pay_requests()[0]).contains("<redacted>"));
}
