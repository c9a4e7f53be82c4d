//! One session request, end to end against Payroc: borrow a token, attempt, retry transient
//! failures with the same `Idempotency-Key` inside the request's deadline, replay once with a
//! fresh token after a 401, and refuse a replayed session that is already dead.

use std::{future::Future, sync::Arc, time::Duration};

use opentelemetry::context::FutureExt as _;
use reqwest::Method;
use time::OffsetDateTime;
use tokio::time::{Instant, sleep};
use url::Url;

use crate::{
    config::PayrocSettings,
    idempotency::IdempotencyKey,
    metrics::{Endpoint, Metrics},
    payroc::{
        BearerToken, CreateSession, IDEMPOTENCY_KEY_IN_USE, MerchantSession, PayrocClient,
        PayrocError, Session, StartApplePay,
    },
    retry, telemetry,
    token::{HeldToken, TokenCache, TokenError},
};

/// Retry waits between attempts never exceed this: the whole request has seconds, not minutes.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// The one upstream call a mint makes, per attempt (Payroc in production, a script in tests).
pub trait SessionCall: Send + Sync + 'static {
    fn create_session(
        &self,
        url: &Url,
        terminal: &str,
        token: &BearerToken,
        key: &IdempotencyKey,
        body: &CreateSession<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Session, PayrocError>> + Send;
}

impl SessionCall for PayrocClient {
    fn create_session(
        &self,
        url: &Url,
        terminal: &str,
        token: &BearerToken,
        key: &IdempotencyKey,
        body: &CreateSession<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Session, PayrocError>> + Send {
        PayrocClient::create_session(self, url, terminal, token, key, body, timeout)
    }
}

/// Why no session was minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the request deadline ran out")]
    DeadlineExceeded,
    #[error("the caller's Idempotency-Key is in use for a different request")]
    KeyInUse,
    #[error("the session replayed for the caller's Idempotency-Key has expired")]
    SessionExpired,
    #[error("Payroc answered 401 again after a fresh token")]
    StillUnauthorized,
    #[error(transparent)]
    Upstream(PayrocError),
}

/// What to mint.
#[derive(Debug)]
pub struct MintRequest<'a> {
    /// The token cache of the account that owns `terminal`.
    pub tokens: &'a TokenCache,
    pub url: &'a Url,
    /// The processing terminal `url` is for; a session naming another one is refused.
    pub terminal: &'a str,
    pub body: CreateSession<'a>,
    pub key: &'a IdempotencyKey,
    /// When the whole request must be answered by.
    pub deadline: Instant,
}

/// Mints sessions; cheap to share.
#[derive(Clone, Debug)]
pub struct Minter<C = PayrocClient> {
    client: C,
    metrics: Metrics,
    request_timeout: Duration,
    max_attempts: u32,
    retry_base_delay: Duration,
    expiry_margin: Duration,
}

impl<C: SessionCall> Minter<C> {
    pub fn new(client: C, metrics: Metrics, settings: &PayrocSettings) -> Self {
        Self {
            client,
            metrics,
            request_timeout: settings.request_timeout,
            max_attempts: settings.max_attempts,
            retry_base_delay: settings.retry_base_delay,
            expiry_margin: settings.session_expiry_margin,
        }
    }

    /// Runs attempts until a session, a final answer, or the deadline.
    pub async fn mint(&self, request: &MintRequest<'_>) -> Result<(Session, u32), MintError> {
        let minted = self
            .attempts(
                Endpoint::CreateSession,
                request.tokens,
                request.deadline,
                |held, timeout| async move {
                    self.client
                        .create_session(
                            request.url,
                            request.terminal,
                            &held.token,
                            request.key,
                            &request.body,
                            timeout,
                        )
                        .await
                },
            )
            .await;
        match minted {
            Ok((session, attempts)) => self
                .check_fresh(request.key, session)
                .map(|s| (s, attempts)),
            // Not retried either way; only a caller's own key can be in use elsewhere.
            Err(MintError::Upstream(PayrocError::Rejected { problem, .. }))
                if problem.has_type(IDEMPOTENCY_KEY_IN_USE) && request.key.is_caller_supplied() =>
            {
                Err(MintError::KeyInUse)
            }
            Err(error) => Err(error),
        }
    }

    /// The retry loop every call the broker makes for a caller shares: borrow a token, make
    /// one `attempt` (given the held token and the time it may take), replay once with a fresh token
    /// after a 401, retry transient failures and nonsense with backoff, all inside `deadline`.
    /// The count is of attempts, the 401 replay not included. With tracing on, each request
    /// sent to `endpoint` is a span of its own, numbered from 1 (the replay included).
    pub async fn attempts<T, F, Fut>(
        &self,
        endpoint: Endpoint,
        tokens: &TokenCache,
        deadline: Instant,
        mut attempt: F,
    ) -> Result<(T, u32), MintError>
    where
        F: FnMut(Arc<HeldToken>, Duration) -> Fut,
        Fut: Future<Output = Result<T, PayrocError>>,
    {
        let mut attempts = 0;
        let mut sent = 0;
        let mut replayed_after_401 = false;
        loop {
            let held = tokens.get(deadline).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(MintError::DeadlineExceeded);
            }
            attempts += 1;
            sent += 1;
            let timeout = self.request_timeout.min(remaining);
            let traced = telemetry::attempt_span(endpoint, &Method::POST, sent);
            // Awaited as it is when not traced: wrapping it would move it once more.
            let outcome = match &traced {
                Some(traced) => {
                    let context = traced.context().clone();
                    attempt(Arc::clone(&held), timeout)
                        .with_context(context)
                        .await
                }
                None => attempt(Arc::clone(&held), timeout).await,
            };
            let error = match outcome {
                Ok(answer) => return Ok((answer, attempts)),
                Err(error) => error,
            };
            telemetry::attempt_failed(traced.as_ref(), error.kind());
            drop(traced);
            match error {
                PayrocError::Unauthorized if !replayed_after_401 => {
                    // The token was revoked or expired early: drop exactly it, replay once.
                    replayed_after_401 = true;
                    attempts -= 1;
                    self.metrics.unauthorized_replay();
                    tokens.invalidate(&held);
                }
                PayrocError::Unauthorized => return Err(MintError::StillUnauthorized),
                PayrocError::Transient { .. } | PayrocError::InvalidResponse(_)
                    if attempts < self.max_attempts =>
                {
                    let wait = retry::backoff(
                        attempts,
                        self.retry_base_delay,
                        MAX_RETRY_WAIT,
                        retry::sample().abs(),
                    )
                    .max(error.retry_after().unwrap_or_default());
                    if Instant::now() + wait >= deadline {
                        return Err(MintError::Upstream(error));
                    }
                    tracing::debug!(attempt = attempts, %error, wait_secs = wait.as_secs_f64(), "retrying upstream request");
                    self.metrics.retry();
                    sleep(wait).await;
                }
                other => return Err(MintError::Upstream(other)),
            }
        }
    }

    /// A caller-chosen key may replay a session saved days ago: refuse one that is dead or
    /// about to die. Keys the broker made are fresh by construction.
    fn check_fresh(&self, key: &IdempotencyKey, session: Session) -> Result<Session, MintError> {
        if key.is_caller_supplied()
            && session.expires_at <= OffsetDateTime::now_utc() + self.expiry_margin
        {
            return Err(MintError::SessionExpired);
        }
        Ok(session)
    }
}

impl Minter<PayrocClient> {
    /// Starts one Apple Pay merchant session with the same retries, 401 replay and deadline
    /// as a Hosted Fields session (Payroc takes no Idempotency-Key here).
    pub async fn start_apple_pay(
        &self,
        tokens: &TokenCache,
        url: &Url,
        body: &StartApplePay<'_>,
        deadline: Instant,
    ) -> Result<(MerchantSession, u32), MintError> {
        self.attempts(
            Endpoint::ApplePay,
            tokens,
            deadline,
            |held, timeout| async move {
                self.client
                    .start_apple_pay(url, &held.token, body, timeout)
                    .await
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests;
