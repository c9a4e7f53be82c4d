//! Tests of the fake against its spec slice, over real HTTP on loopback (real time, no pause).

use super::checks::{accepts_json, is_hyphenated_uuid_v4, lib_version_matches};
use super::problem::{ERROR_DOCS, PROBLEM_JSON, VALIDATION_DETAIL};
use super::sessions::format_expires_at;
use super::*;
use axum::http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::header::ACCEPT;
use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const LIB_VERSION: &str = "1.7.0.261457";

async fn start() -> FakePayroc {
    FakePayroc::start(FakePayrocConfig::default())
        .await
        .expect("fake starts")
}

fn client() -> Client {
    // Loopback must never go through a proxy from the environment.
    Client::builder().no_proxy().build().expect("client builds")
}

async fn authorize_with(client: &Client, fake: &FakePayroc, key: &str) -> reqwest::Response {
    let request = client.post(fake.identity_url()).header("x-api-key", key);
    request.send().await.expect("identity answers")
}

async fn identity_body(client: &Client, fake: &FakePayroc) -> Value {
    let response = authorize_with(client, fake, &fake.api_key()).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("identity sends JSON")
}

async fn bearer(client: &Client, fake: &FakePayroc) -> String {
    let body = identity_body(client, fake).await;
    body["access_token"].as_str().expect("a token").to_owned()
}

fn sessions_url(fake: &FakePayroc, terminal: &str) -> String {
    let api = fake.api_url();
    format!("{api}/processing-terminals/{terminal}/hosted-fields-sessions")
}

fn payment() -> Value {
    json!({"libVersion": LIB_VERSION, "scenario": "payment"})
}

fn new_key() -> String {
    Uuid::new_v4().to_string()
}

/// Bearer and key set, no body yet: each test adds or breaks one thing.
fn session_post(client: &Client, fake: &FakePayroc, token: &str, key: &str) -> RequestBuilder {
    let url = sessions_url(fake, "1234001");
    let request = client.post(url).bearer_auth(token);
    request.header("Idempotency-Key", key)
}

async fn send(request: RequestBuilder) -> reqwest::Response {
    request.send().await.expect("fake answers")
}

async fn create(client: &Client, fake: &FakePayroc, token: &str, key: &str) -> Value {
    let response = send(session_post(client, fake, token, key).json(&payment())).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("a session body")
}

/// Asserts the problem+json envelope and returns the body for further checks.
async fn problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
    let body: Value = response.json().await.expect("a problem body");
    assert_eq!(body["type"], format!("{ERROR_DOCS}{kind}"));
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

fn parameters(problem: &Value) -> Vec<&str> {
    let errors = problem["errors"].as_array().expect("an errors array");
    errors
        .iter()
        .filter_map(|e| e["parameter"].as_str())
        .collect()
}

fn expires_at(session: &Value) -> OffsetDateTime {
    let text = session["expiresAt"].as_str().expect("expiresAt");
    OffsetDateTime::parse(text, &Rfc3339).expect("expiresAt is RFC 3339")
}

// --- identity -------------------------------------------------------------------------

#[tokio::test]
async fn issues_a_bearer_token_for_the_right_api_key() {
    let (fake, client) = (start().await, client());

    let body = identity_body(&client, &fake).await;

    let token = body["access_token"].as_str().unwrap();
    assert!(token.len() >= 40);
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "service_a service_b");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 1));
}

#[tokio::test]
async fn rejects_a_wrong_api_key_with_401_problem() {
    let (fake, client) = (start().await, client());

    let response = authorize_with(&client, &fake, "wrong").await;

    problem(response, 401, "not-authorized").await;
    assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 0));
}

#[tokio::test]
async fn accepts_only_the_rotated_api_key() {
    let (fake, client) = (start().await, client());

    fake.set_api_key("rotated");

    problem(
        authorize_with(&client, &fake, "demo-api-key").await,
        401,
        "not-authorized",
    )
    .await;
    assert_eq!(
        authorize_with(&client, &fake, "rotated").await.status(),
        200
    );
    assert_eq!(fake.api_key(), "rotated");
}

#[tokio::test]
async fn status_fault_answers_that_status_with_retry_after_until_cleared() {
    let (fake, client) = (start().await, client());
    fake.set_identity_fault(IdentityFault::Status {
        status: 503,
        retry_after_secs: Some(7),
    });

    let response = authorize_with(&client, &fake, &fake.api_key()).await;

    assert_eq!(response.headers()[RETRY_AFTER], "7");
    problem(response, 503, "service-unavailable").await;
    fake.set_identity_fault(IdentityFault::None);
    assert_eq!(
        authorize_with(&client, &fake, &fake.api_key())
            .await
            .status(),
        200
    );
    assert_eq!((fake.identity_calls(), fake.tokens_issued()), (2, 1));
}

#[tokio::test]
async fn status_fault_500_is_an_api_error_without_retry_after() {
    let (fake, client) = (start().await, client());
    let fault = IdentityFault::Status {
        status: 500,
        retry_after_secs: None,
    };
    fake.set_identity_fault(fault);

    let response = authorize_with(&client, &fake, &fake.api_key()).await;

    assert!(response.headers().get(RETRY_AFTER).is_none());
    let body = problem(response, 500, "api-error").await;
    assert_eq!(body["errors"][0]["message"], "Service offline");
}

#[tokio::test]
async fn reject_key_fault_answers_401_even_for_the_right_key() {
    let (fake, client) = (start().await, client());
    fake.set_identity_fault(IdentityFault::RejectKey);

    let response = authorize_with(&client, &fake, &fake.api_key()).await;

    problem(response, 401, "not-authorized").await;
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn missing_token_fault_answers_200_without_access_token() {
    let (fake, client) = (start().await, client());
    fake.set_identity_fault(IdentityFault::MissingToken);

    let body = identity_body(&client, &fake).await;

    assert!(body.get("access_token").is_none());
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn zero_expiry_fault_answers_a_token_that_sessions_refuse() {
    let (fake, client) = (start().await, client());
    fake.set_identity_fault(IdentityFault::ZeroExpiry);

    let body = identity_body(&client, &fake).await;

    assert_eq!(body["expires_in"], 0);
    let token = body["access_token"].as_str().unwrap();
    let response = send(session_post(&client, &fake, token, &new_key()).json(&payment())).await;
    problem(response, 401, "not-authorized").await;
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_an_answer() {
    let (fake, client) = (start().await, client());
    fake.set_identity_fault(IdentityFault::Drop);

    let result = client
        .post(fake.identity_url())
        .header("x-api-key", fake.api_key())
        .send()
        .await;

    assert!(result.is_err(), "expected no answer, got {result:?}");
    assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 0));
}

#[tokio::test]
async fn identity_latency_delays_the_answer() {
    let (fake, client) = (start().await, client());
    fake.set_identity_latency(Duration::from_millis(150));

    let started = Instant::now();
    identity_body(&client, &fake).await;

    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn wrong_methods_get_405_and_unknown_paths_404() {
    let (fake, client) = (start().await, client());

    let get_identity = send(client.get(fake.identity_url())).await;
    assert_eq!(get_identity.headers()[ALLOW], "POST");
    problem(get_identity, 405, "method-not-allowed").await;
    let get_sessions = send(client.get(sessions_url(&fake, "1234001"))).await;
    problem(get_sessions, 405, "method-not-allowed").await;
    let unknown = send(client.post(format!("{}/nowhere", fake.api_url()))).await;
    problem(unknown, 404, "not-found").await;
    assert_eq!((fake.identity_calls(), fake.session_calls()), (0, 0));
}

// --- sessions: happy path -----------------------------------------------------------

#[tokio::test]
async fn creates_a_session_with_201_location_and_expiry() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;

    let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
    let response = send(request).await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let prefix = format!("{}/", sessions_url(&fake, "1234001"));
    let id = location
        .strip_prefix(&prefix)
        .expect("location under the path");
    assert!(Uuid::try_parse(id).is_ok());
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["processingTerminalId"], "1234001");
    let token = session["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    let ahead = expires_at(&session) - OffsetDateTime::now_utc();
    assert!((595..=600).contains(&ahead.whole_seconds()), "{ahead}");
    assert!(session["expiresAt"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(fake.sessions_created(), 1);
}

#[test]
fn formats_expires_at_with_milliseconds_and_numeric_offset() {
    let at = time::macros::datetime!(2025-07-02 15:30:00.123 UTC);

    assert_eq!(format_expires_at(at), "2025-07-02T15:30:00.123+00:00");
}

#[tokio::test]
async fn session_lifetime_sets_expires_at() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.set_session_lifetime(Duration::from_secs(60));

    let session = create(&client, &fake, &token, &new_key()).await;

    let ahead = expires_at(&session) - OffsetDateTime::now_utc();
    assert!((55..=60).contains(&ahead.whole_seconds()), "{ahead}");
}

#[tokio::test]
async fn accepts_unknown_members_and_a_secure_token_id() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let body = json!({"libVersion": "1.7.0-beta.1", "scenario": "tokenization",
        "secureTokenId": "MREF_abc", "extra": true});

    let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn records_each_request_with_decoded_terminal_and_status() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    // %31 is "1": the recorded terminal is the decoded segment.
    let url = sessions_url(&fake, "%31234001");

    let request = client
        .post(url)
        .bearer_auth(&token)
        .header("Idempotency-Key", &key);
    let response = send(request.header(ACCEPT, "application/json").json(&payment())).await;

    assert_eq!(response.status(), 201);
    let recorded = fake.session_requests();
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert_eq!(request.terminal, "1234001");
    assert_eq!(request.authorization, Some(format!("Bearer {token}")));
    assert_eq!(request.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.accept.as_deref(), Some("application/json"));
    assert_eq!(request.body, Some(payment()));
    assert_eq!(request.status, 201);
}

#[tokio::test]
async fn session_latency_delays_the_answer() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.set_session_latency(Duration::from_millis(150));

    let started = Instant::now();
    create(&client, &fake, &token, &new_key()).await;

    assert!(started.elapsed() >= Duration::from_millis(150));
}

// --- sessions: request checks --------------------------------------------------------

#[tokio::test]
async fn rejects_missing_unknown_and_revoked_bearer_tokens() {
    let (fake, client) = (start().await, client());
    let url = sessions_url(&fake, "1234001");
    let no_bearer = client.post(&url).header("Idempotency-Key", new_key());
    problem(
        send(no_bearer.json(&payment())).await,
        401,
        "not-authorized",
    )
    .await;
    let unknown = session_post(&client, &fake, "made-up", &new_key()).json(&payment());
    problem(send(unknown).await, 401, "not-authorized").await;
    let token = bearer(&client, &fake).await;

    fake.revoke_all_tokens();

    let revoked = session_post(&client, &fake, &token, &new_key()).json(&payment());
    problem(send(revoked).await, 401, "not-authorized").await;
    let fresh = bearer(&client, &fake).await;
    create(&client, &fake, &fresh, &new_key()).await;
}

#[tokio::test]
async fn rejects_an_expired_bearer_token() {
    let (fake, client) = (start().await, client());
    // Sub-second lifetimes still announce 1 s but expire on time, keeping this test short.
    fake.set_token_lifetime(Duration::from_millis(200));
    let body = identity_body(&client, &fake).await;
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap();

    tokio::time::sleep(Duration::from_millis(300)).await;

    let response = send(session_post(&client, &fake, token, &new_key()).json(&payment())).await;
    problem(response, 401, "not-authorized").await;
}

#[tokio::test]
async fn rejects_a_missing_idempotency_key() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let url = sessions_url(&fake, "1234001");

    let response = send(client.post(url).bearer_auth(token).json(&payment())).await;

    let body = problem(response, 400, "idempotency-key-missing").await;
    assert_eq!(body["title"], "Idempotency-Key header missing");
}

#[tokio::test]
async fn rejects_idempotency_keys_that_are_not_hyphenated_uuid_v4() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let v4 = Uuid::new_v4();
    let not_v4 = [
        "not-a-uuid".to_owned(),
        v4.simple().to_string(),
        v4.braced().to_string(),
        "c232ab00-9414-11ec-b3c8-9f68deced846".to_owned(), // version 1
        "8e03978e-40d5-43e8-7c93-6894a57f9324".to_owned(), // NCS variant
    ];

    for key in not_v4 {
        let request = session_post(&client, &fake, &token, &key).json(&payment());
        let body = problem(send(request).await, 400, "bad-request").await;
        assert_eq!(parameters(&body), ["Idempotency-Key"], "{key}");
    }
    assert_eq!(fake.sessions_created(), 0);
}

#[test]
fn uuid_check_takes_any_hex_case_of_a_v4() {
    assert!(is_hyphenated_uuid_v4(
        "8e03978e-40d5-43e8-bc93-6894a57f9324"
    ));
    assert!(is_hyphenated_uuid_v4(
        "8E03978E-40D5-43E8-BC93-6894A57F9324"
    ));
    assert!(!is_hyphenated_uuid_v4(
        "8e03978e-40d5-53e8-bc93-6894a57f9324"
    ));
    assert!(!is_hyphenated_uuid_v4(
        "8e03978e40d5-43e8-bc93-6894a57f9324-"
    ));
}

#[tokio::test]
async fn rejects_a_non_json_content_type_with_415() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let request = session_post(&client, &fake, &token, &new_key())
        .header(CONTENT_TYPE, "text/plain")
        .body(payment().to_string());

    problem(send(request).await, 415, "unsupported-media-type").await;

    let with_charset = session_post(&client, &fake, &token, &new_key())
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(payment().to_string());
    assert_eq!(send(with_charset).await.status(), 201);
}

#[tokio::test]
async fn rejects_an_accept_without_json_with_406() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let request = session_post(&client, &fake, &token, &new_key()).json(&payment());

    let response = send(request.header(ACCEPT, "text/html")).await;

    problem(response, 406, "not-acceptable").await;
}

#[test]
fn accept_check_honours_wildcards_and_zero_quality() {
    assert!(accepts_json("*/*"));
    assert!(accepts_json("text/html, application/*;q=0.5"));
    assert!(accepts_json("application/problem+json"));
    assert!(accepts_json("APPLICATION/JSON; charset=utf-8"));
    assert!(!accepts_json("text/html"));
    assert!(!accepts_json("application/json;q=0, text/plain"));
    assert!(!accepts_json("application/xml"));
}

#[tokio::test]
async fn lists_every_body_violation_in_errors() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let body = json!({"scenario": "refund", "secureTokenId": "x".repeat(201)});

    let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

    let problem = problem(response, 400, "bad-request").await;
    assert_eq!(problem["detail"], VALIDATION_DETAIL);
    let parameters = parameters(&problem);
    assert_eq!(parameters, ["libVersion", "scenario", "secureTokenId"]);
    for error in problem["errors"].as_array().unwrap() {
        assert!(error["detail"].is_string() && error["message"].is_string());
    }
}

#[tokio::test]
async fn rejects_a_bad_lib_version_and_an_empty_secure_token_id() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let body = json!({"libVersion": "abc", "scenario": "payment", "secureTokenId": ""});

    let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

    let problem = problem(response, 400, "bad-request").await;
    assert_eq!(parameters(&problem), ["libVersion", "secureTokenId"]);
}

#[tokio::test]
async fn rejects_malformed_json_and_non_objects_with_400() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;

    for body in ["{\"libVersion\":", "[1, 2]", ""] {
        let request = session_post(&client, &fake, &token, &new_key())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let problem = problem(send(request).await, 400, "bad-request").await;
        assert_eq!(parameters(&problem), ["body"], "{body:?}");
    }
}

#[test]
fn lib_version_check_matches_the_spec_pattern() {
    let good = [
        "1.7.0.261457",
        "1.7.0.261471",
        "12.34.56.7",
        "1.1.0-beta.123456",
    ];
    // The spec's dots are unescaped, so any separator the regex allows is allowed.
    let also_good = ["1x7y0z261457", "1.7.0-beta_9", "1.7.0-beta-9"];
    let bad = [
        "abc",
        "1.7.0",
        "123.7.0.1",
        "1.7.0.",
        "1.7.0.26a",
        "1.7.0-alpha.1",
    ];
    let bad_too = ["1\n7.0.1", " 1.7.0.1", "1.7.0.1\n"];

    for version in good.iter().chain(&also_good) {
        assert!(lib_version_matches(version), "{version:?} should match");
    }
    for version in bad.iter().chain(&bad_too) {
        assert!(
            !lib_version_matches(version),
            "{version:?} should not match"
        );
    }
}

#[tokio::test]
async fn rejects_an_unknown_terminal_with_403() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;

    for terminal in ["9999999", "123", &"1".repeat(51)] {
        let url = sessions_url(&fake, terminal);
        let request = client.post(&url).bearer_auth(&token);
        let request = request
            .header("Idempotency-Key", new_key())
            .json(&payment());
        let body = problem(send(request).await, 403, "forbidden").await;
        assert_eq!(body["instance"], url);
        assert_eq!(body["resource"], "processingTerminal");
    }
    assert_eq!(fake.sessions_created(), 0);
}

// --- sessions: idempotency -----------------------------------------------------------

#[tokio::test]
async fn replays_same_key_and_body_with_same_session() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    let first = send(session_post(&client, &fake, &token, &key).json(&payment())).await;
    let first_location = first.headers()[LOCATION].clone();
    let first: Value = first.json().await.unwrap();

    let again = send(session_post(&client, &fake, &token, &key).json(&payment())).await;

    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()[LOCATION], first_location);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!((fake.session_calls(), fake.sessions_created()), (2, 1));
}

#[tokio::test]
async fn rejects_a_reused_key_with_another_body_or_terminal_with_409() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    create(&client, &fake, &token, &key).await;
    let tokenization = json!({"libVersion": LIB_VERSION, "scenario": "tokenization"});

    let other_body = session_post(&client, &fake, &token, &key).json(&tokenization);
    let body = problem(send(other_body).await, 409, "idempotency-key-in-use").await;

    assert_eq!(body["title"], "Idempotency-Key in use");
    let detail = "'Idempotency-Key' is already in use against a different request";
    assert_eq!(body["detail"], detail);
    let other_terminal = client
        .post(sessions_url(&fake, "1234002"))
        .bearer_auth(&token);
    let other_terminal = other_terminal
        .header("Idempotency-Key", &key)
        .json(&payment());
    problem(send(other_terminal).await, 409, "idempotency-key-in-use").await;
    assert_eq!(fake.sessions_created(), 1);
}

#[tokio::test]
async fn expired_sessions_replay_with_a_past_expiry() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    let first = create(&client, &fake, &token, &key).await;

    fake.expire_sessions();

    let replay = create(&client, &fake, &token, &key).await;
    assert_eq!(replay["token"], first["token"]);
    assert!(expires_at(&replay) < OffsetDateTime::now_utc());
    assert_eq!(fake.sessions_created(), 1);
}

// --- sessions: injected faults --------------------------------------------------------

#[tokio::test]
async fn failed_sessions_come_first_and_store_nothing() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    fake.fail_next_sessions(2, 500);

    // Even an unauthenticated request gets the injected failure.
    let url = sessions_url(&fake, "1234001");
    let anonymous = client
        .post(url)
        .header("Idempotency-Key", &key)
        .json(&payment());
    let body = problem(send(anonymous).await, 500, "api-error").await;
    assert_eq!(body["errors"][0]["message"], "Service offline");
    let request = session_post(&client, &fake, &token, &key).json(&payment());
    problem(send(request).await, 500, "api-error").await;

    create(&client, &fake, &token, &key).await;
    assert_eq!((fake.session_calls(), fake.sessions_created()), (3, 1));
    let statuses: Vec<u16> = fake.session_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 201]);
}

#[tokio::test]
async fn failed_sessions_use_a_type_named_after_other_statuses() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    fake.fail_next_sessions(1, 503);

    let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
    let body = problem(send(request).await, 503, "service-unavailable").await;

    assert_eq!(body["title"], "Service unavailable");
}

#[tokio::test]
async fn dropped_answer_still_creates_the_session_a_replay_returns() {
    let (fake, client) = (start().await, client());
    let token = bearer(&client, &fake).await;
    let key = new_key();
    fake.drop_next_sessions(1);

    let request = session_post(&client, &fake, &token, &key).json(&payment());
    let response = send(request).await;

    // The 201 head arrives, then the connection dies mid-body.
    assert_eq!(response.status(), 201);
    let lost = response.text().await;
    assert!(lost.is_err(), "expected a broken body, got {lost:?}");
    assert_eq!(fake.sessions_created(), 1);
    let replay = create(&client, &fake, &token, &key).await;
    assert_eq!(replay["processingTerminalId"], "1234001");
    assert_eq!(fake.sessions_created(), 1);
    let statuses: Vec<u16> = fake.session_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 201]);
}

// --- lifecycle -----------------------------------------------------------------------

async fn refuses_connections(addr: SocketAddr) -> bool {
    // The server task notices the signal asynchronously; give it a moment.
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn shutdown_stops_serving_and_is_idempotent() {
    let fake = start().await;

    fake.shutdown();
    fake.shutdown();

    assert!(refuses_connections(fake.addr()).await);
}

#[tokio::test]
async fn dropping_every_handle_stops_serving() {
    let fake = start().await;
    let addr = fake.addr();
    let copy = fake.clone();

    drop(fake);
    drop(copy);

    assert!(refuses_connections(addr).await);
}

#[test]
fn debug_output_hides_the_api_key() {
    let config = FakePayrocConfig {
        api_key: "super-secret-key".to_owned(),
        ..FakePayrocConfig::default()
    };

    assert!(!format!("{config:?}").contains("super-secret-key"));
}

mod accounts;
mod apple_pay;
mod oversized;
mod payments_access;
mod payments_create;
mod payments_faults;
mod payments_kit;
mod payments_list;
mod payments_refund;
