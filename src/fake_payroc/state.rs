//! What the fake's handlers share: one mutex-guarded [`FakeState`] (config, injected faults,
//! issued tokens, the idempotency store, the request log) beside lock-free [`Counters`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;

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
}

pub(super) struct FakeState {
    pub(super) config: FakePayrocConfig,
    pub(super) identity_fault: IdentityFault,
    pub(super) session_fault: SessionFault,
    pub(super) identity_latency: Duration,
    pub(super) session_latency: Duration,
    pub(super) failures_left: u32,
    pub(super) failure_status: u16,
    pub(super) drops_left: u32,
    /// Bearer token → when it was issued and for how long it is good.
    pub(super) tokens: HashMap<String, (Instant, Duration)>,
    /// `Idempotency-Key` → the request it was first used with and the 201 it earned.
    pub(super) sessions: HashMap<String, StoredSession>,
    pub(super) requests: Vec<RecordedSessionRequest>,
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
            session_fault: SessionFault::None,
            identity_latency: Duration::ZERO,
            session_latency: Duration::ZERO,
            failures_left: 0,
            failure_status: 500,
            drops_left: 0,
            tokens: HashMap::new(),
            sessions: HashMap::new(),
            requests: Vec::new(),
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
