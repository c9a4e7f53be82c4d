//! The fleet-wide rate limit against a real `redis-server`: two brokers sharing one Redis admit
//! together what one limit allows; Redis stopped, frozen or refusing never causes a 5xx nor
//! adds more than the timeout, the failure mode decides meanwhile, and the broker goes back to
//! Redis by itself.

use std::time::{Duration, Instant};

use hosted_fields_broker::config::{RawSettings, RedisFailure};
use serde_json::Value;

use crate::helpers::{Options, TestApp, eventually, spawn_app_with};
use crate::redis_helpers::RedisServer;

/// One request a second, bursts of 5: a test's quick requests all come out of the burst.
async fn broker(redis: &RedisServer, failure: RedisFailure) -> TestApp {
    let url = redis.url();
    let app = spawn_app_with(Options {
        settings: Box::new(move |raw: &mut RawSettings| {
            raw.rate_limit.per_second = 1;
            raw.rate_limit.burst = 5;
            raw.rate_limit.redis_url = Some(url);
            raw.rate_limit.redis_failure = failure;
            raw.rate_limit.redis_timeout_ms = 50;
            raw.server.metrics_listen = None;
        }),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app
}

async fn redis_up(app: &TestApp) -> bool {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics.contains("broker_rate_limit_redis_up 1")
}

async fn redis_state(app: &TestApp) -> Value {
    let status: Value = app
        .client
        .get(app.url("/status"))
        .bearer_auth(crate::helpers::CALLER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["rateLimit"].clone()
}

/// Statuses of `n` anonymous session requests, each checked to take less than `within`.
async fn statuses(app: &TestApp, n: usize, within: Duration) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let response = app.post_session(Value::Null).await;
        assert!(started.elapsed() < within, "took {:?}", started.elapsed());
        statuses.push(response.status().as_u16());
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn two_brokers_sharing_redis_admit_together_what_one_limit_allows() {
    let redis = RedisServer::start();
    let (a, b) = (
        broker(&redis, RedisFailure::Local).await,
        broker(&redis, RedisFailure::Local).await,
    );
    eventually(Duration::from_secs(5), || async {
        redis_up(&a).await && redis_up(&b).await
    })
    .await;

    let mut seen = Vec::new();
    for app in [&a, &b, &a, &b, &a, &b, &a, &b, &a, &b] {
        let response = app.post_session(Value::Null).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        seen.push(response.status().as_u16());
    }

    assert_eq!(count(&seen, 201), 5, "one burst for the fleet: {seen:?}");
    assert_eq!(count(&seen, 429), 5, "{seen:?}");
    assert_eq!(
        redis.limit_keys(),
        vec!["hosted-fields-broker:rate-limit:127.0.0.1"]
    );
    assert_eq!(redis_state(&a).await["redis"]["state"], "up");
}

#[tokio::test]
async fn a_stopped_redis_falls_back_to_the_local_limit_and_the_broker_comes_back_to_it() {
    let mut redis = RedisServer::start();
    let app = broker(&redis, RedisFailure::Local).await;
    eventually(Duration::from_secs(5), || async { redis_up(&app).await }).await;

    redis.stop();
    let seen = statuses(&app, 8, Duration::from_millis(500)).await;

    // The replica's own bucket (5) decides: never a 5xx.
    assert_eq!((count(&seen, 201), count(&seen, 429)), (5, 3), "{seen:?}");
    assert!(!redis_up(&app).await);
    let state = redis_state(&app).await;
    assert_eq!(state["redis"]["state"], "down", "{state}");
    assert!(state["redis"]["lastError"].is_string(), "{state}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"broker_rate_limit_fallback_total{mode="local"}"#));

    redis.restart();
    eventually(Duration::from_secs(10), || async {
        app.post_session(Value::Null).await;
        redis_up(&app).await
    })
    .await;
    assert!(
        !redis.limit_keys().is_empty(),
        "decisions are Redis's again"
    );
}

#[tokio::test]
async fn a_frozen_redis_adds_at_most_the_timeout_to_a_request() {
    let redis = RedisServer::start();
    let app = broker(&redis, RedisFailure::Open).await;
    eventually(Duration::from_secs(5), || async { redis_up(&app).await }).await;

    redis.freeze();
    let seen = statuses(&app, 12, Duration::from_millis(300)).await;

    // Open: no limit while Redis cannot answer, so all twelve pass (the burst is five).
    assert_eq!(count(&seen, 201), 12, "{seen:?}");
    assert_eq!(redis_state(&app).await["redis"]["lastError"], "timed out");
    redis.thaw();
    eventually(Duration::from_secs(5), || async {
        app.post_session(Value::Null).await;
        redis_up(&app).await
    })
    .await;
}

#[tokio::test]
async fn closed_refuses_while_redis_is_away_and_never_answers_5xx() {
    let mut redis = RedisServer::start();
    let app = broker(&redis, RedisFailure::Closed).await;
    eventually(Duration::from_secs(5), || async { redis_up(&app).await }).await;

    redis.stop();
    let seen = statuses(&app, 4, Duration::from_millis(500)).await;

    assert_eq!(count(&seen, 429), 4, "{seen:?}");
}

#[tokio::test]
async fn a_redis_refusing_connections_at_start_up_delays_nothing_and_is_joined_later() {
    let mut redis = RedisServer::start();
    redis.stop();
    let started = Instant::now();
    let app = broker(&redis, RedisFailure::Local).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "start-up waited for Redis"
    );
    let seen = statuses(&app, 6, Duration::from_millis(500)).await;
    assert_eq!(
        (count(&seen, 201), count(&seen, 429)),
        (5, 1),
        "local limit: {seen:?}"
    );
    // Until a first connection, "connecting"; once an attempt has failed, "down".
    eventually(Duration::from_secs(5), || async {
        redis_state(&app).await["redis"]["state"] == "down"
    })
    .await;

    redis.restart();
    eventually(Duration::from_secs(10), || async {
        app.post_session(Value::Null).await;
        redis_up(&app).await
    })
    .await;
}
