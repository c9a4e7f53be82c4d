//! Graceful shutdown: unready at once, in-flight requests finish, the refresher stops.

use std::time::Duration;

use hosted_fields_broker::fake_payroc::FakePayrocConfig;
use serde_json::Value;

use crate::helpers::{Options, eventually, spawn_app_with};

#[tokio::test]
async fn shutdown_mid_request_finishes_it_and_turns_unready_first() {
    let mut app = spawn_app_with(Options {
        settings: Box::new(|raw| raw.server.pre_drain_delay_ms = 300),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app.fake.set_session_latency(Duration::from_millis(800));
    let in_flight = tokio::spawn(app.session_request(Value::Null).send());
    eventually(Duration::from_secs(2), || async {
        app.fake.session_calls() == 1
    })
    .await;

    app.trigger_shutdown();

    // During the pre-drain delay the listener still answers, but readiness says no.
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201, "the in-flight request completed");
    app.stop().await.expect("clean exit");
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn refresher_stops_with_the_app() {
    // One-second tokens: a live refresher fetches again within a second.
    let mut app = spawn_app_with(Options {
        fake: FakePayrocConfig {
            token_lifetime: Duration::from_secs(1),
            ..FakePayrocConfig::default()
        },
        ..Options::default()
    })
    .await;
    eventually(Duration::from_secs(3), || async {
        app.fake.tokens_issued() >= 2
    })
    .await;

    app.stop().await.unwrap();
    let calls = app.fake.identity_calls();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(
        app.fake.identity_calls(),
        calls,
        "no identity call after shutdown"
    );
}
