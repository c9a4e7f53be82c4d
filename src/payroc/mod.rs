//! The upstream client: one `reqwest::Client` built once (rustls, pooled, per-attempt
//! timeout, redirects never followed), one method per Payroc call, wire types beside them,
//! and a [`PayrocError`] that tells callers what they can branch on.

mod apple_pay;
mod body;
mod identity;
mod passthrough;
mod problem;
mod sessions;

use std::{path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use reqwest::{StatusCode, header::HeaderMap};
use tokio::{sync::Semaphore, time::Instant};

pub use apple_pay::{MerchantSession, StartApplePay, apple_pay_url};
pub use body::MAX_ANSWER_BYTES;
pub use identity::{AccessToken, BearerToken};
pub use passthrough::{Answer, Outgoing};
pub use problem::{FieldError, IDEMPOTENCY_KEY_IN_USE, Problem};
pub use sessions::{CreateSession, Scenario, Session, session_url};

use crate::{
    config::{ApiKeyError, PayrocSettings, ProxySettings},
    metrics::{Endpoint, Metrics},
    telemetry,
};

/// What went wrong talking to Payroc, shaped by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum PayrocError {
    /// Worth retrying: timeouts, connect errors, dropped connections, 408, 429, 5xx.
    #[error("transient upstream failure: {reason}")]
    Transient {
        reason: String,
        /// The attempt ran out of time (the caller may answer 504 rather than 502).
        timed_out: bool,
        retry_after: Option<Duration>,
    },
    /// 401: the Bearer token (or, at identity, the API key) was not accepted.
    #[error("upstream answered 401 Unauthorized")]
    Unauthorized,
    /// Any other 4xx: Payroc refused the request as it stands.
    #[error("upstream rejected the request with {status}")]
    Rejected { status: u16, problem: Box<Problem> },
    /// A success status with a body that does not make sense, or an unexpected status.
    #[error("invalid upstream response: {0}")]
    InvalidResponse(String),
    /// No usable API key could be read (file missing, unreadable, empty or invalid):
    /// identity was not called. The message never names the file; `file` is for the log
    /// line.
    #[error("API key unavailable: {error}")]
    ApiKey {
        error: ApiKeyError,
        file: Option<PathBuf>,
    },
}

impl PayrocError {
    /// Identity refused the API key itself: retrying soon will not help. (A key that could
    /// not be read is not a rejection: identity never saw it.)
    pub fn is_key_rejection(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized | Self::Rejected { status: 403, .. }
        )
    }

    /// How long the upstream asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn from_reqwest(error: &reqwest::Error) -> Self {
        // Name the kind only: reqwest's Display can include the URL, never a header, but
        // a terse reason keeps logs stable.
        let reason = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else if error.is_body() || error.is_decode() {
            "connection dropped while reading the response"
        } else if error.is_request() {
            "request failed to send"
        } else {
            "transport error"
        };
        Self::Transient {
            reason: reason.to_owned(),
            timed_out: error.is_timeout(),
            retry_after: None,
        }
    }

    /// The failure's kind in one word, for an attempt's span (`error.type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Transient {
                timed_out: true, ..
            } => "timeout",
            Self::Transient { .. } => "transient",
            Self::Unauthorized => "unauthorized",
            Self::Rejected { .. } => "rejected",
            Self::InvalidResponse(_) => "invalid_response",
            Self::ApiKey { .. } => "api_key_unavailable",
        }
    }

    /// Classifies a non-success status with its (possibly empty) body.
    fn from_status(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let code = status.as_u16();
        match code {
            401 => Self::Unauthorized,
            408 | 429 | 500..=599 => Self::Transient {
                reason: format!("status {code}"),
                timed_out: false,
                retry_after,
            },
            400..=499 => Self::Rejected {
                status: code,
                problem: Box::new(Problem::parse(body).unwrap_or_default()),
            },
            _ => Self::InvalidResponse(format!("unexpected status {code}")),
        }
    }
}

/// Parses `Retry-After` as delta-seconds or an HTTP-date; capped so a hostile or broken
/// value cannot park the broker for hours.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    const CAP: Duration = Duration::from_secs(300);
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    };
    Some(wait.min(CAP))
}

/// Payroc client shared by the token refresher and the session minter.
#[derive(Clone, Debug)]
pub struct PayrocClient {
    http: reqwest::Client,
    identity_url: url::Url,
    request_timeout: Duration,
    /// Caps concurrent upstream requests, hence connections (HTTP/1.1: one request each).
    connections: Arc<Semaphore>,
    metrics: Metrics,
}

impl PayrocClient {
    pub fn new(settings: &PayrocSettings, metrics: Metrics) -> Result<Self, reqwest::Error> {
        Self::build(
            settings,
            settings.request_timeout,
            settings.max_connections,
            metrics,
        )
    }

    /// The pass-through's own client: its own pool and connection cap (backend calls never
    /// take the sessions' places) and its longer per-attempt timeout; connecting is still
    /// bounded by the sessions' short timeout.
    pub fn for_proxy(
        settings: &PayrocSettings,
        proxy: &ProxySettings,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        Self::build(
            settings,
            proxy.request_timeout,
            proxy.max_connections,
            metrics,
        )
    }

    fn build(
        settings: &PayrocSettings,
        request_timeout: Duration,
        max_connections: usize,
        metrics: Metrics,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // A redirect would carry `x-api-key` to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            // Retries are ours (`retry_after`, the 401 replay). reqwest's own only ever replays
            // HTTP/2 refusals, which an HTTP/1.1 client never gets, yet it copied every request
            // (headers, extensions) in case; with no retry allowed it copies nothing.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .timeout(request_timeout)
            .connect_timeout(settings.request_timeout)
            .pool_max_idle_per_host(settings.max_idle_connections)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("hosted-fields-broker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            identity_url: settings.identity_url.clone(),
            request_timeout,
            connections: Arc::new(Semaphore::new(max_connections)),
            metrics,
        })
    }

    /// A place among the concurrent upstream requests, waiting at most `timeout` for one.
    async fn connection(
        &self,
        timeout: Duration,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, PayrocError> {
        let permit = tokio::time::timeout(timeout, self.connections.acquire())
            .await
            .map_err(|_| PayrocError::Transient {
                reason: "no free upstream connection in time".into(),
                timed_out: true,
                retry_after: None,
            })?
            .expect("the semaphore is never closed");
        Ok(permit)
    }

    /// Sends one request (waiting at most `timeout` for a free connection, then at most
    /// `timeout` for the whole answer), records its latency (and, tracing, its status on the
    /// attempt's span, whose context goes out as `traceparent`), and returns the body of an
    /// `expected` answer (at most [`MAX_ANSWER_BYTES`]) or the classified error.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
        timeout: Duration,
    ) -> Result<Bytes, PayrocError> {
        let _permit = self.connection(timeout).await?;
        let request = telemetry::propagate(request);
        let started = Instant::now();
        let answer = async {
            let mut response = request.timeout(timeout).send().await?;
            let status = response.status();
            // Only an error answer needs its headers (Retry-After).
            let wait = (status != expected)
                .then(|| retry_after(response.headers()))
                .flatten();
            let body = body::read_capped(&mut response, MAX_ANSWER_BYTES).await?;
            // An over-cap answer is dropped here, unread: its connection closes.
            Ok::<_, reqwest::Error>((status, wait, body))
        }
        .await;
        let status = answer.as_ref().ok().map(|(status, ..)| status.as_u16());
        self.metrics.upstream(endpoint, status, started.elapsed());
        telemetry::record_answer(status);
        let (status, wait, body) = answer.map_err(|e| PayrocError::from_reqwest(&e))?;
        match body {
            Some(body) if status == expected => Ok(body),
            // Nonsense, like any other unusable success: retried within the budget, never
            // cached.
            None if status == expected => Err(PayrocError::InvalidResponse(format!(
                "answer larger than {MAX_ANSWER_BYTES} bytes"
            ))),
            // An error status keeps its meaning (401 → new token, 403 → key rejected, 5xx →
            // retry): the status decides what happens next, the body only adds detail, so an
            // over-cap problem is dropped and the status classified as with an empty body.
            body => Err(PayrocError::from_status(
                status,
                wait,
                body.as_deref().unwrap_or_default(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
