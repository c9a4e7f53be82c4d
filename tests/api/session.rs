//! The happy paths of `POST /hosted-fields/session` and the exact upstream call they make.

use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, assert_problem, spawn_app};

#[tokio::test]
async fn empty_body_creates_a_payment_session_for_the_default_terminal() {
    let app = spawn_app().await;

    let response = app.post_session(Value::Null).await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["processingTerminalId"], "1234001");
    assert_eq!(body["scenario"], "payment");
    assert_eq!(body["libVersion"], "1.7.0.261457");
    assert_eq!(
        body["scriptUrl"],
        "https://cdn.uat.payroc.com/js/hosted-fields/hosted-fields-1.7.0.261457.js"
    );
    assert_eq!(
        body["scriptIntegrity"],
        "sha384-m1A0nfFYa8sAfpDN0d60o4ztd/aCPC2xDVaOT31Urrmn4xypfHqgHQMayZeIK1PM"
    );
    assert_eq!(body["sessionToken"].as_str().unwrap().len(), 32);
    assert!(body["expiresAt"].is_string());
    // The fake's sessions live 600 s: a fresh one has 599 or 600 whole seconds left.
    let left = body["expiresInSeconds"].as_u64().unwrap();
    assert!((598..=600).contains(&left), "{left}");
}

#[tokio::test]
async fn upstream_call_has_exactly_the_headers_and_body_of_the_openapi_slice() {
    let app = spawn_app().await;

    let response = app
        .post_session(json!({"processingTerminalId": "1234002", "scenario": "payment"}))
        .await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let requests = app.fake.session_requests();
    assert_eq!(requests.len(), 1);
    let upstream = &requests[0];
    assert_eq!(upstream.terminal, "1234002");
    assert!(
        upstream
            .authorization
            .as_deref()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(upstream.content_type.as_deref(), Some("application/json"));
    let key = upstream.idempotency_key.as_deref().unwrap();
    let uuid = uuid::Uuid::parse_str(key).unwrap();
    assert_eq!((uuid.get_version_num(), key.len()), (4, 36));
    assert_eq!(
        upstream.body,
        Some(json!({"libVersion": "1.7.0.261457", "scenario": "payment"}))
    );
    assert_eq!(body["processingTerminalId"], "1234002");
}

#[tokio::test]
async fn empty_object_and_json_content_type_with_empty_body_mean_defaults() {
    let app = spawn_app().await;
    let empty_json = app
        .session_request(Value::Null)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty_json.status(), 201);
    assert_eq!(app.post_session(json!({})).await.status(), 201);
    assert_eq!(
        app.post_session(json!({"scenario": null})).await.status(),
        201
    );
}

#[tokio::test]
async fn internal_caller_may_create_a_tokenization_session_for_a_saved_card() {
    let app = spawn_app().await;

    let response = app
        .session_request(json!({"scenario": "tokenization", "secureTokenId": "MREF_abc1de23"}))
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scenario"], "tokenization");
    assert_eq!(
        app.fake.session_requests()[0].body,
        Some(
            json!({"libVersion": "1.7.0.261457", "scenario": "tokenization", "secureTokenId": "MREF_abc1de23"})
        )
    );
}

#[tokio::test]
async fn browser_may_tokenize_but_not_send_a_secure_token_id() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_session(json!({"scenario": "tokenization"}))
            .await
            .status(),
        201
    );

    let response = app
        .post_session(json!({"scenario": "tokenization", "secureTokenId": "MREF_abc1de23"}))
        .await;

    assert_problem(response, 403).await;
    assert_eq!(
        app.fake.session_calls(),
        1,
        "the refused request never reached Payroc"
    );
}

#[tokio::test]
async fn each_request_without_a_key_gets_its_own_fresh_session() {
    let app = spawn_app().await;
    let first: Value = app.post_session(Value::Null).await.json().await.unwrap();
    let second: Value = app.post_session(Value::Null).await.json().await.unwrap();
    assert_ne!(first["sessionToken"], second["sessionToken"]);
    let keys: Vec<_> = app
        .fake
        .session_requests()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert_eq!(app.fake.sessions_created(), 2);
}

#[tokio::test]
async fn health_and_readiness_answer_once_a_token_is_held() {
    let app = spawn_app().await;
    app.wait_ready().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["token"]["state"], "valid");
}
