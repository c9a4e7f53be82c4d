//! What the fake's handlers share: one mutex-guarded [`FakeState`] (config, injected faults,
//! issued tokens, the idempotency store, the request log, per-key counters, the payments
//! endpoints' state) beside lock-free [`Counters`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

use super::apple_pay::ApplePayState;
use super::payments::PaymentsState;
use super::{FakePayrocConfig, IdentityFault, RecordedSessionRequest, SessionFault};

/// What the handlers share: one lock for the state, atomics for the counters.
pub(super) struct Shared {
    pub(super) state: Mutex<FakeState>,
    pub(super) counters: Counters,
    /// `http://127.0.0.1:PORT`, for `location` and `instance`.
    pub(super) origin: String,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) identity_calls: AtomicU64,
    pub(super) tokens_issued: AtomicU64,
    pub(super) session_calls: AtomicU64,
    pub(super) sessions_created: AtomicU64,
    /// Identity calls inside the handler right now, latency included.
    pub(super) identity_in_flight: AtomicU64,
    /// The most `identity_in_flight` has ever been.
    pub(super) identity_peak_in_flight: AtomicU64,
}

/// Holds one place in `identity_in_flight` until dropped, even if the handler is cancelled.
pub(super) struct InFlight<'a>(&'a AtomicU64);

impl Counters {
    pub(super) fn enter_identity(&self) -> InFlight<'_> {
        let now = self.identity_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.identity_peak_in_flight
            .fetch_max(now, Ordering::SeqCst);
        InFlight(&self.identity_in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) struct FakeState {
    pub(super) config: FakePayrocConfig,
    pub(super) identity_fault: IdentityFault,
    /// Faults for one presented `x-api-key` only; the global `identity_fault` wins over them.
    pub(super) identity_faults_by_key: HashMap<String, IdentityFault>,
    pub(super) session_fault: SessionFault,
    pub(super) identity_latency: Duration,
    pub(super) session_latency: Duration,
    pub(super) failures_left: u32,
    pub(super) failure_status: u16,
    pub(super) drops_left: u32,
    /// Bearer token → what it was issued for.
    pub(super) tokens: HashMap<String, IssuedToken>,
    /// (account, `Idempotency-Key`) → the request it was first used with and the 201 it earned.
    pub(super) sessions: HashMap<(usize, String), StoredSession>,
    pub(super) requests: Vec<RecordedSessionRequest>,
    /// `POST /authorize` calls by the `x-api-key` they presented.
    pub(super) identity_calls_by_key: HashMap<String, u64>,
    /// The `traceparent` of each `POST /authorize` that sent one, oldest first.
    pub(super) identity_traceparents: Vec<String>,
    /// Session POSTs by the API key their Bearer token was issued for.
    pub(super) session_calls_by_key: HashMap<String, u64>,
    /// The payments endpoints' own state, under the same lock so a token check and what it
    /// allows happen atomically.
    pub(super) payments: PaymentsState,
    /// The Apple Pay endpoint's knobs and log.
    pub(super) apple_pay: ApplePayState,
}

/// A Bearer token: when it was issued, for how long, and for which account and key.
pub(super) struct IssuedToken {
    pub(super) issued: Instant,
    pub(super) lifetime: Duration,
    /// Index into [`FakePayrocConfig::accounts`]: stays put when `set_api_key` rotates a key.
    pub(super) account: usize,
    pub(super) api_key: String,
}

impl IssuedToken {
    pub(super) fn is_live(&self) -> bool {
        self.issued.elapsed() < self.lifetime
    }
}

/// A created session plus the request that created it, for idempotent replay.
#[derive(Clone)]
pub(super) struct StoredSession {
    pub(super) path: String,
    pub(super) body: Value,
    pub(super) terminal: String,
    pub(super) token: String,
    pub(super) expires_at: OffsetDateTime,
    pub(super) location: String,
}

impl Shared {
    pub(super) fn new(config: FakePayrocConfig, addr: SocketAddr) -> Self {
        let state = FakeState {
            config,
            identity_fault: IdentityFault::None,
            identity_faults_by_key: HashMap::new(),
            session_fault: SessionFault::None,
            identity_latency: Duration::ZERO,
            session_latency: Duration::ZERO,
            failures_left: 0,
            failure_status: 500,
            drops_left: 0,
            tokens: HashMap::new(),
            sessions: HashMap::new(),
            requests: Vec::new(),
            identity_calls_by_key: HashMap::new(),
            identity_traceparents: Vec::new(),
            session_calls_by_key: HashMap::new(),
            payments: PaymentsState::default(),
            apple_pay: ApplePayState::default(),
        };
        Self {
            state: Mutex::new(state),
            counters: Counters::default(),
            origin: format!("http://{addr}"),
        }
    }

    /// A panicking test must not wedge every later request, so poisoning is ignored.
    pub(super) fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FakeState {
    /// The account whose key is `presented` (the first, if a rotation made two share it).
    pub(super) fn account_of_key(&self, presented: &[u8]) -> Option<(usize, &str)> {
        self.config
            .accounts()
            .enumerate()
            .find(|(_, (key, _))| key.as_bytes() == presented)
            .map(|(account, (key, _))| (account, key))
    }

    /// The API key of the token `authorization` names, live or not; `None` if the fake did
    /// not issue it (or revoked it).
    pub(super) fn token_api_key(&self, authorization: Option<&str>) -> Option<String> {
        let token = authorization.and_then(super::checks::bearer_token)?;
        self.tokens.get(token).map(|token| token.api_key.clone())
    }

    /// The account a processing terminal belongs to.
    pub(super) fn account_of_terminal(&self, terminal: &str) -> Option<usize> {
        self.config
            .accounts()
            .position(|(_, terminals)| terminals.iter().any(|known| known == terminal))
    }
}
