//! The Payroc API for named services: `POST /payroc/authorize` hands an SDK its service key
//! back as its "token" (no identity call), and `/payroc/v1/{path}` checks the key, the path's
//! hygiene and the service's `payroc_api` rules, then passes the call through with the
//! account's Bearer token ([`crate::proxy`]). Nothing a service sends reaches Payroc before
//! all of that passed; every call gets one audit line.

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

mod audit;
mod outgoing;

use self::{
    audit::Audit,
    outgoing::{forwarded_headers, has_idempotency_key, upstream_url},
};
use crate::{
    accounts::{Service, Snapshot},
    http::{
        admission::callers::Caller,
        body::{read_within, refuse_declared_excess},
        error::{ApiError, Problem, Relayed},
        state::AppState,
    },
    payroc::{Answer, FieldError, Outgoing},
    proxy::{Call, path, policy},
    telemetry,
};

/// Where the pass-through is mounted; what follows is Payroc's path under its `/v1`.
pub const PREFIX: &str = "/payroc/v1";
/// The lifetime `authorize` announces. The "token" is the service key itself and never
/// expires; an SDK re-fetching it hourly costs one local answer.
const TOKEN_LIFETIME_SECS: u32 = 3600;
/// Payroc identity's answer shape, as the SDKs parse it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenAnswer<'a> {
    /// The service key itself: the broker swaps it for the account's token on each call.
    access_token: &'a str,
    /// Always 3600; the key does not expire, SDKs re-ask hourly at no cost.
    expires_in: u32,
    /// `Bearer`.
    token_type: &'static str,
}

/// `POST /payroc/authorize`: `x-api-key` must be a service key.
#[utoipa::path(post, path = "/payroc/authorize", tag = "payroc api",
    summary = "The token endpoint for Payroc's SDKs (also at /payroc/v1/authorize)",
    description = "Answers a service key of the tenants file with itself as `access_token`; no identity call is made.",
    params(("x-api-key" = String, Header, description = "A service key")),
    responses(
        (status = 200, description = "The service key as the SDK's token", body = TokenAnswer),
        (status = 401, description = "Not a service key (operator keys and Payroc API keys included)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn authorize(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let snapshot = state.directory.snapshot();
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match key.filter(|key| service_of(&snapshot, key).is_some()) {
        Some(key) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(TokenAnswer {
                access_token: key,
                expires_in: TOKEN_LIFETIME_SECS,
                token_type: "Bearer",
            }),
        )
            .into_response(),
        None => ApiError::ServiceUnauthenticated.into_response(),
    }
}

fn service_of<'a>(snapshot: &'a Snapshot, key: &str) -> Option<&'a Service> {
    let digest: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
    snapshot.service_for(&digest).map(|i| &snapshot.services[i])
}

/// `ANY /payroc/v1/{path}`.
#[utoipa::path(method(get, head, post, put, patch, delete), path = "/payroc/v1/{path}", tag = "payroc api",
    summary = "Payroc's API, for named services",
    description = "Checked against the service's `payroc_api` rules, then forwarded to Payroc's API with the account's Bearer token; \
                   Payroc's answer (status, body, Content-Type, Location, Retry-After) comes back unchanged. Only the statuses the broker adds are listed.",
    params(("path" = String, Path, description = "Payroc's path below /v1, e.g. `payments/M2MJOG6O2Y`, forwarded as written"),
        ("Idempotency-Key" = Option<String>, Header, description = "Forwarded; a request with one may be retried safely, a POST without one is sent once")),
    security(("serviceKey" = [])),
    responses(
        (status = 400, description = "Unsafe path (dot segments, empty segments, encoded separators, ...)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown service key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Method and path not in the service's rules", body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "The body did not arrive in time", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "No answer from Payroc that may be passed back", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No usable token for the account, or too many requests in flight", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "An attempt or the call ran out of time", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let snapshot = state.directory.snapshot();
    let (parts, body) = request.into_parts();
    let mut audit = Audit {
        state: state.clone(),
        started: Instant::now(),
        method: parts.method.clone(),
        service: None,
        rule: None,
        attempts: 0,
        status: None,
    };
    let response = pass(&state, &snapshot, parts, body, &mut audit)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    audit.status = Some(response.status().as_u16());
    response
}

/// Who, whether the path may go, the body, then the call.
async fn pass(
    state: &AppState,
    snapshot: &Snapshot,
    parts: Parts,
    body: Body,
    audit: &mut Audit,
) -> Result<Response, ApiError> {
    // Operators' keys are not services: only a `[[service]]` key opens the pass-through.
    let Caller::Service(index) = state.admission.admit(&parts, snapshot).await? else {
        return Err(ApiError::ServiceUnauthenticated);
    };
    let service = &snapshot.services[index];
    audit.service = Some(service.name.clone());
    let rest = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    path::check(rest).map_err(|e| ApiError::InvalidRequest {
        detail: format!("The path cannot be forwarded: {e}."),
        errors: vec![FieldError {
            parameter: "path".into(),
            detail: e.to_string(),
        }],
    })?;
    let method = parts.method.as_str();
    let (_, series) = service
        .rules
        .iter()
        .find(|(rule, _)| rule.matches(method, rest))
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "{method} {rest} is not in this service's payroc_api rules."
            ))
        })?;
    audit.rule = Some(series.clone());
    let limit = state.forwarder.settings().body_limit_bytes;
    refuse_declared_excess(&parts.headers, limit)?;
    let body = read_within(body, limit, state.body_timeout).await?;
    let _place = state.admission.reserve()?;
    let deadline = Instant::now() + state.forwarder.settings().deadline;
    let url = upstream_url(state.forwarder.api_url(), rest, parts.uri.query());
    let headers = forwarded_headers(&parts.headers, !telemetry::enabled());
    let call = Call {
        tokens: &snapshot.accounts[service.account].token.cache,
        outgoing: Outgoing {
            method: &parts.method,
            url: &url,
            headers: &headers,
            body: &body,
        },
        replay_safe: policy::replay_safe(&parts.method, has_idempotency_key(&headers)),
        deadline,
    };
    let answer = state.forwarder.forward(&call, &mut audit.attempts).await?;
    Ok(relay(answer))
}

/// Payroc's answer as it came (its listed headers only), marked so the edge leaves it alone.
fn relay(answer: Answer) -> Response {
    let mut response = (answer.status, answer.headers, answer.body).into_response();
    response.extensions_mut().insert(Relayed);
    if response.status() == StatusCode::NO_CONTENT {
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response
}
