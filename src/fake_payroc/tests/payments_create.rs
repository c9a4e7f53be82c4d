//! `POST /v1/payments`: the new payment's shape, idempotent replay and 409, keys scoped per
//! account, and the 400/415/406 checks.

use super::payments_kit::*;
use super::*;

#[tokio::test]
async fn creates_a_payment_with_201_a_location_and_a_masked_card() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;

    let response = send(post_sale(
        &client,
        &fake,
        &token,
        &new_key(),
        &sale("OrderRef6543", 4999),
    ))
    .await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let payment: Value = response.json().await.unwrap();
    let id = id_of(&payment);
    assert!(is_payroc_id(&id), "{id}");
    assert_eq!(location, payment_url(&fake, &id));
    assert_eq!(payment["processingTerminalId"], TERMINAL_A);
    assert_eq!(payment["order"]["orderId"], "OrderRef6543");
    assert_eq!(payment["order"]["amount"], 4999);
    let date_time = payment["order"]["dateTime"].as_str().unwrap();
    OffsetDateTime::parse(date_time, &Rfc3339).expect("dateTime is RFC 3339");
    let card = &payment["card"];
    assert_eq!(card["cardNumber"], "453985******7062");
    assert_eq!(
        (&card["type"], &card["expiryDate"]),
        (&json!("Visa"), &json!("1225"))
    );
    assert!(
        !payment.to_string().contains(CARD_NUMBER),
        "the full number leaked"
    );
    let result = &payment["transactionResult"];
    assert_eq!(
        (&result["type"], &result["status"]),
        (&json!("sale"), &json!("ready"))
    );
    assert_eq!(
        (&result["responseCode"], &result["authorizedAmount"]),
        (&json!("A"), &json!(4999))
    );
    assert!(result["approvalCode"].is_string() && result["responseMessage"].is_string());
    assert_eq!((fake.api_calls(), fake.payments_created()), (1, 1));
}

#[tokio::test]
async fn replays_the_same_key_and_body_with_the_very_same_answer() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let (key, body) = (new_key(), sale("OrderRef1", 100));

    let first = send(post_sale(&client, &fake, &token, &key, &body)).await;
    let second = send(post_sale(&client, &fake, &token, &key, &body)).await;

    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (201, 201)
    );
    assert_eq!(first.headers()[LOCATION], second.headers()[LOCATION]);
    assert_eq!(first.text().await.unwrap(), second.text().await.unwrap());
    assert_eq!((fake.api_calls(), fake.payments_created()), (2, 1));
}

#[tokio::test]
async fn rejects_a_reused_key_with_another_body_or_path_with_409() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let key = new_key();
    let created = send(post_sale(
        &client,
        &fake,
        &token,
        &key,
        &sale("OrderRef1", 100),
    ))
    .await;
    let id = id_of(&created.json().await.unwrap());

    let other_body = send(post_sale(
        &client,
        &fake,
        &token,
        &key,
        &sale("OrderRef1", 101),
    ))
    .await;
    let refund = json!({"amount": 100, "description": "Refund"});
    let other_path = keyed_post(&client, &refund_url(&fake, &id), &token, &key).json(&refund);

    let body = problem(other_body, 409, "idempotency-key-in-use").await;
    assert_eq!(body["instance"], payments_url(&fake));
    problem(send(other_path).await, 409, "idempotency-key-in-use").await;
    assert_eq!((fake.payments_created(), fake.refunds_created()), (1, 0));
}

#[tokio::test]
async fn scopes_keys_per_account() {
    let (fake, client) = (start_two().await, client());
    let (token_a, token_b) = (
        token_of(&client, &fake, KEY_A).await,
        token_of(&client, &fake, KEY_B).await,
    );
    let key = new_key();

    let a = send(post_sale(&client, &fake, &token_a, &key, &sale("Order", 1))).await;
    let b = send(post_sale(
        &client,
        &fake,
        &token_b,
        &key,
        &sale_on(TERMINAL_B, "Order", 1),
    ))
    .await;

    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
    assert_eq!(fake.payments_created(), 2);
}

#[tokio::test]
async fn rejects_a_missing_or_malformed_idempotency_key_with_400() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let body = sale("Order", 1);

    let unkeyed = client
        .post(payments_url(&fake))
        .bearer_auth(&token)
        .json(&body);
    problem(send(unkeyed).await, 400, "idempotency-key-missing").await;
    let bad = send(post_sale(&client, &fake, &token, "not-a-uuid", &body)).await;
    let bad = problem(bad, 400, "bad-request").await;

    assert_eq!(parameters(&bad), ["Idempotency-Key"]);
    assert_eq!(fake.payments_created(), 0);
}

#[tokio::test]
async fn lists_every_body_violation_in_errors_naming_the_parameter() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let body = json!({
        "channel": "phone",
        "processingTerminalId": "123",
        "order": {"orderId": "x".repeat(25), "amount": 1.5, "currency": "usd"},
        "paymentMethod": {"type": "cash"},
    });

    let response = send(post_sale(&client, &fake, &token, &new_key(), &body)).await;

    let invalid = problem(response, 400, "bad-request").await;
    let expected = [
        "channel",
        "processingTerminalId",
        "order.orderId",
        "order.amount",
        "order.currency",
        "paymentMethod.type",
    ];
    assert_eq!(parameters(&invalid), expected);
    let empty = send(post_sale(&client, &fake, &token, &new_key(), &json!({}))).await;
    let empty = problem(empty, 400, "bad-request").await;
    let expected = ["channel", "processingTerminalId", "order", "paymentMethod"];
    assert_eq!(parameters(&empty), expected);
    let mut tokenless = sale("Order", 1);
    tokenless["paymentMethod"] = json!({"type": "singleUseToken"});
    let response = send(post_sale(&client, &fake, &token, &new_key(), &tokenless)).await;
    let tokenless = problem(response, 400, "bad-request").await;
    assert_eq!(parameters(&tokenless), ["paymentMethod.token"]);
    assert_eq!(fake.payments_created(), 0);
}

#[tokio::test]
async fn refuses_media_types_other_than_json() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;

    let form = keyed_post(&client, &payments_url(&fake), &token, &new_key()).body("a=b");
    problem(send(form).await, 415, "unsupported-media-type").await;
    let xml =
        post_sale(&client, &fake, &token, &new_key(), &sale("Order", 1)).header(ACCEPT, "text/xml");
    problem(send(xml).await, 406, "not-acceptable").await;
}
