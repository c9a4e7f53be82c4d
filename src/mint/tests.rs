//! One paused-time test per branch of [`Minter::mint`], against a scripted session call and a
//! token cache fed by a counting source. (How each `MintError` is answered is tested in
//! `http::error`.)

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
};

use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{
    config::RawSettings,
    payroc::{AccessToken, Problem},
    token::TokenSource,
};

type Outcome = Result<Session, PayrocError>;

/// Hands out `token-1`, `token-2`, ... each living an hour.
#[derive(Clone, Default)]
struct CountingSource(Arc<AtomicU32>);

impl TokenSource for CountingSource {
    async fn fetch(&self) -> Result<AccessToken, PayrocError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken {
            token: BearerToken::new(&format!("token-{n}")).unwrap(),
            expires_in: Duration::from_secs(3600),
        })
    }
}

/// What one attempt was sent with.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    authorization: String,
    key: String,
    timeout: Duration,
}

/// Answers attempts from a script, each after `latency`, and records what each was sent.
#[derive(Clone, Default)]
struct ScriptedCall {
    script: Arc<Mutex<VecDeque<Outcome>>>,
    sent: Arc<Mutex<Vec<Sent>>>,
    latency: Duration,
}

impl ScriptedCall {
    fn answering(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        Self {
            script: Arc::new(Mutex::new(outcomes.into_iter().collect())),
            ..Self::default()
        }
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

impl SessionCall for ScriptedCall {
    async fn create_session(
        &self,
        _url: &Url,
        _terminal: &str,
        token: &BearerToken,
        key: &IdempotencyKey,
        _body: &CreateSession<'_>,
        timeout: Duration,
    ) -> Outcome {
        self.sent.lock().unwrap().push(Sent {
            authorization: token.header_value().to_str().unwrap().to_owned(),
            key: key.as_str().to_owned(),
            timeout,
        });
        tokio::time::sleep(self.latency.min(timeout)).await;
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script has an answer for every attempt")
    }
}

#[allow(clippy::unnecessary_wraps)] // an `Outcome` like the others
fn session(lives: Duration) -> Outcome {
    let expires_at = OffsetDateTime::now_utc() + lives;
    Ok(Session {
        processing_terminal_id: "1234001".into(),
        token: serde_json::from_str("\"session-token\"").unwrap(),
        expires_at_text: expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        expires_at,
    })
}

fn fresh() -> Outcome {
    session(Duration::from_secs(600))
}

fn transient(retry_after: Option<Duration>, timed_out: bool) -> Outcome {
    Err(PayrocError::Transient {
        reason: "status 503".into(),
        timed_out,
        retry_after,
    })
}

/// The default settings: 4 s per attempt, 9 s per request, 3 attempts, 30 s expiry margin.
fn settings() -> crate::config::Settings {
    let mut raw = RawSettings::default();
    raw.payroc.terminals = vec!["1234001".into()];
    raw.payroc.api_key = Some(SecretString::from("k".to_owned()));
    raw.resolve(true).unwrap()
}

struct Harness {
    minter: Minter<ScriptedCall>,
    tokens: TokenCache,
    call: ScriptedCall,
    url: Url,
    body: CreateSession<'static>,
    _stop: tokio_util::sync::DropGuard,
}

fn harness(call: ScriptedCall) -> Harness {
    let stop = CancellationToken::new();
    let metrics = Metrics::new();
    let settings = settings();
    let (tokens, _task) = TokenCache::spawn(
        CountingSource::default(),
        settings.token,
        metrics.clone(),
        "default".into(),
        stop.clone(),
    );
    Harness {
        minter: Minter::new(call.clone(), metrics, &settings.payroc),
        tokens,
        call,
        url: Url::parse(
            "http://127.0.0.1:9/v1/processing-terminals/1234001/hosted-fields-sessions",
        )
        .unwrap(),
        body: CreateSession {
            lib_version: "1.7.0.261457",
            scenario: crate::payroc::Scenario::Payment,
            secure_token_id: None,
        },
        _stop: stop.drop_guard(),
    }
}

impl Harness {
    async fn mint(
        &self,
        key: &IdempotencyKey,
        within: Duration,
    ) -> Result<(Session, u32), MintError> {
        let request = MintRequest {
            tokens: &self.tokens,
            url: &self.url,
            terminal: "1234001",
            body: CreateSession { ..self.body },
            key,
            deadline: Instant::now() + within,
        };
        self.minter.mint(&request).await
    }
}

const DEADLINE: Duration = Duration::from_secs(9);

#[tokio::test(start_paused = true)]
async fn transient_failure_is_retried_with_the_same_key_inside_the_deadline() {
    let h = harness(ScriptedCall::answering([transient(None, false), fresh()]));
    let key = IdempotencyKey::generate();
    let (_, attempts) = h.mint(&key, DEADLINE).await.unwrap();
    assert_eq!(attempts, 2);
    let sent = h.call.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| s.key == key.as_str()), "{sent:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_payroc_is_honoured() {
    let wait = Duration::from_secs(3);
    let h = harness(ScriptedCall::answering([
        transient(Some(wait), false),
        fresh(),
    ]));
    let started = Instant::now();
    h.mint(&IdempotencyKey::generate(), DEADLINE).await.unwrap();
    assert!(started.elapsed() >= wait, "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_cannot_finish_before_the_deadline_is_not_started() {
    let h = harness(ScriptedCall::answering([transient(
        Some(Duration::from_secs(20)),
        false,
    )]));
    let err = h
        .mint(&IdempotencyKey::generate(), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MintError::Upstream(PayrocError::Transient { .. })),
        "{err:?}"
    );
    assert_eq!(h.call.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_stop_at_the_attempt_budget() {
    let h = harness(ScriptedCall::answering([
        transient(None, false),
        transient(None, false),
        transient(None, false),
    ]));
    let err = h
        .mint(&IdempotencyKey::generate(), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, MintError::Upstream(_)), "{err:?}");
    assert_eq!(h.call.sent().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_401_is_replayed_once_with_a_fresh_token_and_the_same_key() {
    let h = harness(ScriptedCall::answering([
        Err(PayrocError::Unauthorized),
        fresh(),
    ]));
    let key = IdempotencyKey::generate();
    let (_, attempts) = h.mint(&key, DEADLINE).await.unwrap();
    assert_eq!(attempts, 1, "the replay does not count as an attempt");
    let sent = h.call.sent();
    assert_eq!(sent[0].authorization, "Bearer token-1");
    assert_eq!(sent[1].authorization, "Bearer token-2");
    assert_eq!(sent[0].key, sent[1].key);
}

#[tokio::test(start_paused = true)]
async fn a_second_401_after_the_replay_is_final() {
    let h = harness(ScriptedCall::answering([
        Err(PayrocError::Unauthorized),
        Err(PayrocError::Unauthorized),
    ]));
    let err = h
        .mint(&IdempotencyKey::generate(), DEADLINE)
        .await
        .unwrap_err();
    assert!(matches!(err, MintError::StillUnauthorized), "{err:?}");
    assert_eq!(h.call.sent().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_gets_only_the_time_left_and_a_spent_deadline_stops_the_mint() {
    let call = ScriptedCall {
        latency: Duration::from_secs(60),
        ..ScriptedCall::answering([transient(None, true)])
    };
    let h = harness(call);
    let err = h
        .mint(&IdempotencyKey::generate(), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MintError::Upstream(PayrocError::Transient {
                timed_out: true,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(h.call.sent()[0].timeout, Duration::from_secs(2));
    let err = h
        .mint(&IdempotencyKey::generate(), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, MintError::DeadlineExceeded), "{err:?}");
    assert_eq!(h.call.sent().len(), 1, "no attempt without time left");
}

#[tokio::test(start_paused = true)]
async fn an_expired_replay_under_a_caller_key_is_refused() {
    let nearly_dead = || session(Duration::from_secs(10));
    let h = harness(ScriptedCall::answering([nearly_dead(), nearly_dead()]));
    let caller = IdempotencyKey::from_caller(b"8e03978e-40d5-43e8-bc93-6894a57f9324").unwrap();
    let err = h.mint(&caller, DEADLINE).await.unwrap_err();
    assert!(matches!(err, MintError::SessionExpired), "{err:?}");
    // A key the broker made is fresh by construction: not checked.
    assert!(h.mint(&IdempotencyKey::generate(), DEADLINE).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_caller_key_in_use_for_another_request_is_a_conflict() {
    let in_use = || {
        Err(PayrocError::Rejected {
            status: 409,
            problem: Box::new(
                Problem::parse(
                    br#"{"type":"https://docs.payroc.com/api/errors#idempotency-key-in-use"}"#,
                )
                .unwrap(),
            ),
        })
    };
    let h = harness(ScriptedCall::answering([in_use(), in_use()]));
    let caller = IdempotencyKey::from_caller(b"8e03978e-40d5-43e8-bc93-6894a57f9324").unwrap();
    let err = h.mint(&caller, DEADLINE).await.unwrap_err();
    assert!(matches!(err, MintError::KeyInUse), "{err:?}");
    // Under the broker's own key it is Payroc rejecting the request, not the caller's doing.
    let err = h
        .mint(&IdempotencyKey::generate(), DEADLINE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MintError::Upstream(PayrocError::Rejected { status: 409, .. })
        ),
        "{err:?}"
    );
}
