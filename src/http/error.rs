//! The one place statuses are chosen: every error the broker answers with becomes an
//! RFC 9457 `application/problem+json` body here. A 5xx's cause rides along for the one log
//! line the per-request layer ([`super::layer`]) writes; bodies never carry a secret, a token or an
//! internal cause.

use std::time::Duration;

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::payroc::FieldError;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered to a caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {detail}")]
    InvalidRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("caller not authenticated")]
    Unauthenticated,
    /// `/payroc/...` without a service key of the tenants file.
    #[error("service not authenticated")]
    ServiceUnauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    #[error("the client did not send its body in time")]
    BodyTimeout { timeout: Duration },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    #[error("Payroc rejected the request with {status}")]
    UpstreamRejected {
        status: u16,
        detail: Option<String>,
        errors: Vec<FieldError>,
    },
    #[error("Payroc failed: {0}")]
    UpstreamFailed(String),
    #[error("no usable Bearer token")]
    TokenUnavailable { retry_after: Duration },
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("too many requests in flight")]
    Overloaded { retry_after: Duration },
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    /// A pass-through call got no answer it may pass back.
    #[error("Payroc API call failed: {0}")]
    ProxyFailed(String),
    #[error("Payroc API call ran out of time: {0}")]
    ProxyTimeout(String),
    #[error("not found")]
    NotFound,
}

/// The problem document, as serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    fn new(
        status: StatusCode,
        type_: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// The generic problem for a status that carries no more specific information.
    pub fn for_status(status: StatusCode) -> Self {
        let title = status.canonical_reason().unwrap_or("Error");
        let detail = match status {
            StatusCode::NOT_FOUND => "No such resource.",
            StatusCode::METHOD_NOT_ALLOWED => {
                "This method is not allowed here; see the Allow header."
            }
            StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
            StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => {
                "The request took too long."
            }
            StatusCode::INTERNAL_SERVER_ERROR => "An unexpected error occurred.",
            _ => title,
        };
        Self::new(status, "about:blank", title, detail)
    }

    /// Renders the body with the problem content type and `Cache-Control: no-store`.
    pub fn into_response_with(self, mut response_parts: Response<()>) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        *response_parts.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response_parts.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.remove(header::CONTENT_LENGTH);
        response_parts.map(|()| Body::from(body))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_response_with(Response::new(()))
    }
}

fn retry_after_secs(wait: Duration) -> HeaderValue {
    // Round up: "retry after 0 seconds" invites a hot loop.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

impl ApiError {
    fn problem(&self) -> Problem {
        use StatusCode as S;
        match self {
            Self::InvalidRequest { detail, errors } => Problem {
                errors: errors.clone(),
                ..Problem::new(
                    S::BAD_REQUEST,
                    "urn:hosted-fields-broker:invalid-request",
                    "Invalid request",
                    detail,
                )
            },
            Self::Unauthenticated => Problem::new(
                S::UNAUTHORIZED,
                "urn:hosted-fields-broker:unauthenticated",
                "Caller not authenticated",
                "The Authorization header must be `Bearer <caller key>` with a configured key; browsers send none.",
            ),
            Self::Forbidden(detail) => Problem::new(
                S::FORBIDDEN,
                "urn:hosted-fields-broker:forbidden",
                "Forbidden",
                detail,
            ),
            Self::PayloadTooLarge { limit } => Problem::new(
                S::PAYLOAD_TOO_LARGE,
                "about:blank",
                "Payload Too Large",
                format!("The request body is larger than {limit} bytes."),
            ),
            Self::BodyTimeout { timeout } => Problem::new(
                S::REQUEST_TIMEOUT,
                "urn:hosted-fields-broker:body-timeout",
                "Request Timeout",
                format!(
                    "The request body did not arrive within {} ms.",
                    timeout.as_millis()
                ),
            ),
            Self::UnsupportedMediaType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "about:blank",
                "Unsupported Media Type",
                "Send the body as application/json, or send no body.",
            ),
            Self::IdempotencyConflict(detail) => Problem::new(
                S::CONFLICT,
                "urn:hosted-fields-broker:idempotency-key-reused",
                "Idempotency-Key cannot be used",
                detail,
            ),
            Self::UpstreamRejected {
                status,
                detail,
                errors,
            } => Problem {
                errors: errors.clone(),
                ..Problem::new(
                    S::BAD_GATEWAY,
                    "urn:hosted-fields-broker:upstream-rejected",
                    "Payroc rejected the session request",
                    detail
                        .clone()
                        .unwrap_or_else(|| format!("Payroc answered {status}.")),
                )
            },
            Self::UpstreamFailed(_) => Problem::new(
                S::BAD_GATEWAY,
                "urn:hosted-fields-broker:upstream-failed",
                "Payroc is failing",
                "Payroc did not create a session; try again shortly.",
            ),
            Self::TokenUnavailable { .. } => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "urn:hosted-fields-broker:token-unavailable",
                "Payroc is unavailable",
                "The broker holds no usable Payroc access token right now; try again after Retry-After seconds.",
            ),
            Self::RateLimited { .. } => Problem::new(
                S::TOO_MANY_REQUESTS,
                "urn:hosted-fields-broker:rate-limited",
                "Too many requests",
                "Too many session requests from this client; try again after Retry-After seconds.",
            ),
            Self::Overloaded { .. } => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "urn:hosted-fields-broker:overloaded",
                "Broker at capacity",
                "Too many session requests are in flight; try again after Retry-After seconds.",
            ),
            Self::DeadlineExceeded(_) => Problem::new(
                S::GATEWAY_TIMEOUT,
                "urn:hosted-fields-broker:deadline-exceeded",
                "Payroc did not answer in time",
                "The session request ran out of time; try again with the same Idempotency-Key.",
            ),
            Self::ServiceUnauthenticated | Self::ProxyFailed(_) | Self::ProxyTimeout(_) => {
                self.proxy_problem()
            }
            Self::NotFound => Problem::for_status(S::NOT_FOUND),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let mut parts = Response::new(());
        if problem.status >= 500 {
            // The body stays generic; the cause rides along to be logged once, with the
            // request's route and id, by the per-request layer.
            parts.extensions_mut().insert(ErrorCause(self.to_string()));
        }
        if let Self::TokenUnavailable { retry_after, .. }
        | Self::RateLimited { retry_after }
        | Self::Overloaded { retry_after } = &self
        {
            parts
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs(*retry_after));
        }
        if matches!(
            self,
            Self::BodyTimeout { .. } | Self::PayloadTooLarge { .. }
        ) {
            // The rest of the body is not read: the connection cannot carry another request.
            parts
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if matches!(self, Self::Unauthenticated | Self::ServiceUnauthenticated) {
            parts
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        problem.into_response_with(parts)
    }
}

pub use self::edge::{ErrorCause, Expected, Relayed, panic_response, problem_details};

mod edge;
mod from;
mod proxy;
#[cfg(test)]
mod tests;
