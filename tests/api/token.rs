//! Bearer token behaviour seen from outside: cold bursts, proactive refresh, identity outages,
//! rejected keys and nonsense answers.

use std::time::Duration;

use hosted_fields_broker::fake_payroc::{FakePayrocConfig, IdentityFault};
use serde_json::Value;

use crate::helpers::{Options, assert_problem, eventually, spawn_app_with};

fn short_tokens(secs: u64) -> Options {
    Options {
        fake: FakePayrocConfig {
            token_lifetime: Duration::from_secs(secs),
            ..FakePayrocConfig::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn cold_start_burst_of_200_requests_makes_one_identity_call() {
    let app = spawn_app_with(Options {
        settings: Box::new(|raw| raw.payroc.deadline_ms = 10_000),
        ..Options::default()
    })
    .await;
    app.fake.set_identity_latency(Duration::from_millis(300));

    let responses =
        futures_util::future::join_all((0..200).map(|_| app.post_session(Value::Null))).await;

    assert!(responses.iter().all(|r| r.status() == 201));
    assert_eq!(app.fake.identity_calls(), 1);
}

#[tokio::test]
async fn proactive_refresh_under_steady_traffic_fails_no_request() {
    let app = spawn_app_with(short_tokens(2)).await;
    app.wait_ready().await;

    // Three token lifetimes of steady traffic.
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut sent = 0;
    while tokio::time::Instant::now() < until {
        let response = app.post_session(Value::Null).await;
        assert_eq!(response.status(), 201, "request {sent} failed");
        sent += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    assert!(app.fake.tokens_issued() >= 3, "refreshed ahead of expiry");
    let rejected = app
        .fake
        .session_requests()
        .iter()
        .filter(|r| r.status == 401)
        .count();
    assert_eq!(rejected, 0, "no request ever used an expired token");
}

#[tokio::test]
async fn identity_outage_serves_until_expiry_then_503_at_once_and_recovers() {
    let app = spawn_app_with(short_tokens(2)).await;
    app.wait_ready().await;
    app.fake.set_identity_fault(IdentityFault::Status {
        status: 503,
        retry_after_secs: None,
    });

    // Still served from the held token.
    assert_eq!(app.post_session(Value::Null).await.status(), 201);

    // Once the token is no longer usable: an immediate 503 with Retry-After.
    eventually(Duration::from_secs(4), || async {
        app.post_session(Value::Null).await.status() == 503
    })
    .await;
    let started = std::time::Instant::now();
    let response = app.post_session(Value::Null).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "failed fast, not at the deadline"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503).await;
    let ready = app.get("/readyz").await;
    assert_eq!(
        ready.status(),
        200,
        "a later outage does not flip readiness"
    );
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["token"]["state"], "unavailable");

    app.fake.set_identity_fault(IdentityFault::None);
    eventually(Duration::from_secs(3), || async {
        app.post_session(Value::Null).await.status() == 201
    })
    .await;
}

fn identity_fault_from_the_start(fault: IdentityFault) -> Options {
    Options {
        prepare: Box::new(move |fake| fake.set_identity_fault(fault)),
        ..Options::default()
    }
}

#[tokio::test]
async fn rejected_api_key_is_503_unready_and_the_process_stays_up() {
    let app = spawn_app_with(identity_fault_from_the_start(IdentityFault::RejectKey)).await;
    eventually(Duration::from_secs(2), || async {
        app.fake.identity_calls() >= 1
    })
    .await;

    let response = app.post_session(Value::Null).await;

    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503).await;
    let ready = app.get("/readyz").await;
    let body = assert_problem(ready, 503).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("yet: key rejected (token: api-key-rejected)"),
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("401") && !text.contains("nauthorized") && !text.contains("upstream"),
        "no upstream message in a public body: {text}"
    );
    assert_eq!(app.fake.session_calls(), 0);

    // Retried (slowly) and healed once the key is accepted again.
    app.fake.set_identity_fault(IdentityFault::None);
    app.wait_ready().await;
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
}

#[tokio::test]
async fn identity_answers_without_a_usable_token_are_never_cached() {
    for fault in [IdentityFault::MissingToken, IdentityFault::ZeroExpiry] {
        let app = spawn_app_with(identity_fault_from_the_start(fault.clone())).await;
        eventually(Duration::from_secs(2), || async {
            app.fake.identity_calls() >= 2
        })
        .await;

        assert_problem(app.post_session(Value::Null).await, 503).await;
        assert_eq!(
            app.fake.session_calls(),
            0,
            "{fault:?}: nothing was cached to call Payroc with"
        );

        app.fake.set_identity_fault(IdentityFault::None);
        app.wait_ready().await;
        assert_eq!(app.post_session(Value::Null).await.status(), 201);
    }
}

#[tokio::test]
async fn api_key_file_is_reread_so_a_rotated_secret_heals() {
    let path = std::env::temp_dir().join(format!("hfb-test-key-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, "wrong-key\n").unwrap();
    let file = path.clone();
    let app = spawn_app_with(Options {
        settings: Box::new(move |raw| {
            raw.payroc.api_key = None;
            raw.payroc.api_key_file = Some(file);
        }),
        ..Options::default()
    })
    .await;
    eventually(Duration::from_secs(2), || async {
        app.fake.identity_calls() >= 1
    })
    .await;
    assert_problem(app.post_session(Value::Null).await, 503).await;

    std::fs::write(&path, format!("{}\n", app.fake.api_key())).unwrap();

    app.wait_ready().await;
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    std::fs::remove_file(path).unwrap();
}

/// `/readyz`'s token report (the broker has had a token, so it answers 200).
async fn token_report(app: &crate::helpers::TestApp) -> Value {
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    ready["token"].clone()
}

#[tokio::test]
async fn a_missing_or_invalid_key_file_is_key_unavailable_and_heals_within_seconds() {
    let path = std::env::temp_dir().join(format!("hfb-test-key-{}", uuid::Uuid::new_v4()));
    let (file, written) = (path.clone(), path.clone());
    let app = spawn_app_with(Options {
        fake: FakePayrocConfig {
            token_lifetime: Duration::from_secs(2),
            ..FakePayrocConfig::default()
        },
        settings: Box::new(move |raw| {
            raw.payroc.api_key = None;
            raw.payroc.api_key_file = Some(file);
            // A rejection would wait a minute: healing within seconds shows it is not one.
            raw.token.rejected_retry_ms = 60_000;
        }),
        prepare: Box::new(move |fake| {
            std::fs::write(&written, format!("{}\n", fake.api_key())).unwrap();
        }),
    })
    .await;
    app.wait_ready().await;
    let file_name = path.file_name().unwrap().to_str().unwrap().to_owned();

    std::fs::remove_file(&path).unwrap();
    // The refresh due at ~1.5 s fails without calling identity.
    let calls = app.fake.identity_calls();
    eventually(Duration::from_secs(4), || async {
        token_report(&app).await["lastError"] == "key unavailable"
    })
    .await;
    let report = token_report(&app).await;
    assert!(!report.to_string().contains(&file_name), "{report}");
    assert_ne!(report["state"], "api-key-rejected", "{report}");

    // A key that became invalid is refused the same way, and never sent: two more fetches
    // fail without an identity call, the second after the file was surely re-read.
    std::fs::write(&path, "half-a-key\nother-half\n").unwrap();
    let unavailable = key_unavailable_count(&app).await;
    eventually(Duration::from_secs(3), || async {
        key_unavailable_count(&app).await >= unavailable + 2
    })
    .await;
    assert_eq!(token_report(&app).await["lastError"], "key unavailable");
    assert_eq!(
        app.fake.identity_calls(),
        calls,
        "identity was never called"
    );
    eventually(Duration::from_secs(2), || async {
        app.post_session(Value::Null).await.status() == 503
    })
    .await;

    std::fs::write(&path, format!("{}\n", app.fake.api_key())).unwrap();
    eventually(Duration::from_secs(3), || async {
        app.post_session(Value::Null).await.status() == 201
    })
    .await;
    assert!(token_report(&app).await["lastError"].is_null());
    std::fs::remove_file(path).unwrap();
}

/// Token fetches that failed because the key could not be read, from `/metrics`.
async fn key_unavailable_count(app: &crate::helpers::TestApp) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"broker_token_refreshes_total{account="default",outcome="key_unavailable"} "#,
            )
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
