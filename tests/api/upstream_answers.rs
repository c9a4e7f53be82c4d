//! Payroc's answers are bounded and checked: an endless or huge body, a session for another
//! terminal, an implausible token and a huge problem detail never reach a caller.

use std::time::{Duration, Instant};

use hosted_fields_broker::fake_payroc::{IdentityFault, SessionFault};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_problem, eventually, spawn_app_with};

/// One second per attempt: an unbounded read of an endless body would take all of it.
const ATTEMPT: Duration = Duration::from_secs(1);

async fn app_with_identity_fault(fault: Option<IdentityFault>) -> TestApp {
    spawn_app_with(Options {
        settings: Box::new(|raw| {
            raw.payroc.request_timeout_ms = 1_000;
            raw.payroc.deadline_ms = 3_000;
        }),
        prepare: Box::new(move |fake| {
            if let Some(fault) = fault {
                fake.set_identity_fault(fault);
            }
        }),
        ..Options::default()
    })
    .await
}

async fn app_with_session_fault(fault: SessionFault) -> TestApp {
    let app = app_with_identity_fault(None).await;
    app.wait_ready().await;
    app.fake.set_session_fault(fault);
    app
}

#[tokio::test]
async fn an_endless_or_huge_identity_answer_yields_no_token_and_fails_fast() {
    for fault in [IdentityFault::EndlessBody, IdentityFault::HugeBody] {
        let app = app_with_identity_fault(Some(fault.clone())).await;
        // Refused at the cap, not read until the attempt timed out: three fetches (with their
        // backoff) fit in one attempt's timeout.
        eventually(ATTEMPT, || async { app.fake.identity_calls() >= 3 }).await;
        let ready = assert_problem(app.get("/readyz").await, 503).await;
        let detail = ready["detail"].as_str().unwrap();
        assert!(
            detail.contains("identity unavailable"),
            "{fault:?}: {detail}"
        );
        let started = Instant::now();
        assert_problem(app.post_session(Value::Null).await, 503).await;
        assert!(started.elapsed() < ATTEMPT, "{fault:?}: failed fast");
        assert_eq!(
            app.fake.session_calls(),
            0,
            "{fault:?}: no token was cached"
        );

        app.fake.set_identity_fault(IdentityFault::None);
        app.wait_ready().await;
        assert_eq!(app.post_session(Value::Null).await.status(), 201);
    }
}

#[tokio::test]
async fn an_endless_or_huge_session_answer_is_502_well_within_the_deadline() {
    for fault in [SessionFault::EndlessBody, SessionFault::HugeBody] {
        let app = app_with_session_fault(fault.clone()).await;

        let started = Instant::now();
        let body = assert_problem(app.post_session(Value::Null).await, 502).await;

        assert!(
            started.elapsed() < ATTEMPT,
            "{fault:?}: every attempt stopped at the cap: {:?}",
            started.elapsed()
        );
        assert_eq!(body["type"], "urn:hosted-fields-broker:upstream-failed");
        assert_eq!(
            app.fake.session_calls(),
            3,
            "{fault:?}: retried like other nonsense"
        );
    }
}

#[tokio::test]
async fn a_session_for_another_terminal_is_502_and_its_token_is_never_passed_on() {
    let app = app_with_session_fault(SessionFault::WrongTerminal).await;
    let key = uuid::Uuid::new_v4().to_string();
    let post = || {
        app.session_request(json!({"processingTerminalId": "1234001"}))
            .header("Idempotency-Key", &key)
            .send()
    };

    let refused = post().await.unwrap();
    let refused = assert_problem(refused, 502).await.to_string();

    // The same key, once Payroc answers sanely, replays the session it created.
    app.fake.set_session_fault(SessionFault::None);
    let session: Value = post().await.unwrap().json().await.unwrap();
    let token = session["sessionToken"]
        .as_str()
        .expect("the replayed session");
    assert_eq!(app.fake.sessions_created(), 1);
    assert!(!refused.contains(token), "{refused}");
    assert!(!refused.contains("1234002"), "{refused}");
}

#[tokio::test]
async fn a_megabyte_token_or_an_overlong_one_is_502_and_never_passed_on() {
    // 1 MiB passes the answer cap; 600 characters fits in it but is no plausible token.
    for chars in [1 << 20, 600] {
        let app = app_with_session_fault(SessionFault::LongToken(chars)).await;

        let response = app.post_session(Value::Null).await;

        let body = assert_problem(response, 502).await.to_string();
        assert!(!body.contains("aaaaaaaa"), "{chars}: {body}");
        assert!(body.len() < 1024, "{chars}: {}", body.len());
    }
}

#[tokio::test]
async fn a_huge_payroc_detail_is_502_with_a_small_body() {
    // 2.8 MB passes the answer cap: the status stands, its problem is dropped unread.
    // 20 000 characters fits in the cap: the detail is passed on truncated.
    for (chars, passed_on) in [(2_800_000, "Payroc answered 400."), (20_000, "xxxx")] {
        let app = app_with_session_fault(SessionFault::LongDetail { status: 400, chars }).await;

        let response = app.post_session(Value::Null).await;

        assert_eq!(response.status(), 502);
        let text = response.text().await.unwrap();
        assert!(text.len() < 4 * 1024, "{chars}: {} bytes", text.len());
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["type"], "urn:hosted-fields-broker:upstream-rejected");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with(passed_on), "{chars}: {detail}");
        assert!(detail.chars().count() <= 500, "{chars}: {detail}");
        assert_eq!(
            app.fake.session_calls(),
            1,
            "{chars}: a rejection is not retried"
        );
    }
}

#[tokio::test]
async fn an_oversized_error_answer_keeps_the_meaning_of_its_status() {
    // 503: retried to the budget; 401: one replay with a fresh token, then 502.
    for (status, calls) in [(503, 3), (401, 2)] {
        let fault = SessionFault::LongDetail {
            status,
            chars: 2_800_000,
        };
        let app = app_with_session_fault(fault).await;

        let body = assert_problem(app.post_session(Value::Null).await, 502).await;

        assert_eq!(body["type"], "urn:hosted-fields-broker:upstream-failed");
        assert_eq!(app.fake.session_calls(), calls, "{status}");
    }
}
