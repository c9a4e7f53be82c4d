//! `POST /apple-pay/session`: a web page's `onvalidatemerchant` posts Apple's `validationURL`
//! here; the broker starts the merchant session at Payroc with the account's token and the
//! page's `appleDomainId`, and answers the merchant session for `completeMerchantValidation`.
//! Browsers only, bound to the Apple Pay domains configured for the terminal's account; the
//! validation URL must be Apple's. Invalid input never reaches Payroc, and the merchant
//! session (a credential for the payment sheet) is never logged.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::{
    accounts::{Account, Snapshot},
    apple_pay::check_validation_url,
    http::{
        body::{invalid_field, is_json, read_within, refuse_declared_excess},
        error::{ApiError, Problem},
        state::AppState,
    },
    payroc::{MerchantSession, StartApplePay},
};

/// The request body, validated: Apple's `validationURL`, and optionally the terminal.
#[derive(Debug, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ApplePayRequest {
    /// The `validationURL` of Safari's `onvalidatemerchant` event: https, port 443, on one of
    /// Apple's merchant-validation hosts, at most 2,048 characters.
    #[schema(example = "https://apple-pay-gateway.apple.com/paymentservices/startSession")]
    pub validation_url: String,
    /// Default: the first terminal of the account whose Apple Pay domains include the page's
    /// `Origin`.
    #[schema(example = "1234001")]
    pub processing_terminal_id: Option<String>,
}

/// The 200 body.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplePayResponse<'a> {
    /// Apple's merchant session object, for `session.completeMerchantValidation(...)`.
    #[schema(value_type = Object)]
    merchant_session: &'a MerchantSession,
}

#[utoipa::path(
    post,
    path = "/apple-pay/session",
    tag = "apple pay",
    summary = "Start an Apple Pay merchant session for a web page (onvalidatemerchant)",
    request_body(content = ApplePayRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The merchant session", body = ApplePayResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "Malformed JSON, unknown member, or a validationUrl that is not Apple's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An Authorization header (browsers only), an Origin that is not an Apple Pay domain of the terminal's account, or a terminal not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body with a content type other than JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-IP rate limit (see Retry-After)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
        (status = 502, description = "Payroc rejected the request (its detail and errors passed on), still 401 after a fresh token, or failed or answered nonsense after the retry budget", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No usable Payroc Bearer token, or too many requests in flight (see Retry-After)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
        (status = 504, description = "The last upstream attempt or the request's deadline ran out", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn start_session(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // One snapshot of the accounts for the whole request, however a reload goes meanwhile.
    let snapshot = state.directory.snapshot();
    let mut chosen = None;
    let response = start(&state, &snapshot, parts, body, &mut chosen)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    let account = chosen.as_ref().map_or("", |a: &Arc<Account>| &a.name);
    state
        .metrics
        .apple_pay_session(account, response.status().as_u16());
    response
}

/// Browser only and rate limited, then the body, the account and one merchant session.
async fn start(
    state: &AppState,
    snapshot: &Snapshot,
    parts: Parts,
    body: Body,
    chosen: &mut Option<Arc<Account>>,
) -> Result<Response, ApiError> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::Forbidden(
            "Apple Pay merchant sessions are for browsers: send no Authorization header.".into(),
        ));
    }
    state.admission.admit(&parts, snapshot).await?;
    refuse_declared_excess(&parts.headers, state.body_limit)?;
    let json = is_json(&parts.headers);
    let body = read_within(body, state.body_limit, state.body_timeout).await?;
    let request = parse_body(json, &body)?;
    check_validation_url(&request.validation_url)
        .map_err(|e| invalid_field("validationUrl", e.to_string()))?;
    let (account, terminal, domain) = snapshot.route_apple_pay(
        request.processing_terminal_id.as_deref(),
        parts.headers.get(header::ORIGIN),
    )?;
    *chosen = Some(Arc::clone(account));
    let _place = state.admission.reserve()?;
    let deadline = Instant::now() + state.deadline;
    let start = StartApplePay {
        apple_domain_id: domain,
        apple_validation_url: &request.validation_url,
    };
    let (session, attempts) = state
        .minter
        .start_apple_pay(
            &account.token.cache,
            &terminal.apple_pay_url,
            &start,
            deadline,
        )
        .await?;
    tracing::debug!(terminal = %terminal.id, attempts, "Apple Pay merchant session started");
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(ApplePayResponse {
            merchant_session: &session,
        }),
    )
        .into_response())
}

/// A JSON object of exactly `validationUrl` (a string, required) and `processingTerminalId`
/// (a string; `null` is absent); anything else is a 400 naming the member.
fn parse_body(json: bool, body: &[u8]) -> Result<ApplePayRequest, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) && !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let mut object: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => object,
        _ => {
            return Err(invalid_field(
                "validationUrl",
                "required: send a JSON object {\"validationUrl\": ...}",
            ));
        }
    };
    let mut text = |name: &str| match object.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid_field(name, "must be a string")),
    };
    let validation_url = text("validationUrl")?;
    let processing_terminal_id = text("processingTerminalId")?;
    if let Some(unknown) = object.keys().next() {
        return Err(invalid_field(
            unknown,
            "unknown member; expected validationUrl, processingTerminalId",
        ));
    }
    Ok(ApplePayRequest {
        validation_url: validation_url.ok_or_else(|| invalid_field("validationUrl", "required"))?,
        processing_terminal_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://apple-pay-gateway.apple.com/paymentservices/startSession";

    fn parameter_of(error: ApiError) -> String {
        match error {
            ApiError::InvalidRequest { errors, .. } => errors[0].parameter.clone(),
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn a_validation_url_and_an_optional_terminal_are_read() {
        let body = format!(r#"{{"validationUrl": "{URL}", "processingTerminalId": null}}"#);
        let request = parse_body(true, body.as_bytes()).unwrap();
        assert_eq!(request.validation_url, URL);
        assert_eq!(request.processing_terminal_id, None);
    }

    #[test]
    fn bad_bodies_name_their_member() {
        for (body, parameter) in [
            ("", "validationUrl"),
            ("{}", "validationUrl"),
            ("[]", "validationUrl"),
            ("{not json", "validationUrl"),
            (r#"{"validationUrl": 7}"#, "validationUrl"),
            (
                r#"{"validationUrl": "x", "processingTerminalId": 1234001}"#,
                "processingTerminalId",
            ),
            (
                r#"{"validationUrl": "x", "validationURL": "y"}"#,
                "validationURL",
            ),
        ] {
            assert_eq!(
                parameter_of(parse_body(true, body.as_bytes()).unwrap_err()),
                parameter,
                "{body}"
            );
        }
        assert!(matches!(
            parse_body(false, b"validationUrl=x"),
            Err(ApiError::UnsupportedMediaType)
        ));
    }
}
