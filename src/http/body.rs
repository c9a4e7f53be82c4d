//! Reading a request body, for every endpoint that takes one: a declared `Content-Length` over
//! the limit is refused before a byte is read (so hyper never sends `100 Continue` for it),
//! then the body is read within its limit and the client's time.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, header},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;
use crate::payroc::FieldError;

/// A 413 for a declared length over `limit`; nothing is read.
pub fn refuse_declared_excess(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The whole body, at most `limit` bytes, arrived within `timeout` (else a 408: the client's
/// fault, never counted against Payroc).
pub async fn read_within(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::BodyTimeout { timeout })?;
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge { limit }),
        Err(_) => Err(ApiError::InvalidRequest {
            detail: "The request body could not be read.".into(),
            errors: Vec::new(),
        }),
    }
}

/// The body is declared as JSON (`application/json`, any parameters, any case).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The essence before any parameters (`; charset=utf-8`), in any case.
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// A 400 naming one parameter.
pub fn invalid_field(parameter: &str, detail: impl Into<String>) -> ApiError {
    let detail = detail.into();
    ApiError::InvalidRequest {
        detail: format!("{parameter}: {detail}"),
        errors: vec![FieldError {
            parameter: parameter.to_owned(),
            detail,
        }],
    }
}
