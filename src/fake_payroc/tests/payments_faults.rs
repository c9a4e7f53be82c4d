//! The payments endpoints' faults (fail, drop, refuse, latency) and their request log.

use super::payments_kit::*;
use super::*;

#[tokio::test]
async fn failed_calls_come_first_with_retry_after_and_store_nothing() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let (key, body) = (new_key(), sale("Order", 100));
    fake.fail_next_api_calls(2, 503, Some(7));

    for _ in 0..2 {
        let response = send(post_sale(&client, &fake, &token, &key, &body)).await;
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        assert_eq!(response.headers()["x-payroc-trace"], "fake");
        problem(response, 503, "service-unavailable").await;
    }
    assert_eq!(fake.payments_created(), 0);
    let third = send(post_sale(&client, &fake, &token, &key, &body)).await;

    assert_eq!(
        third.status(),
        201,
        "the same key still creates once the faults are spent"
    );
    assert_eq!((fake.api_calls(), fake.payments_created()), (3, 1));
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 201]);
}

#[tokio::test]
async fn failed_calls_without_retry_after_send_none_even_for_bad_requests() {
    let (fake, client) = (start_two().await, client());
    fake.fail_next_api_calls(1, 500, None);

    // No token, no key: the injected failure still wins over every check.
    let response = send(client.post(payments_url(&fake))).await;

    assert!(response.headers().get(RETRY_AFTER).is_none());
    let body = problem(response, 500, "api-error").await;
    assert_eq!(body["errors"][0]["message"], "Service offline");
}

#[tokio::test]
async fn dropped_answer_still_creates_the_payment_a_replay_returns() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let (key, body) = (new_key(), sale("Order", 100));
    fake.drop_next_api_calls(1);

    let response = send(post_sale(&client, &fake, &token, &key, &body)).await;

    // The 201 head arrives, then the connection dies mid-body.
    assert_eq!(response.status(), 201);
    let location = response.headers()[LOCATION].clone();
    let lost = response.text().await;
    assert!(lost.is_err(), "expected a broken body, got {lost:?}");
    assert_eq!(fake.payments_created(), 1);
    let replay = send(post_sale(&client, &fake, &token, &key, &body)).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()[LOCATION], location);
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(
        payment_url(&fake, &id_of(&replayed)),
        location.to_str().unwrap()
    );
    assert_eq!(fake.payments_created(), 1);
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 201]);
}

#[tokio::test]
async fn refused_call_gets_no_answer_stores_nothing_but_is_counted() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let (key, body) = (new_key(), sale("Order", 100));
    fake.refuse_next_api_calls(1);

    let refused = post_sale(&client, &fake, &token, &key, &body).send().await;

    assert!(refused.is_err(), "expected no answer, got {refused:?}");
    assert_eq!((fake.api_calls(), fake.payments_created()), (1, 0));
    let retry = send(post_sale(&client, &fake, &token, &key, &body)).await;
    assert_eq!(retry.status(), 201, "nothing was stored under the key");
    let recorded = fake.api_requests();
    let keys: Vec<_> = recorded
        .iter()
        .map(|r| (r.status, r.idempotency_key.clone()))
        .collect();
    assert_eq!(keys, [(0, Some(key.clone())), (201, Some(key))]);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    fake.set_api_latency(Duration::from_millis(150));

    let started = Instant::now();
    let listed = send(get_with(&client, &payments_url(&fake), &token)).await;

    assert_eq!(listed.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn records_every_header_raw_with_the_key_the_token_was_issued_for() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_B).await;
    let key = new_key();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = post_sale(
        &client,
        &fake,
        &token,
        &key,
        &sale_on(TERMINAL_B, "Order", 5),
    )
    .header("x-api-key", "leaked-key")
    .header("cookie", "a=1")
    .header("traceparent", traceparent)
    .header("tracestate", "vendor=1")
    .header(ACCEPT, "application/json");

    send(request).await;

    let recorded = &fake.api_requests()[0];
    assert_eq!(
        (recorded.method.as_str(), recorded.path.as_str()),
        ("POST", "/v1/payments")
    );
    assert_eq!(recorded.api_key.as_deref(), Some(KEY_B));
    assert_eq!(recorded.authorization, Some(format!("Bearer {token}")));
    assert_eq!(recorded.x_api_key.as_deref(), Some("leaked-key"));
    assert_eq!(recorded.cookie.as_deref(), Some("a=1"));
    assert_eq!(recorded.idempotency_key, Some(key));
    assert_eq!(recorded.content_type.as_deref(), Some("application/json"));
    assert_eq!(recorded.accept.as_deref(), Some("application/json"));
    assert_eq!(recorded.traceparent.as_deref(), Some(traceparent));
    assert_eq!(recorded.tracestate.as_deref(), Some("vendor=1"));
    for name in [
        "authorization",
        "idempotency-key",
        "x-api-key",
        "cookie",
        "host",
        "content-type",
    ] {
        assert!(
            recorded.header_names.iter().any(|n| n == name),
            "{name} in {:?}",
            recorded.header_names
        );
    }
    assert_eq!(recorded.body.as_ref().unwrap()["order"]["amount"], 5);
    assert_eq!((recorded.query.as_deref(), recorded.status), (None, 201));
}

#[tokio::test]
async fn debug_of_a_recorded_request_hides_keys_tokens_and_cookies() {
    let (fake, client) = (start_two().await, client());
    let token = token_of(&client, &fake, KEY_A).await;
    let request = get_with(&client, &payments_url(&fake), &token)
        .header("x-api-key", "presented-secret")
        .header("cookie", "session=cookie-secret");
    send(request).await;

    let debug = format!("{:?}", fake.api_requests()[0]);

    for secret in [token.as_str(), KEY_A, "presented-secret", "cookie-secret"] {
        assert!(!debug.contains(secret), "{secret} leaked in {debug}");
    }
    assert!(debug.contains("<redacted>") && debug.contains("/v1/payments"));
}
