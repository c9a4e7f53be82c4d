//! Caller-chosen `Idempotency-Key`s: replays return the same session, dead ones are refused.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

const KEY: &str = "8E03978E-40D5-43E8-BC93-6894A57F9324";

/// A session request carrying the caller's own [`KEY`].
async fn with_key(app: &TestApp, body: Value) -> reqwest::Response {
    app.session_request(body)
        .header("idempotency-key", KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn caller_key_is_forwarded_lower_case_and_a_replay_returns_the_same_session() {
    let app = spawn_app().await;

    let first = with_key(&app, Value::Null).await;
    let second = with_key(&app, Value::Null).await;

    assert_eq!(
        (first.status(), second.status()),
        (201.try_into().unwrap(), 201.try_into().unwrap())
    );
    let first: Value = first.json().await.unwrap();
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["sessionToken"], second["sessionToken"]);
    assert_eq!(app.fake.sessions_created(), 1);
    for request in app.fake.session_requests() {
        assert_eq!(
            request.idempotency_key.as_deref(),
            Some(KEY.to_ascii_lowercase().as_str())
        );
    }
}

#[tokio::test]
async fn replay_of_an_expired_session_is_409_asking_for_a_new_key() {
    let app = spawn_app().await;
    let created = with_key(&app, Value::Null).await;
    assert_eq!(created.status(), 201);

    app.fake.expire_sessions();
    let replay = with_key(&app, Value::Null).await;

    let body = assert_problem(replay, 409).await;
    assert!(body["detail"].as_str().unwrap().contains("new"), "{body}");
    assert!(
        !body
            .to_string()
            .to_ascii_lowercase()
            .contains(&KEY.to_ascii_lowercase())
    );
}

#[tokio::test]
async fn reusing_a_key_for_a_different_request_is_409() {
    let app = spawn_app().await;
    let created = with_key(&app, Value::Null).await;
    assert_eq!(created.status(), 201);

    let other = with_key(&app, json!({"scenario": "tokenization"})).await;

    assert_problem(other, 409).await;
    assert_eq!(app.fake.sessions_created(), 1);
}
