//! Payroc's API slow or failing: retries with the same key, 401 healing, timeouts.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Options, assert_problem, spawn_app, spawn_app_with};

fn keys_seen(app: &crate::helpers::TestApp) -> Vec<Option<String>> {
    app.fake
        .session_requests()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect()
}

#[tokio::test]
async fn upstream_5xx_is_retried_with_the_same_idempotency_key() {
    let app = spawn_app().await;
    app.fake.fail_next_sessions(2, 503);

    let response = app.post_session(Value::Null).await;

    assert_eq!(response.status(), 201);
    let keys = keys_seen(&app);
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "every retry reuses the key: {keys:?}"
    );
}

#[tokio::test]
async fn dropped_connection_is_retried_and_returns_the_session_payroc_created() {
    let app = spawn_app().await;
    app.fake.drop_next_sessions(1);

    let response = app.post_session(Value::Null).await;

    assert_eq!(response.status(), 201);
    assert_eq!(app.fake.session_calls(), 2);
    assert_eq!(
        app.fake.sessions_created(),
        1,
        "the retry replayed the lost session"
    );
    let keys = keys_seen(&app);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn upstream_failing_past_the_retry_budget_is_502() {
    let app = spawn_app().await;
    app.fake.fail_next_sessions(10, 500);

    let body = assert_problem(app.post_session(Value::Null).await, 502).await;

    assert_eq!(app.fake.session_calls(), 3, "max_attempts = 3");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals in the body: {body}"
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let app = spawn_app_with(Options {
        settings: Box::new(|raw| {
            raw.payroc.request_timeout_ms = 200;
            raw.payroc.deadline_ms = 1_000;
        }),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app.fake.set_session_latency(Duration::from_secs(3));

    let started = std::time::Instant::now();
    let response = app.post_session(Value::Null).await;

    assert_problem(response, 504).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered within the deadline"
    );
}

#[tokio::test]
async fn revoked_token_is_healed_within_the_same_request() {
    let app = spawn_app().await;
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    app.fake.revoke_all_tokens();

    let response = app.post_session(Value::Null).await;

    assert_eq!(response.status(), 201);
    assert_eq!(app.fake.tokens_issued(), 2);
    let requests = app.fake.session_requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].status, 401);
    assert_ne!(
        requests[1].authorization, requests[2].authorization,
        "replayed with the fresh token"
    );
    assert_eq!(
        requests[1].idempotency_key, requests[2].idempotency_key,
        "and the same key"
    );
}

#[tokio::test]
async fn concurrent_requests_after_a_revocation_fetch_one_new_token() {
    let app = spawn_app().await;
    app.wait_ready().await;
    app.fake.revoke_all_tokens();

    let responses =
        futures_util::future::join_all((0..50).map(|_| app.post_session(Value::Null))).await;

    assert!(responses.iter().all(|r| r.status() == 201));
    assert_eq!(app.fake.tokens_issued(), 2, "one fetch heals everyone");
}

#[tokio::test]
async fn upstream_still_401_after_the_replay_is_502() {
    let app = spawn_app().await;
    app.wait_ready().await;
    app.fake.fail_next_sessions(2, 401);

    assert_problem(app.post_session(Value::Null).await, 502).await;
    assert_eq!(app.fake.session_calls(), 2, "exactly one replay");
}

#[tokio::test]
async fn payroc_validation_rejection_is_502_with_its_detail() {
    let app = spawn_app_with(Options {
        settings: Box::new(|raw| raw.payroc.terminals = vec!["1234001".into(), "7777777".into()]),
        ..Options::default()
    })
    .await;

    // The fake does not know terminal 7777777, so Payroc itself refuses with 403.
    let response = app
        .post_session(serde_json::json!({"processingTerminalId": "7777777"}))
        .await;

    let body = assert_problem(response, 502).await;
    assert_eq!(
        body["detail"], "You do not have the required permissions to perform this action",
        "Payroc's own detail is passed on: {body}"
    );
    assert_eq!(body["type"], "urn:hosted-fields-broker:upstream-rejected");
    assert_eq!(app.fake.session_calls(), 1, "a rejection is not retried");
}
