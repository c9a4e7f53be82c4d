//! How the errors of the layers below become answers: a routing refusal, a failed mint.

use super::ApiError;
use crate::{
    accounts::RouteError,
    mint::MintError,
    payroc::{FieldError, PayrocError},
    proxy::ProxyError,
    token::TokenError,
};

impl From<RouteError> for ApiError {
    fn from(error: RouteError) -> Self {
        match error {
            RouteError::NoDefault => Self::InvalidRequest {
                detail: error.to_string(),
                errors: vec![FieldError {
                    parameter: "processingTerminalId".into(),
                    detail: "required: no account is the default for this request's origin".into(),
                }],
            },
            RouteError::Forbidden(detail) => Self::Forbidden(detail.into()),
        }
    }
}

impl From<MintError> for ApiError {
    fn from(error: MintError) -> Self {
        match error {
            MintError::Token(TokenError::Unavailable { retry_after, .. }) => {
                Self::TokenUnavailable { retry_after }
            }
            MintError::Token(TokenError::DeadlineExceeded) => {
                Self::DeadlineExceeded("deadline passed waiting for a Bearer token".into())
            }
            MintError::DeadlineExceeded => Self::DeadlineExceeded("no time left for another attempt".into()),
            MintError::KeyInUse => Self::IdempotencyConflict(
                "This Idempotency-Key was already used for a different session request; use a new UUID v4.".into(),
            ),
            MintError::SessionExpired => Self::IdempotencyConflict(
                "The session saved under this Idempotency-Key has expired; use a new UUID v4 for a new session.".into(),
            ),
            MintError::StillUnauthorized => Self::UpstreamFailed("Payroc answered 401 to a fresh token".into()),
            MintError::Upstream(PayrocError::Rejected { status, problem }) => Self::UpstreamRejected {
                status,
                errors: problem.field_errors(),
                detail: problem.detail_passed_on(),
            },
            MintError::Upstream(PayrocError::Transient { timed_out: true, reason, .. }) => {
                Self::DeadlineExceeded(format!("last attempt: {reason}"))
            }
            MintError::Upstream(other) => Self::UpstreamFailed(other.to_string()),
        }
    }
}

impl From<ProxyError> for ApiError {
    fn from(error: ProxyError) -> Self {
        match error {
            ProxyError::Token(TokenError::Unavailable { retry_after, .. }) => {
                Self::TokenUnavailable { retry_after }
            }
            ProxyError::Token(TokenError::DeadlineExceeded)
            | ProxyError::DeadlineExceeded
            | ProxyError::Lost {
                timed_out: true, ..
            } => Self::ProxyTimeout(error.to_string()),
            ProxyError::Lost { .. }
            | ProxyError::InvalidAnswer(_)
            | ProxyError::StillUnauthorized => Self::ProxyFailed(error.to_string()),
        }
    }
}
