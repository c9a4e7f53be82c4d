//! The Payroc API pass-through for named services: one call, end to end. Borrow the account's
//! token, send, then let [`policy`] decide: pass Payroc's answer back, heal a 401 once with a
//! fresh token, or retry a transient failure when replaying is safe, all inside the call's
//! deadline. [`path`] holds the hygiene checks made before a rule is matched.

pub mod path;
pub mod policy;

use std::time::Duration;

use opentelemetry::context::FutureExt as _;
use tokio::time::{Instant, sleep};
use url::Url;

use self::policy::{Next, Outcome, Policy};
use crate::{
    config::{PayrocSettings, ProxySettings},
    metrics::{Endpoint, Metrics},
    payroc::{Answer, Outgoing, PayrocClient, PayrocError},
    retry, telemetry,
    token::{TokenCache, TokenError},
};

/// Waits between retries stay short: the call has seconds, and a longer wait is Payroc's to
/// ask for with `Retry-After`.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// One call to pass through.
#[derive(Debug)]
pub struct Call<'a> {
    /// The token cache of the service's account.
    pub tokens: &'a TokenCache,
    pub outgoing: Outgoing<'a>,
    /// See [`policy::replay_safe`].
    pub replay_safe: bool,
    /// When the whole call must be answered by.
    pub deadline: Instant,
}

/// Why no Payroc answer is passed back.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the call's deadline ran out before an attempt could be made")]
    DeadlineExceeded,
    /// No answer, and the request may not (or may no longer) be sent again.
    #[error("no answer from Payroc: {reason}")]
    Lost { reason: String, timed_out: bool },
    #[error("Payroc's answer was unusable: {0}")]
    InvalidAnswer(String),
    /// The broker's own fresh token was refused too.
    #[error("Payroc answered 401 again after a fresh token")]
    StillUnauthorized,
}

/// Sends pass-through calls; cheap to share.
#[derive(Clone, Debug)]
pub struct Forwarder {
    client: PayrocClient,
    metrics: Metrics,
    settings: ProxySettings,
    retry_base_delay: Duration,
    /// Payroc's API base, `/v1` included: the caller's path hangs off it.
    api_url: Url,
}

impl Forwarder {
    pub fn new(
        client: PayrocClient,
        metrics: Metrics,
        payroc: &PayrocSettings,
        settings: ProxySettings,
    ) -> Self {
        Self {
            client,
            metrics,
            settings,
            retry_base_delay: payroc.retry_base_delay,
            api_url: payroc.api_url.clone(),
        }
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    /// Runs attempts until an answer to pass back, a refusal, or the deadline. `sent` counts
    /// every request sent to Payroc (a healing replay included) as it goes, so the audit line
    /// has it even when the caller goes away mid-call; with tracing on, each is a span of its
    /// own numbered by it, whose context Payroc gets as `traceparent`.
    pub async fn forward(&self, call: &Call<'_>, sent: &mut u32) -> Result<Answer, ProxyError> {
        let mut policy = Policy {
            replay_safe: call.replay_safe,
            attempts: 0,
            max_attempts: self.settings.max_attempts,
            healed: false,
        };
        loop {
            let held = call.tokens.get(call.deadline).await?;
            let remaining = call.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ProxyError::DeadlineExceeded);
            }
            *sent += 1;
            policy.attempts += 1;
            let traced = telemetry::attempt_span(Endpoint::Api, call.outgoing.method, *sent);
            let attempt = self.client.forward(
                &call.outgoing,
                &held.token,
                self.settings.request_timeout.min(remaining),
                self.settings.response_limit_bytes,
            );
            // Awaited as it is when not traced: wrapping it would move it once more.
            let result = match &traced {
                Some(traced) => attempt.with_context(traced.context().clone()).await,
                None => attempt.await,
            };
            if let Err(error) = &result {
                telemetry::attempt_failed(traced.as_ref(), error.kind());
            }
            drop(traced);
            let outcome = match &result {
                Ok(answer) => Outcome::Answered {
                    status: answer.status,
                    retry_after: answer.retry_after(),
                },
                Err(PayrocError::InvalidResponse(reason)) => {
                    return Err(ProxyError::InvalidAnswer(reason.clone()));
                }
                Err(_) => Outcome::Lost,
            };
            match policy.next(outcome) {
                Next::Finish => return finish(result),
                Next::Heal => {
                    // Payroc did nothing with a refused token: not a retry, not counted.
                    policy.healed = true;
                    policy.attempts -= 1;
                    self.metrics.unauthorized_replay();
                    call.tokens.invalidate(&held);
                }
                Next::Retry { at_least } => {
                    let wait = retry::backoff(
                        policy.attempts,
                        self.retry_base_delay,
                        MAX_RETRY_WAIT,
                        retry::sample().abs(),
                    )
                    .max(at_least);
                    if Instant::now() + wait >= call.deadline {
                        return finish(result);
                    }
                    tracing::debug!(
                        attempt = policy.attempts,
                        wait_secs = wait.as_secs_f64(),
                        "retrying pass-through call"
                    );
                    self.metrics.retry();
                    sleep(wait).await;
                }
            }
        }
    }
}

/// The last attempt's result as the caller gets it: Payroc's answer as it is (a second 401
/// aside: that is the broker's token, not the caller's key), or why there is none.
fn finish(result: Result<Answer, PayrocError>) -> Result<Answer, ProxyError> {
    match result {
        Ok(answer) if answer.status == reqwest::StatusCode::UNAUTHORIZED => {
            Err(ProxyError::StillUnauthorized)
        }
        Ok(answer) => Ok(answer),
        Err(PayrocError::Transient {
            reason, timed_out, ..
        }) => Err(ProxyError::Lost { reason, timed_out }),
        Err(other) => Err(ProxyError::InvalidAnswer(other.to_string())),
    }
}
