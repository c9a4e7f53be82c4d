//! The pass-through under failure: never a double charge (a POST without an Idempotency-Key
//! is sent once), safe requests retried within the budget and the deadline, a 401 healed once
//! with the same body and key, Payroc's own answers passed back, and shutdown letting a call
//! in flight finish. The fake counts what it received.

use std::time::Duration;

use hosted_fields_broker::fake_payroc::IdentityFault;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_problem, eventually};
use crate::proxy_helpers::{PAYMENTS_KEY, call, new_key, payment, spawn_proxy_app};
use crate::tenants_helpers::{ACME_KEY, Scratch};

/// A keyless payment POST (Payroc itself requires a key: it answers 400 if it gets one).
fn keyless(app: &crate::helpers::TestApp) -> reqwest::RequestBuilder {
    call(app, Method::POST, "/payments", PAYMENTS_KEY).json(&payment("ORD-1"))
}

fn keyed(app: &crate::helpers::TestApp, key: &str) -> reqwest::RequestBuilder {
    keyless(app).header("idempotency-key", key)
}

#[tokio::test]
async fn a_post_without_a_key_is_sent_once_whatever_happens() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;

    app.fake.drop_next_api_calls(1);
    let lost = keyless(&app).send().await.unwrap();
    let problem = assert_problem(lost, 502).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    assert_eq!(app.fake.api_calls(), 1);

    app.fake.refuse_next_api_calls(1);
    assert_problem(keyless(&app).send().await.unwrap(), 502).await;
    assert_eq!(app.fake.api_calls(), 2);

    for status in [502, 503, 504] {
        app.fake.fail_next_api_calls(1, status, None);
        let response = keyless(&app).send().await.unwrap();
        assert_eq!(response.status(), status, "Payroc's {status} passed back");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.payroc.com/")
        );
    }
    app.fake.fail_next_api_calls(1, 429, Some(1));
    let limited = keyless(&app).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(
        app.fake.api_calls(),
        6,
        "each keyless POST sent exactly once"
    );
}

#[tokio::test]
async fn a_keyed_post_whose_answer_was_lost_is_replayed_and_charges_once() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    app.fake.drop_next_api_calls(1);
    let key = new_key();

    let response = keyed(&app, &key).send().await.unwrap();

    assert_eq!(response.status(), 201);
    assert_eq!(app.fake.api_calls(), 2);
    assert_eq!(
        app.fake.payments_created(),
        1,
        "Payroc replayed the saved payment"
    );
    let requests = app.fake.api_requests();
    assert_eq!(requests[0].idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(requests[1].idempotency_key, requests[0].idempotency_key);
    assert_eq!(requests[1].body, requests[0].body);
}

#[tokio::test]
async fn safe_requests_retry_gateway_failures_within_the_budget_then_pass_the_last_back() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;

    app.fake.fail_next_api_calls(2, 503, None);
    let listed = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(app.fake.api_calls(), 3);

    app.fake.fail_next_api_calls(5, 502, None);
    let failing = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(failing.status(), 502);
    let problem: Value = failing.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.payroc.com/"),
        "Payroc's own: {problem}"
    );
    assert_eq!(app.fake.api_calls(), 6, "3 attempts (the default budget)");

    app.fake.fail_next_api_calls(1, 500, None);
    let broken = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 500, "a 500 is passed back");
    assert_eq!(app.fake.api_calls(), 7, "and never retried");
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_deadline_and_passed_back_beyond_it() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    app.fake.fail_next_api_calls(1, 429, Some(1));
    let started = std::time::Instant::now();

    let waited = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();

    assert_eq!(waited.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(app.fake.api_calls(), 2);

    app.fake.fail_next_api_calls(1, 503, Some(600));
    let started = std::time::Instant::now();
    let told = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(told.status(), 503);
    assert_eq!(told.headers()["retry-after"], "600");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "did not sit out the wait"
    );
    assert_eq!(app.fake.api_calls(), 3);
}

#[tokio::test]
async fn a_401_heals_once_with_the_same_body_and_key_and_a_second_is_502() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let identity_calls = app.fake.identity_calls_for(ACME_KEY);
    app.fake.revoke_tokens_for(ACME_KEY);
    let key = new_key();

    let healed = keyed(&app, &key).send().await.unwrap();

    assert_eq!(healed.status(), 201);
    assert_eq!(app.fake.identity_calls_for(ACME_KEY), identity_calls + 1);
    let requests = app.fake.api_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].status, 401);
    assert_eq!(requests[1].idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(requests[1].body, requests[0].body);
    assert_ne!(
        requests[1].authorization, requests[0].authorization,
        "a fresh token"
    );

    // A POST without a key heals too: Payroc did nothing with the refused token.
    app.fake.revoke_tokens_for(ACME_KEY);
    let keyless = keyless(&app).send().await.unwrap();
    assert_eq!(keyless.status(), 400, "Payroc's own answer after healing");
    assert_eq!(app.fake.api_calls(), 4);

    app.fake.fail_next_api_calls(2, 401, None);
    let refused = keyed(&app, &new_key()).send().await.unwrap();
    let problem = assert_problem(refused, 502).await;
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:hosted-fields-broker:")
    );
    assert_eq!(app.fake.api_calls(), 6, "healed once, not twice");
}

#[tokio::test]
async fn a_slow_payroc_is_cut_off_by_the_attempt_timeout_and_the_deadline() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |raw| {
        raw.proxy.request_timeout_ms = Some(300);
        raw.proxy.deadline_ms = Some(1_000);
    })
    .await;
    app.fake.set_api_latency(Duration::from_secs(3));
    let started = std::time::Instant::now();

    let read = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();

    assert_problem(read, 504).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let attempts = app.fake.api_calls();
    assert!(
        (2..=3).contains(&attempts),
        "a GET retries within the deadline: {attempts}"
    );
    let post = keyless(&app).send().await.unwrap();
    assert_problem(post, 504).await;
    assert_eq!(
        app.fake.api_calls(),
        attempts + 1,
        "a keyless POST times out once"
    );
}

#[tokio::test]
async fn no_token_for_the_account_is_a_503_at_once() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    app.fake
        .set_identity_fault_for(ACME_KEY, IdentityFault::RejectKey);
    app.fake.revoke_tokens_for(ACME_KEY);

    // The first call learns of the revocation (401), cannot heal, and says so.
    let response = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(response.status().as_u16(), 503 | 504),
        "{}",
        response.status()
    );
    let next = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 503);
    assert!(next.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn shutdown_lets_a_call_in_flight_finish() {
    let scratch = Scratch::new();
    let mut app = spawn_proxy_app(&scratch, |raw| raw.server.pre_drain_delay_ms = 100).await;
    app.fake.set_api_latency(Duration::from_millis(1_500));
    let in_flight = tokio::spawn(keyed(&app, &new_key()).send());
    eventually(Duration::from_secs(2), || async {
        app.fake.api_calls() == 1
    })
    .await;

    app.trigger_shutdown();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201, "the payment in flight completed");
    app.stop().await.expect("clean exit");
    assert_eq!(app.fake.payments_created(), 1);
}

#[tokio::test]
async fn hundreds_of_concurrent_calls_share_one_token() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let identity_calls = app.fake.identity_calls_for(ACME_KEY);

    let calls = (0..200).map(|_| call(&app, Method::GET, "/payments", PAYMENTS_KEY).send());
    let answers = futures_util::future::join_all(calls).await;

    assert!(answers.iter().all(|a| a.as_ref().unwrap().status() == 200));
    assert_eq!(app.fake.api_calls(), 200);
    assert_eq!(app.fake.identity_calls_for(ACME_KEY), identity_calls);
}

#[tokio::test]
async fn a_service_removed_by_a_reload_is_refused_from_then_on() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let ok = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let tenants = crate::tenants_helpers::tenants_toml(&scratch);
    scratch.write("tenants.toml", &tenants);

    eventually(Duration::from_secs(3), || async {
        call(&app, Method::GET, "/payments", PAYMENTS_KEY)
            .send()
            .await
            .is_ok_and(|r| r.status() == 401)
    })
    .await;
    let reached = app.fake.api_calls();
    let refused = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401).await;
    assert_eq!(
        app.fake.api_calls(),
        reached,
        "a removed service reaches nothing"
    );
}
