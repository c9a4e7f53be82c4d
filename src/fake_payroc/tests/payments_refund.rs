//! `POST /v1/payments/{paymentId}/refund`: partial and full refunds on the payment, the 400 for
//! more than what is left, replay and 409, and the 404 that hides other accounts' payments.

use super::payments_kit::*;
use super::*;

fn refund_of(amount: i64) -> Value {
    json!({"amount": amount, "description": "Customer requested a refund"})
}

fn post_refund(
    client: &Client,
    fake: &FakePayroc,
    token: &str,
    id: &str,
    key: &str,
    body: &Value,
) -> RequestBuilder {
    keyed_post(client, &refund_url(fake, id), token, key).json(body)
}

/// A fresh sale of `amount` for account A: its token and id.
async fn paid(client: &Client, fake: &FakePayroc, amount: i64) -> (String, String) {
    let token = token_of(client, fake, KEY_A).await;
    let payment = create_sale(client, fake, &token, &sale("Order", amount)).await;
    (token, id_of(&payment))
}

#[tokio::test]
async fn refunds_part_then_the_rest_and_the_payment_lists_both() {
    let (fake, client) = (start_two().await, client());
    let (token, id) = paid(&client, &fake, 4999).await;

    let part = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &refund_of(999),
    ))
    .await;
    assert_eq!(part.status(), 200);
    assert!(part.headers().get(LOCATION).is_none());
    let part: Value = part.json().await.unwrap();
    let rest = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &refund_of(4000),
    ))
    .await;
    let rest: Value = rest.json().await.unwrap();

    assert_eq!(id_of(&part), id);
    assert_eq!(part["refunds"].as_array().unwrap().len(), 1);
    let refunds = rest["refunds"].as_array().unwrap();
    let amounts: Vec<&Value> = refunds.iter().map(|r| &r["amount"]).collect();
    assert_eq!(amounts, [&json!(999), &json!(4000)]);
    let refund = &refunds[1];
    let refund_id = refund["refundId"].as_str().unwrap();
    assert!(is_payroc_id(refund_id) && refund_id != id);
    assert_eq!(
        (
            &refund["currency"],
            &refund["status"],
            &refund["responseCode"]
        ),
        (&json!("USD"), &json!("ready"), &json!("A"))
    );
    assert_eq!(
        refund["link"]["href"],
        format!("{}/refunds/{refund_id}", fake.api_url())
    );
    let fetched: Value = send(get_with(&client, &payment_url(&fake, &id), &token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, rest);
    assert_eq!(fake.refunds_created(), 2);
}

#[tokio::test]
async fn refuses_more_than_what_is_left_with_400_naming_amount() {
    let (fake, client) = (start_two().await, client());
    let (token, id) = paid(&client, &fake, 1000).await;
    send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &refund_of(600),
    ))
    .await;

    let over = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &refund_of(401),
    ))
    .await;

    let over = problem(over, 400, "bad-request").await;
    assert_eq!(parameters(&over), ["amount"]);
    assert_eq!(fake.refunds_created(), 1);
    let exact = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &refund_of(400),
    ))
    .await;
    assert_eq!(exact.status(), 200);
}

#[tokio::test]
async fn validates_the_refund_body() {
    let (fake, client) = (start_two().await, client());
    let (token, id) = paid(&client, &fake, 1000).await;

    let empty = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &new_key(),
        &json!({}),
    ))
    .await;
    let zero = json!({"amount": 0, "description": "x".repeat(101)});
    let zero = send(post_refund(&client, &fake, &token, &id, &new_key(), &zero)).await;

    assert_eq!(
        parameters(&problem(empty, 400, "bad-request").await),
        ["amount", "description"]
    );
    let zero = problem(zero, 400, "bad-request").await;
    assert_eq!(parameters(&zero), ["amount", "description"]);
    assert_eq!(
        zero["errors"][0]["message"],
        "'amount' must be greater than 0. You entered 0."
    );
    assert_eq!(fake.refunds_created(), 0);
}

#[tokio::test]
async fn replays_a_full_refund_with_the_same_key_although_nothing_is_left() {
    let (fake, client) = (start_two().await, client());
    let (token, id) = paid(&client, &fake, 500).await;
    let key = new_key();

    let first = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &key,
        &refund_of(500),
    ))
    .await;
    let first = first.text().await.unwrap();
    let again = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &key,
        &refund_of(500),
    ))
    .await;
    let other = send(post_refund(
        &client,
        &fake,
        &token,
        &id,
        &key,
        &refund_of(499),
    ))
    .await;

    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), first);
    problem(other, 409, "idempotency-key-in-use").await;
    assert_eq!(fake.refunds_created(), 1);
}

#[tokio::test]
async fn answers_another_accounts_payment_like_an_unknown_one_with_404() {
    let (fake, client) = (start_two().await, client());
    let (_, id) = paid(&client, &fake, 500).await;
    let token_b = token_of(&client, &fake, KEY_B).await;

    let foreign = send(post_refund(
        &client,
        &fake,
        &token_b,
        &id,
        &new_key(),
        &refund_of(1),
    ))
    .await;
    let unknown = send(post_refund(
        &client,
        &fake,
        &token_b,
        "ZZZZZZZZZZ",
        &new_key(),
        &refund_of(1),
    ))
    .await;

    let foreign = problem(foreign, 404, "not-found").await;
    assert_eq!(foreign, problem(unknown, 404, "not-found").await);
    assert_eq!(fake.refunds_created(), 0);
}
