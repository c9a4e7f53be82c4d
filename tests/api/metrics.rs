//! `/metrics` tells the truth: scraped after scripted sequences, the numbers moved as they should.

// Counter values are small whole numbers, exactly representable: comparing them is exact.
#![allow(clippy::float_cmp)]

use std::time::Duration;

use hosted_fields_broker::fake_payroc::IdentityFault;
use serde_json::Value;

use crate::helpers::{Options, TestApp, eventually, spawn_app, spawn_app_with};

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

/// The value of the series whose line starts with `series` (name plus labels, exactly).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sessions_retries_and_latency_are_counted() {
    let app = spawn_app().await;
    app.wait_ready().await;

    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    app.fake.fail_next_sessions(1, 503);
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    let refused = app
        .session_request(serde_json::json!({"processingTerminalId": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"broker_sessions_total{account="default",outcome="created",status="201"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"broker_sessions_total{account="",outcome="refused",status="403"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "broker_upstream_retries_total"), 1.0);
    let ok = r#"broker_upstream_request_duration_seconds_count{endpoint="create_session",status_class="2xx"}"#;
    let failed = r#"broker_upstream_request_duration_seconds_count{endpoint="create_session",status_class="5xx"}"#;
    assert_eq!((value(&text, ok), value(&text, failed)), (2.0, 1.0));
    assert!(text.contains(r#"broker_upstream_request_duration_seconds_bucket{endpoint="create_session",status_class="2xx",le="0.05"}"#));
    assert_eq!(
        value(
            &text,
            r#"broker_token_refreshes_total{account="default",outcome="success"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, "broker_session_requests_in_flight"), 0.0);
}

#[tokio::test]
async fn token_gauges_are_exact_when_scraped_and_follow_an_outage() {
    let app = spawn_app_with(Options {
        fake: hosted_fields_broker::fake_payroc::FakePayrocConfig {
            token_lifetime: Duration::from_secs(2),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, r#"broker_token_usable{account="default"}"#),
        1.0
    );
    let expires_in = value(
        &text,
        r#"broker_token_expires_in_seconds{account="default"}"#,
    );
    assert!(expires_in > 0.0 && expires_in <= 2.0, "{expires_in}");

    app.fake.set_identity_fault(IdentityFault::Status {
        status: 503,
        retry_after_secs: None,
    });
    eventually(Duration::from_secs(4), || async {
        value(
            &scrape(&app).await,
            r#"broker_token_usable{account="default"}"#,
        ) == 0.0
    })
    .await;

    let text = scrape(&app).await;
    assert!(
        value(
            &text,
            r#"broker_token_refreshes_total{account="default",outcome="transient_failure"}"#
        ) >= 1.0
    );
    assert_eq!(app.post_session(Value::Null).await.status(), 503);
    assert_eq!(
        value(
            &scrape(&app).await,
            r#"broker_sessions_total{account="default",outcome="failed",status="503"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn revocation_is_counted_as_a_401_replay() {
    let app = spawn_app().await;
    app.wait_ready().await;
    app.fake.revoke_all_tokens();
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    let text = scrape(&app).await;
    assert_eq!(value(&text, "broker_upstream_401_replays_total"), 1.0);
    assert_eq!(
        value(
            &text,
            r#"broker_token_refreshes_total{account="default",outcome="success"}"#
        ),
        2.0
    );
}

#[tokio::test]
async fn rejected_api_key_is_counted_as_rejected() {
    let app = spawn_app_with(Options {
        prepare: Box::new(|fake| fake.set_identity_fault(IdentityFault::RejectKey)),
        ..Options::default()
    })
    .await;
    eventually(Duration::from_secs(2), || async {
        app.fake.identity_calls() >= 1
    })
    .await;
    let text = scrape(&app).await;
    assert!(
        value(
            &text,
            r#"broker_token_refreshes_total{account="default",outcome="rejected"}"#
        ) >= 1.0
    );
    assert_eq!(
        value(&text, r#"broker_token_usable{account="default"}"#),
        0.0
    );
}

#[tokio::test]
async fn metrics_can_live_on_a_separate_admin_listener() {
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(Options {
        settings: Box::new(move |raw| {
            raw.server.metrics_listen = Some(format!("127.0.0.1:{admin_port}").parse().unwrap());
        }),
        ..Options::default()
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let admin = app
        .client
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert!(
        admin
            .text()
            .await
            .unwrap()
            .contains(r#"broker_token_usable{account="default"}"#)
    );
}

#[tokio::test]
async fn openapi_document_is_served() {
    let app = spawn_app().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/hosted-fields/session"]["post"]["responses"]["429"].is_object());
}
