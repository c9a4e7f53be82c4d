//! One paused-time test per known failure mode of the cache, against a scripted source.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use tokio::time::{Instant, advance, sleep};
use tokio_util::sync::CancellationToken;

use super::*;

mod key_unavailable;

type Outcome = Result<AccessToken, PayrocError>;
type Fallback = fn(u32) -> Outcome;

/// A token source that answers from a script (then repeats its fallback), after a delay.
#[derive(Clone)]
struct ScriptedSource {
    script: Arc<Mutex<VecDeque<Outcome>>>,
    fallback: Arc<Mutex<Fallback>>,
    calls: Arc<AtomicU32>,
    delay: Duration,
}

#[allow(clippy::unnecessary_wraps)] // used as a `Fallback`
fn token(secs: u64, n: u32) -> Outcome {
    Ok(AccessToken {
        token: BearerToken::new(&format!("token-{n}")).unwrap(),
        expires_in: Duration::from_secs(secs),
    })
}

#[allow(clippy::unnecessary_wraps)]
fn transient() -> Outcome {
    Err(PayrocError::Transient {
        reason: "status 503".into(),
        timed_out: false,
        retry_after: None,
    })
}

impl ScriptedSource {
    fn new(fallback: fn(u32) -> Outcome) -> Self {
        Self {
            script: Arc::default(),
            fallback: Arc::new(Mutex::new(fallback)),
            calls: Arc::default(),
            delay: Duration::from_millis(50),
        }
    }

    fn then(self, outcome: Outcome) -> Self {
        self.script.lock().unwrap().push_back(outcome);
        self
    }

    fn set_fallback(&self, fallback: fn(u32) -> Outcome) {
        *self.fallback.lock().unwrap() = fallback;
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenSource for ScriptedSource {
    async fn fetch(&self) -> Outcome {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        sleep(self.delay).await;
        let scripted = self.script.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| (self.fallback.lock().unwrap())(n))
    }
}

fn settings() -> TokenSettings {
    TokenSettings {
        refresh_ratio: 0.75,
        backoff_base: Duration::from_millis(500),
        backoff_cap: Duration::from_secs(30),
        rejected_retry: Duration::from_secs(60),
    }
}

fn start(source: &ScriptedSource) -> (TokenCache, JoinHandle<()>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let (cache, task) = TokenCache::spawn(
        source.clone(),
        settings(),
        Metrics::new(),
        "default".into(),
        shutdown.clone(),
    );
    (cache, task, shutdown)
}

fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Lets the refresher task run until it blocks on (paused) time.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn token_is_fetched_eagerly_at_startup() {
    let source = ScriptedSource::new(|n| token(3600, n));
    let (cache, _task, _stop) = start(&source);
    sleep(Duration::from_millis(100)).await;
    assert_eq!(source.calls(), 1);
    let state = cache.snapshot();
    assert!(state.ever_obtained && state.current.is_some());
}

#[tokio::test(start_paused = true)]
async fn concurrent_cold_requests_share_one_fetch() {
    let source = ScriptedSource::new(|n| token(3600, n));
    let (cache, _task, _stop) = start(&source);
    let waiters: Vec<_> = (0..500)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get(in_secs(9)).await.map(|t| t.generation) })
        })
        .collect();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), Ok(1));
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn token_is_refreshed_at_about_three_quarters_of_its_lifetime() {
    let source = ScriptedSource::new(|n| token(100, n));
    let (cache, _task, _stop) = start(&source);
    cache.get(in_secs(1)).await.unwrap();
    // 75 s ± 5 s (jitter), never before 70 s nor after 80 s.
    sleep(Duration::from_secs(69)).await;
    assert_eq!(source.calls(), 1);
    sleep(Duration::from_secs(12)).await;
    assert_eq!(source.calls(), 2);
    assert_eq!(cache.get(in_secs(1)).await.unwrap().generation, 2);
}

#[tokio::test(start_paused = true)]
async fn valid_token_survives_failed_refresh() {
    let source = ScriptedSource::new(|_| transient()).then(token(100, 1));
    let (cache, _task, _stop) = start(&source);
    cache.get(in_secs(1)).await.unwrap();
    sleep(Duration::from_secs(85)).await; // refresh due; it fails and keeps failing
    assert!(source.calls() >= 2);
    let held = cache
        .get(in_secs(1))
        .await
        .expect("still-valid token must be served");
    assert_eq!(held.generation, 1);
    assert!(cache.snapshot().last_failure.is_some());
}

#[tokio::test(start_paused = true)]
async fn requests_fail_fast_once_refresh_failed_and_no_usable_token_is_held() {
    let source = ScriptedSource::new(|_| transient()).then(token(100, 1));
    let (cache, _task, _stop) = start(&source);
    cache.get(in_secs(1)).await.unwrap();
    sleep(Duration::from_secs(91)).await; // past usable_until (90 s)
    let asked = Instant::now();
    let err = cache.get(in_secs(9)).await.unwrap_err();
    assert_eq!(asked, Instant::now(), "must not wait for the deadline");
    assert!(
        matches!(err, TokenError::Unavailable { key_rejected: false, retry_after } if retry_after >= Duration::from_secs(1))
    );
}

#[tokio::test(start_paused = true)]
async fn token_is_not_handed_out_inside_its_safety_margin() {
    let source = ScriptedSource::new(|_| transient()).then(token(4, 1));
    let (cache, _task, _stop) = start(&source);
    let held = cache.get(in_secs(1)).await.unwrap();
    let usable = held.usable_until - Instant::now();
    assert!(
        usable > Duration::from_millis(3400) && usable <= Duration::from_millis(3600),
        "{usable:?}"
    );
    sleep(usable + Duration::from_millis(1)).await;
    assert!(Instant::now() < held.expires_at, "still inside the margin");
    assert!(cache.get(in_secs(1)).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn transient_failures_back_off_and_retry_until_success() {
    let source = ScriptedSource::new(|n| token(3600, n))
        .then(transient())
        .then(transient())
        .then(transient())
        .then(transient());
    let (cache, _task, _stop) = start(&source);
    // Backoff ceilings 0.5 + 1 + 2 + 4 s plus fetch delays: well under 10 s.
    let held = cache_get_eventually(&cache, Duration::from_secs(10)).await;
    assert_eq!(source.calls(), 5);
    assert_eq!(held.generation, 1);
    assert!(cache.snapshot().last_failure.is_none());
}

#[tokio::test(start_paused = true)]
async fn refresher_never_gives_up() {
    let source = ScriptedSource::new(|_| transient());
    let (cache, task, _stop) = start(&source);
    sleep(Duration::from_secs(3600)).await;
    // Capped at 30 s: at least 3600 / 30 attempts in an hour, and still alive.
    assert!(source.calls() >= 100, "{}", source.calls());
    assert!(!task.is_finished());
    source.set_fallback(|n| token(3600, n));
    assert!(
        cache_get_eventually(&cache, Duration::from_secs(31))
            .await
            .generation
            >= 1
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_from_identity_is_honoured() {
    let source = ScriptedSource::new(|n| token(3600, n)).then(Err(PayrocError::Transient {
        reason: "status 429".into(),
        timed_out: false,
        retry_after: Some(Duration::from_secs(20)),
    }));
    let (_cache, _task, _stop) = start(&source);
    sleep(Duration::from_secs(19)).await;
    assert_eq!(source.calls(), 1);
    sleep(Duration::from_secs(2)).await;
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn rejected_api_key_is_retried_slowly_and_reported() {
    let source = ScriptedSource::new(|_| Err(PayrocError::Unauthorized));
    let (cache, task, _stop) = start(&source);
    sleep(Duration::from_secs(1)).await;
    let err = cache.get(in_secs(9)).await.unwrap_err();
    assert!(
        matches!(err, TokenError::Unavailable { key_rejected: true, retry_after } if retry_after >= Duration::from_secs(40))
    );
    assert!(!cache.snapshot().ever_obtained);
    // 60 s ± 20 %: no second attempt before 48 s, one by 73 s.
    sleep(Duration::from_secs(46)).await;
    assert_eq!(source.calls(), 1);
    sleep(Duration::from_secs(26)).await;
    assert_eq!(source.calls(), 2);
    assert!(!task.is_finished());
}

#[tokio::test(start_paused = true)]
async fn identity_answers_without_a_usable_token_are_never_cached() {
    let source = ScriptedSource::new(|n| token(3600, n))
        .then(Err(PayrocError::InvalidResponse("no access_token".into())));
    let (cache, _task, _stop) = start(&source);
    sleep(Duration::from_millis(60)).await;
    assert!(cache.snapshot().current.is_none());
    assert!(
        cache.get(in_secs(9)).await.is_err(),
        "fails fast after the failed first fetch"
    );
    let held = cache_get_eventually(&cache, Duration::from_secs(2)).await;
    assert_eq!(held.generation, 1);
}

#[tokio::test(start_paused = true)]
async fn invalidate_drops_exactly_the_current_token_and_callers_wait_for_the_next() {
    let source = ScriptedSource::new(|n| token(3600, n));
    let (cache, _task, _stop) = start(&source);
    let first = cache.get(in_secs(1)).await.unwrap();
    cache.invalidate(&first);
    let second = cache
        .get(in_secs(1))
        .await
        .expect("waits for the post-401 fetch");
    assert_eq!(second.generation, 2);
    assert_eq!(source.calls(), 2);
    // A late 401 for the old token must not throw away the new one.
    cache.invalidate(&first);
    settle().await;
    assert_eq!(cache.get(in_secs(1)).await.unwrap().generation, 2);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_slow_first_fetch_respects_the_deadline() {
    let mut source = ScriptedSource::new(|n| token(3600, n));
    source.delay = Duration::from_secs(20);
    let (cache, _task, _stop) = start(&source);
    let asked = Instant::now();
    assert_eq!(
        cache.get(in_secs(9)).await.unwrap_err(),
        TokenError::DeadlineExceeded
    );
    assert_eq!(Instant::now() - asked, Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn refresh_task_exits_on_shutdown() {
    let source = ScriptedSource::new(|n| token(3600, n));
    let (cache, task, stop) = start(&source);
    cache.get(in_secs(1)).await.unwrap();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("task ends promptly")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_interrupts_an_in_flight_fetch() {
    let mut source = ScriptedSource::new(|n| token(3600, n));
    source.delay = Duration::from_secs(3600);
    let (_cache, task, stop) = start(&source);
    settle().await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("task ends promptly")
        .unwrap();
}

async fn cache_get_eventually(cache: &TokenCache, within: Duration) -> Arc<HeldToken> {
    let give_up = Instant::now() + within;
    loop {
        if let Ok(token) = cache.get(Instant::now() + Duration::from_secs(1)).await {
            return token;
        }
        assert!(Instant::now() < give_up, "no token within {within:?}");
        advance(Duration::from_millis(100)).await;
    }
}
