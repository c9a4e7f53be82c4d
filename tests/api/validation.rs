//! Bad input gets a clear problem+json error and never reaches Payroc.

use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, TestApp, assert_problem, spawn_app};

/// Sends a raw session request and checks status, problem shape, and that Payroc saw nothing.
async fn refused(app: &TestApp, request: reqwest::RequestBuilder, status: u16) -> Value {
    let body = assert_problem(request.send().await.unwrap(), status).await;
    assert_eq!(
        app.fake.session_calls(),
        0,
        "invalid input reached Payroc: {body}"
    );
    body
}

fn raw(app: &TestApp, content_type: &str, body: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/hosted-fields/session"))
        .header("content-type", content_type)
        .body(body.to_owned())
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    refused(&app, raw(&app, "application/json", "{\"scenario\": "), 400).await;
    refused(&app, raw(&app, "application/json", "[1, 2]"), 400).await;
}

#[tokio::test]
async fn unknown_member_is_400_naming_it() {
    let app = spawn_app().await;
    let body = refused(
        &app,
        app.session_request(json!({"scenerio": "tokenization"})),
        400,
    )
    .await;
    assert_eq!(body["errors"][0]["parameter"], "scenerio");
}

#[tokio::test]
async fn unknown_scenario_and_bad_secure_token_ids_are_400() {
    let app = spawn_app().await;
    let body = refused(
        &app,
        app.session_request(json!({"scenario": "refund"})),
        400,
    )
    .await;
    assert_eq!(body["errors"][0]["parameter"], "scenario");
    for bad in [json!(""), json!("x".repeat(201)), json!(42)] {
        let request = app
            .session_request(json!({"secureTokenId": bad}))
            .bearer_auth(CALLER_KEY);
        refused(&app, request, 400).await;
    }
}

#[tokio::test]
async fn bad_idempotency_keys_are_400() {
    let app = spawn_app().await;
    for bad in [
        "{8e03978e-40d5-43e8-bc93-6894a57f9324}",
        "urn:uuid:8e03978e-40d5-43e8-bc93-6894a57f9324",
        "8e03978e40d543e8bc936894a57f9324",
        "8e03978e-40d5-13e8-bc93-6894a57f9324",
        "hello",
    ] {
        let body = refused(
            &app,
            app.session_request(Value::Null)
                .header("idempotency-key", bad),
            400,
        )
        .await;
        assert!(
            !body.to_string().contains(bad),
            "the key is not echoed back"
        );
    }
}

#[tokio::test]
async fn wrong_or_malformed_caller_key_is_401_not_anonymous() {
    let app = spawn_app().await;
    refused(
        &app,
        app.session_request(Value::Null).bearer_auth("not-the-key"),
        401,
    )
    .await;
    refused(
        &app,
        app.session_request(Value::Null)
            .header("authorization", "Basic Zm9vOmJhcg=="),
        401,
    )
    .await;
    refused(
        &app,
        app.session_request(Value::Null)
            .header("authorization", "Bearer"),
        401,
    )
    .await;
}

#[tokio::test]
async fn terminals_off_the_allow_list_are_403_including_path_injection() {
    let app = spawn_app().await;
    for terminal in [
        "9999999",
        "../1234001",
        "1234001/../../authorize",
        "1234001?x=1",
        "%2e%2e%2f1234001",
        "1234001 ",
        "",
    ] {
        refused(
            &app,
            app.session_request(json!({"processingTerminalId": terminal})),
            403,
        )
        .await;
    }
}

#[tokio::test]
async fn secure_token_id_from_a_browser_is_403() {
    let app = spawn_app().await;
    refused(
        &app,
        app.session_request(json!({"secureTokenId": "MREF_1"})),
        403,
    )
    .await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let big = format!(
        "{{\"scenario\": \"payment\", \"pad\": \"{}\"}}",
        "x".repeat(9 * 1024)
    );
    refused(&app, raw(&app, "application/json", &big), 413).await;
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = spawn_app().await;
    refused(&app, raw(&app, "text/plain", "{}"), 415).await;
    refused(
        &app,
        raw(
            &app,
            "application/x-www-form-urlencoded",
            "scenario=payment",
        ),
        415,
    )
    .await;
    let no_type = app
        .client
        .post(app.url("/hosted-fields/session"))
        .body("{}");
    refused(&app, no_type, 415).await;
}

#[tokio::test]
async fn unknown_route_is_404_problem() {
    let app = spawn_app().await;
    assert_problem(app.get("/nope").await, 404).await;
}

#[tokio::test]
async fn wrong_method_is_405_problem_with_allow() {
    let app = spawn_app().await;
    let response = app.get("/hosted-fields/session").await;
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_problem(response, 405).await;
    assert_eq!(allow.as_deref(), Some("POST"));
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_problem(response, 405).await;
}
