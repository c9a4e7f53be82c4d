//! Against wiremock, where exact request matching is clearer: the precise wire format, and
//! redirects from Payroc never followed (a redirect would carry the API key elsewhere).

use hosted_fields_broker::{config::RawSettings, startup::Application};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, header, header_exists, method, path},
};

use crate::helpers::assert_problem;

const API_KEY: &str = "wiremock-api-key";

async fn broker_against(identity: &MockServer, api: &MockServer) -> (String, reqwest::Client) {
    let mut raw = RawSettings::default();
    raw.server.listen = "127.0.0.1:0".parse().unwrap();
    raw.payroc.identity_url = Some(format!("{}/authorize", identity.uri()));
    raw.payroc.api_url = Some(format!("{}/v1", api.uri()));
    raw.payroc.api_key = Some(SecretString::from(API_KEY.to_owned()));
    raw.payroc.terminals = vec!["1234001".into()];
    raw.payroc.retry_base_delay_ms = 10;
    raw.token.backoff_base_ms = 50;
    raw.token.backoff_cap_ms = 100;
    let app = Application::build(&raw.resolve(true).unwrap(), axum::Router::new())
        .await
        .unwrap();
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    (address, reqwest::Client::new())
}

fn token_answer() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "wiremock-bearer", "expires_in": 3600, "scope": "a b", "token_type": "Bearer"
    }))
}

#[tokio::test]
async fn wire_format_matches_the_openapi_slice_exactly() {
    let identity = MockServer::start().await;
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/authorize"))
        .and(header("x-api-key", API_KEY))
        .respond_with(token_answer())
        .expect(1)
        .mount(&identity)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/v1/processing-terminals/1234001/hosted-fields-sessions",
        ))
        .and(header("authorization", "Bearer wiremock-bearer"))
        .and(header("content-type", "application/json"))
        .and(header(
            "idempotency-key",
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
        ))
        .and(body_json(
            json!({"libVersion": "1.7.0.261457", "scenario": "payment"}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("location", "x")
                .set_body_json(json!({
                    "processingTerminalId": "1234001",
                    "token": "abcdef1234567890abcdef1234567890",
                    "expiresAt": "2999-07-02T15:30:00.000+02:00"
                })),
        )
        .expect(1)
        .mount(&api)
        .await;
    let (address, client) = broker_against(&identity, &api).await;

    let response = client
        .post(format!("{address}/hosted-fields/session"))
        .header("idempotency-key", "8E03978E-40D5-43E8-BC93-6894A57F9324")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["sessionToken"], "abcdef1234567890abcdef1234567890");
    assert_eq!(
        body["expiresAt"], "2999-07-02T15:30:00.000+02:00",
        "passed on verbatim"
    );
}

#[tokio::test]
async fn redirects_from_identity_and_the_api_are_never_followed() {
    let identity = MockServer::start().await;
    let api = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&identity)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&api)
        .await;
    let (address, client) = broker_against(&identity, &api).await;

    let response = client
        .post(format!("{address}/hosted-fields/session"))
        .send()
        .await
        .unwrap();

    assert_problem(response, 503).await;
    assert!(!identity.received_requests().await.unwrap().is_empty());
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the API key went nowhere else"
    );

    // Now identity works but the API redirects: still not followed, answered 502.
    identity.reset().await;
    Mock::given(method("POST"))
        .and(header_exists("x-api-key"))
        .respond_with(token_answer())
        .mount(&identity)
        .await;
    crate::helpers::eventually(std::time::Duration::from_secs(3), || async {
        client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let response = client
        .post(format!("{address}/hosted-fields/session"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 502).await;
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the Bearer token went nowhere else"
    );
}
