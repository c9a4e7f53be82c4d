//! The Bearer token cache: "how to fetch" behind [`TokenSource`], "when to refresh" as the
//! pure functions in [`policy`], and one background task (`refresher`) that owns refreshing.
//! Request handlers only read a `watch` channel; they never call identity themselves.

pub mod policy;
mod refresher;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
    time::{Instant, timeout_at},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::refresher::Refresher;
use crate::{
    config::TokenSettings,
    metrics::Metrics,
    payroc::{AccessToken, BearerToken, PayrocError},
    telemetry,
};

/// Something that can fetch a fresh Bearer token (identity in production, a script in tests).
pub trait TokenSource: Send + Sync + 'static {
    fn fetch(&self) -> impl Future<Output = Result<AccessToken, PayrocError>> + Send;
}

/// A token as handed to request handlers.
#[derive(Debug)]
pub struct HeldToken {
    pub token: BearerToken,
    /// Increases with every fetched token; `invalidate` matches on it.
    pub generation: u64,
    pub expires_at: Instant,
    /// The token stops being handed out here, a safety margin before `expires_at`.
    pub usable_until: Instant,
}

impl HeldToken {
    fn usable(&self, now: Instant) -> bool {
        now < self.usable_until
    }
}

impl TokenState {
    /// The held token, if it may still be handed out at `now`.
    pub fn usable(&self, now: Instant) -> Option<&Arc<HeldToken>> {
        self.current.as_ref().filter(|t| t.usable(now))
    }
}

/// Why the last fetch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Identity down, slow, or answering nonsense: retried with backoff.
    Transient,
    /// Identity refused the API key: retried slowly until the key changes.
    KeyRejected,
    /// The API key (file) could not be read, so identity was not called: retried on the
    /// backoff schedule, capped at a few seconds, so a restored file heals at once.
    KeyUnavailable,
}

/// The last failed fetch, cleared by the next success.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub retry_at: Instant,
}

/// What readers see.
#[derive(Clone, Debug)]
pub struct TokenState {
    pub current: Option<Arc<HeldToken>>,
    /// A first fetch, or a fetch after `invalidate`, is in flight: readers may wait for it.
    pub waitable: bool,
    pub last_failure: Option<Failure>,
    /// A token has been obtained at least once (readiness).
    pub ever_obtained: bool,
}

/// Why no token could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No usable token and no fetch worth waiting for; try again after `retry_after`.
    #[error("no usable Bearer token")]
    Unavailable {
        retry_after: Duration,
        key_rejected: bool,
    },
    /// The caller's deadline passed while a fetch was in flight.
    #[error("deadline passed while waiting for a Bearer token")]
    DeadlineExceeded,
}

/// Cheap, cloneable handle to the cache.
#[derive(Clone, Debug)]
pub struct TokenCache {
    state: Arc<watch::Sender<TokenState>>,
    wake: Arc<Notify>,
}

impl TokenCache {
    /// Starts the refresh task for `account` (its name labels metrics and log lines); it
    /// fetches at once and runs until `shutdown` is cancelled.
    pub fn spawn<S: TokenSource>(
        source: S,
        settings: TokenSettings,
        metrics: Metrics,
        account: Arc<str>,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (state, _) = watch::channel(TokenState {
            current: None,
            waitable: true,
            last_failure: None,
            ever_obtained: false,
        });
        let cache = Self {
            state: Arc::new(state),
            wake: Arc::new(Notify::new()),
        };
        let span = tracing::info_span!("token", account = %account);
        let refresher = Refresher::new(source, settings, cache.clone(), metrics, account);
        let task = tokio::spawn(refresher.run(shutdown).instrument(span));
        (cache, task)
    }

    /// A usable token: at once if one is held, after the in-flight fetch if it is a first
    /// fetch or a post-401 one (within `deadline`), otherwise an immediate error. With tracing
    /// on, a wait is a span of its own.
    pub async fn get(&self, deadline: Instant) -> Result<Arc<HeldToken>, TokenError> {
        let mut rx = self.state.subscribe();
        // Made at the first wait only: a held token is handed out without one.
        let mut waited: Option<telemetry::Traced> = None;
        let ended = |waited: &Option<telemetry::Traced>, outcome| {
            telemetry::token_wait_ended(waited.as_ref(), outcome);
        };
        loop {
            {
                let state = rx.borrow_and_update();
                let now = Instant::now();
                if let Some(token) = state.usable(now) {
                    ended(&waited, "ready");
                    return Ok(Arc::clone(token));
                }
                if !state.waitable {
                    ended(&waited, "unavailable");
                    return Err(unavailable(&state, now));
                }
            }
            if waited.is_none() {
                waited = telemetry::token_wait_span();
            }
            match timeout_at(deadline, telemetry::within(waited.as_ref(), rx.changed())).await {
                Err(_) => {
                    ended(&waited, "deadline_exceeded");
                    return Err(TokenError::DeadlineExceeded);
                }
                Ok(Err(_)) => {
                    ended(&waited, "unavailable");
                    return Err(TokenError::Unavailable {
                        retry_after: Duration::from_secs(1),
                        key_rejected: false,
                    });
                }
                Ok(Ok(())) => {}
            }
        }
    }

    /// Drops `token` if it is still the current one (Payroc answered 401 to it) and wakes the
    /// refresher; callers then wait for the replacement through [`TokenCache::get`].
    pub fn invalidate(&self, token: &HeldToken) {
        let dropped = self.state.send_if_modified(|state| {
            if state
                .current
                .as_ref()
                .is_some_and(|t| t.generation == token.generation)
            {
                state.current = None;
                state.waitable = true;
                true
            } else {
                false
            }
        });
        if dropped {
            tracing::warn!(
                generation = token.generation,
                "Bearer token rejected by the API; fetching a new one"
            );
            self.wake.notify_one();
        }
    }

    /// A copy of the current state, for readiness and metrics.
    pub fn snapshot(&self) -> TokenState {
        self.state.borrow().clone()
    }
}

/// A token's state in one word, for operators: `valid` (usable), `rejected` (the key was
/// refused and no usable token is held), `refreshing` (a fetch callers wait for is in
/// flight), `expired` (had one, none usable now), `none` (never had one).
pub fn token_state(state: &TokenState, now: Instant) -> &'static str {
    if state.usable(now).is_some() {
        "valid"
    } else if state
        .last_failure
        .as_ref()
        .is_some_and(|f| f.kind == FailureKind::KeyRejected)
    {
        "rejected"
    } else if state.waitable {
        "refreshing"
    } else if state.ever_obtained {
        "expired"
    } else {
        "none"
    }
}

fn unavailable(state: &TokenState, now: Instant) -> TokenError {
    let (retry_after, key_rejected) =
        state
            .last_failure
            .as_ref()
            .map_or((Duration::from_secs(1), false), |f| {
                (
                    f.retry_at.saturating_duration_since(now),
                    f.kind == FailureKind::KeyRejected,
                )
            });
    TokenError::Unavailable {
        retry_after: retry_after.max(Duration::from_secs(1)),
        key_rejected,
    }
}

#[cfg(test)]
mod tests;
