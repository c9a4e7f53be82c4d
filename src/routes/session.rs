//! `POST /hosted-fields/session`: validate everything locally, then mint one Payroc session.
//! Invalid input never reaches Payroc.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::Instrument;

use self::body::{field_error, parse_body};
use crate::{
    accounts::{Account, Requester, Snapshot, Terminal},
    http::{
        admission::callers::Caller,
        body::{is_json, read_within, refuse_declared_excess},
        error::{ApiError, Problem},
        state::{AppState, Library},
    },
    idempotency::{self, IdempotencyKey},
    mint::MintRequest,
    payroc::{CreateSession, Scenario},
};

/// The request body, validated. All members are optional, `null` counts as absent, and any
/// other member is a 400; the handler checks members one by one so that every error can name
/// its parameter. (The schema is the documentation; parsing is [`validate_members`].)
#[derive(Debug, Default, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SessionRequest {
    /// Must be on the allow-list; default: the first allowed terminal.
    #[schema(example = "1234001")]
    pub processing_terminal_id: Option<String>,
    /// Default `payment`.
    #[schema(required = false)]
    pub scenario: Scenario,
    /// 1–200 characters; internal callers only (anonymous callers get 403).
    #[schema(min_length = 1, max_length = 200)]
    pub secure_token_id: Option<String>,
}

/// The 201 body.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse<'a> {
    /// Payroc's session token: pass it to `new Payroc.hostedFields({ sessionToken })`.
    session_token: &'a str,
    /// When the session expires (Payroc's `expiresAt`, verbatim, ISO 8601).
    expires_at: &'a str,
    /// Whole seconds from the broker's clock to `expiresAt` when it answered (rounded down,
    /// never negative): schedule renewal from this and a monotonic clock, not from
    /// `expiresAt` and a device clock that may be wrong.
    #[schema(example = 598)]
    expires_in_seconds: u64,
    processing_terminal_id: &'a str,
    scenario: Scenario,
    #[serde(flatten)]
    library: &'a Library,
}

/// `Idempotency-Key`: a caller-chosen UUID v4, forwarded upstream in lower case.
const KEY_DOC: &str = "A UUID v4 in the 36-character hyphenated form (any case). A retry with the same key \
                       returns the same session; a key reused for a different request, or after its session \
                       expired, is a 409. Absent: the broker makes a fresh key.";

#[utoipa::path(
    post,
    path = "/hosted-fields/session",
    tag = "sessions",
    summary = "Create a Hosted Fields session for one page load",
    request_body(content = Option<SessionRequest>, content_type = "application/json",
        description = "Optional; an empty body or `{}` means all defaults."),
    params(("Idempotency-Key" = Option<uuid::Uuid>, Header, description = KEY_DOC)),
    security((), ("callerKey" = [])),
    responses(
        (status = 201, description = "Session created", body = SessionResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "Malformed JSON, unknown member, unknown scenario, bad secureTokenId or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong or malformed internal caller key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Terminal not on the allow-list, or secureTokenId from an anonymous caller", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown route", body = Problem, content_type = "application/problem+json"),
        (status = 405, description = "Wrong method (see Allow)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Idempotency-Key reused for a different request, or its session expired: use a new key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body with a content type other than JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-IP rate limit (see Retry-After)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
        (status = 502, description = "Payroc rejected the request (its detail and errors passed on), still 401 after a fresh token, or failed or answered nonsense (oversized, another terminal, implausible token) after the retry budget", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No usable Payroc Bearer token, or too many requests in flight (see Retry-After)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64))),
        (status = 504, description = "The last upstream attempt or the request's deadline ran out", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_session(State(state): State<AppState>, request: Request) -> Response {
    let _in_flight = state.metrics.in_flight();
    let (parts, body) = request.into_parts();
    // One snapshot of the accounts for the whole request, however a reload goes meanwhile.
    let snapshot = state.directory.snapshot();
    let mut chosen = None;
    let response = match state.admission.admit(&parts, &snapshot).await {
        Ok(caller) => validate_and_mint(&state, &snapshot, parts, body, caller, &mut chosen)
            .await
            .into_response(),
        Err(refusal) => refusal.into_response(),
    };
    let status = response.status().as_u16();
    match chosen {
        Some(account) if status == 201 => account.sessions_created.increment(1),
        account => state
            .metrics
            .session(account.as_ref().map_or("", |a| &a.name), status),
    }
    response
}

/// Everything after admission: headers, then the body (the client's time), then a place in
/// flight and one mint (the broker's time: the deadline starts here).
async fn validate_and_mint(
    state: &AppState,
    snapshot: &Snapshot,
    parts: Parts,
    body: Body,
    caller: Caller,
    chosen: &mut Option<Arc<Account>>,
) -> Result<Response, ApiError> {
    refuse_declared_excess(&parts.headers, state.body_limit)?;
    let key = idempotency_key(&parts.headers)?;
    let json = is_json(&parts.headers);
    let body = read_within(body, state.body_limit, state.body_timeout).await?;
    let request = parse_body(json, &body)?;
    let requester = match caller {
        Caller::Anonymous => Requester::Browser(parts.headers.get(header::ORIGIN)),
        Caller::Internal => Requester::Operator,
        Caller::Service(service) => Requester::Service(service),
    };
    let (account, terminal) =
        snapshot.route(request.processing_terminal_id.as_deref(), requester)?;
    *chosen = Some(Arc::clone(account));
    let _place = state.admission.reserve()?;
    let deadline = Instant::now() + state.deadline;
    // Created with its fields at once: recording them later would re-format the span.
    let span =
        tracing::debug_span!("session", ?caller, account = %account.name, idempotency_key = %key);
    mint(state, request, caller, account, terminal, &key, deadline)
        .instrument(span)
        .await
}

/// Checks what depends on the caller, then mints the session.
async fn mint(
    state: &AppState,
    request: SessionRequest,
    caller: Caller,
    account: &Account,
    terminal: &Terminal,
    key: &IdempotencyKey,
    deadline: Instant,
) -> Result<Response, ApiError> {
    if request.secure_token_id.is_some() && !caller.is_internal() {
        return Err(ApiError::Forbidden(
            "secureTokenId may only be sent by an authenticated internal caller.".into(),
        ));
    }
    let mint = MintRequest {
        tokens: &account.token.cache,
        url: &terminal.url,
        terminal: &terminal.id,
        body: CreateSession {
            lib_version: &state.library.lib_version,
            scenario: request.scenario,
            secure_token_id: request.secure_token_id.as_deref(),
        },
        key,
        deadline,
    };
    let (session, attempts) = state.minter.mint(&mint).await?;
    // Per-request success is debug: metrics count sessions, and a line per request would be
    // most of the log volume and a measurable share of the CPU.
    tracing::debug!(terminal = %terminal.id, scenario = ?request.scenario, attempts, "session created");
    let body = SessionResponse {
        session_token: session.token.expose(),
        expires_at: &session.expires_at_text,
        expires_in_seconds: seconds_until(session.expires_at, OffsetDateTime::now_utc()),
        processing_terminal_id: &session.processing_terminal_id,
        scenario: request.scenario,
        library: &state.library,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response())
}

/// Whole seconds from `now` to `expires_at`, rounded down, never negative.
fn seconds_until(expires_at: OffsetDateTime, now: OffsetDateTime) -> u64 {
    u64::try_from((expires_at - now).whole_seconds()).unwrap_or(0)
}

fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    match headers.get(idempotency::HEADER) {
        None => Ok(IdempotencyKey::generate()),
        Some(value) => {
            IdempotencyKey::from_caller(value.as_bytes()).map_err(|e| ApiError::InvalidRequest {
                detail: e.to_string(),
                errors: vec![field_error("Idempotency-Key", e.to_string())],
            })
        }
    }
}

mod body;
#[cfg(test)]
mod tests;
