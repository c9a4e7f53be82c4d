//! The one task that talks to identity: fetches, publishes the outcome to the cache, and
//! decides when to fetch next (see [`super::policy`] and [`crate::retry`]).

use std::{sync::Arc, time::Duration};

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{Failure, FailureKind, HeldToken, TokenCache, TokenSource, policy};
use crate::{
    config::TokenSettings,
    metrics::{Metrics, RefreshOutcome},
    payroc::{AccessToken, PayrocError},
    retry, telemetry,
};

/// A key file that could not be read is retried at least this often (within the backoff
/// cap), so a restored file heals within seconds.
pub(super) const KEY_UNAVAILABLE_CAP: Duration = Duration::from_secs(5);

/// The one task that talks to identity.
pub(super) struct Refresher<S> {
    source: S,
    settings: TokenSettings,
    cache: TokenCache,
    metrics: Metrics,
    account: Arc<str>,
    generation: u64,
    /// Consecutive failures, for the backoff exponent.
    failures: u32,
}

impl<S: TokenSource> Refresher<S> {
    pub(super) fn new(
        source: S,
        settings: TokenSettings,
        cache: TokenCache,
        metrics: Metrics,
        account: Arc<str>,
    ) -> Self {
        Self {
            source,
            settings,
            cache,
            metrics,
            account,
            generation: 0,
            failures: 0,
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        loop {
            // With tracing on, each fetch is a trace of its own, and identity's call its child.
            let traced = telemetry::refresh_span(&self.account);
            let outcome = tokio::select! {
                outcome = telemetry::within(traced.as_ref(), self.source.fetch()) => outcome,
                () = shutdown.cancelled() => break,
            };
            let next = self.publish(outcome, traced.as_ref());
            drop(traced);
            if !self.wait(next, &shutdown).await {
                break;
            }
        }
        tracing::debug!("token refresher stopped");
    }

    /// Publishes a fetch outcome (counted, and recorded on the fetch's `span`) and returns
    /// when to fetch next.
    fn publish(
        &mut self,
        outcome: Result<AccessToken, PayrocError>,
        traced: Option<&telemetry::Traced>,
    ) -> Instant {
        let now = Instant::now();
        match outcome {
            Ok(access) => {
                self.metrics
                    .token_refresh(&self.account, RefreshOutcome::Success);
                telemetry::refresh_ended(traced, RefreshOutcome::Success.label());
                self.failures = 0;
                self.generation += 1;
                let plan = policy::plan(
                    access.expires_in,
                    self.settings.refresh_ratio,
                    retry::sample(),
                );
                tracing::info!(
                    generation = self.generation,
                    expires_in_secs = access.expires_in.as_secs(),
                    next_refresh_secs = plan.refresh_after.as_secs(),
                    "Bearer token refreshed"
                );
                let held = HeldToken {
                    token: access.token,
                    generation: self.generation,
                    expires_at: now + access.expires_in,
                    usable_until: now + plan.usable_for,
                };
                self.cache.state.send_modify(|state| {
                    state.current = Some(Arc::new(held));
                    state.waitable = false;
                    state.last_failure = None;
                    state.ever_obtained = true;
                });
                now + plan.refresh_after
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let (kind, outcome) = if let PayrocError::ApiKey { .. } = error {
                    (FailureKind::KeyUnavailable, RefreshOutcome::KeyUnavailable)
                } else if error.is_key_rejection() {
                    (FailureKind::KeyRejected, RefreshOutcome::Rejected)
                } else {
                    (FailureKind::Transient, RefreshOutcome::Transient)
                };
                self.metrics.token_refresh(&self.account, outcome);
                telemetry::refresh_ended(traced, outcome.label());
                let delay = match kind {
                    FailureKind::KeyRejected => {
                        tracing::error!(%error, failures = self.failures, "Payroc identity REJECTED the API key; check the account's API key (BROKER__PAYROC__API_KEY(_FILE), or api_key(_file) in the tenants file); retrying slowly");
                        retry::jittered(self.settings.rejected_retry, retry::sample())
                    }
                    FailureKind::KeyUnavailable => {
                        // The path goes in its own field of this log line; the error's
                        // text never names it.
                        let file = match &error {
                            PayrocError::ApiKey {
                                file: Some(path), ..
                            } => path.display().to_string(),
                            _ => "(inline key)".to_owned(),
                        };
                        tracing::error!(%error, %file, failures = self.failures, "the Payroc API key file could not be read; identity was not called; check the account's API key file; retrying within seconds");
                        retry::backoff(
                            self.failures,
                            self.settings.backoff_base,
                            self.settings.backoff_cap.min(KEY_UNAVAILABLE_CAP),
                            retry::sample().abs(),
                        )
                    }
                    FailureKind::Transient => {
                        tracing::warn!(%error, failures = self.failures, "Bearer token refresh failed; retrying with backoff");
                        retry::backoff(
                            self.failures,
                            self.settings.backoff_base,
                            self.settings.backoff_cap,
                            retry::sample().abs(),
                        )
                    }
                };
                let delay = delay.max(error.retry_after().unwrap_or_default());
                let retry_at = now + delay;
                self.cache.state.send_modify(|state| {
                    // Never throw away a token that can still be used.
                    if !state.current.as_ref().is_some_and(|t| t.usable(now)) {
                        state.current = None;
                    }
                    state.waitable = false;
                    state.last_failure = Some(Failure { kind, retry_at });
                });
                retry_at
            }
        }
    }

    /// Sleeps until `next`, or until an invalidation leaves no token. False on shutdown.
    async fn wait(&self, next: Instant, shutdown: &CancellationToken) -> bool {
        loop {
            tokio::select! {
                () = sleep_until(next) => return true,
                () = self.cache.wake.notified() => {
                    // A stale wake-up (the token was replaced meanwhile) changes nothing.
                    if self.cache.state.borrow().current.is_none() {
                        return true;
                    }
                }
                () = shutdown.cancelled() => return false,
            }
        }
    }
}
