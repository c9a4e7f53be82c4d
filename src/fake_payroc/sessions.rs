//! `POST /v1/processing-terminals/{id}/hosted-fields-sessions`: runs Payroc's checks in
//! Payroc's order, then creates a session or replays the one stored under the
//! `Idempotency-Key`.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use uuid::Uuid;

use super::checks::{
    bearer_token, check_accept, check_content_type, check_idempotency_key, validate_body,
};
use super::lost::abort_after_head;
use super::oversized::oversized;
use super::problem::{Problem, key_in_use, not_authorized, problem_for_status};
use super::session_fault::{CreatedBody, SESSION_PREFIX};
use super::state::{FakeState, Shared, StoredSession};
use super::{MAX_BODY_BYTES, RecordedSessionRequest};

pub(super) const SESSIONS_ROUTE: &str =
    "/v1/processing-terminals/{processingTerminalId}/hosted-fields-sessions";
/// `processingTerminalId` length bounds from the spec.
const TERMINAL_ID_CHARS: RangeInclusive<usize> = 4..=50;
/// `expiresAt` as Payroc writes it: milliseconds and a numeric offset.
const EXPIRES_AT_FORMAT: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
);

/// A session request as read off the wire.
struct Incoming {
    /// Percent-decoded path segment.
    terminal: String,
    /// Raw request path: part of what an idempotency key is bound to.
    path: String,
    /// Absolute request URL, for `instance`.
    url: String,
    /// Absolute URL of the path alone: new sessions are located under it.
    resource_url: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    body: Bytes,
}

pub(super) async fn create_session(
    State(shared): State<Arc<Shared>>,
    terminal: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    shared
        .counters
        .session_calls
        .fetch_add(1, Ordering::Relaxed);
    let incoming = Incoming::read(&shared.origin, terminal, request).await;
    let latency = shared.lock().session_latency;
    tokio::time::sleep(latency).await;
    let reply = shared.answer_session(&incoming);
    tracing::debug!(
        status = reply.status().as_u16(),
        "fake payroc answered a session request"
    );
    reply.into_response()
}

impl Incoming {
    async fn read(
        origin: &str,
        terminal: Result<Path<String>, PathRejection>,
        request: Request,
    ) -> Self {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        // A segment that is not UTF-8 once decoded names no terminal; keep it raw (→ 403).
        let terminal = terminal.map_or_else(|_| raw_segment(&path), |Path(id)| id);
        // An oversized body reads as empty, which then fails JSON parsing (→ 400).
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        let header = |name| header_text(&parts.headers, name);
        Self {
            terminal,
            url: format!("{origin}{}", parts.uri),
            resource_url: format!("{origin}{path}"),
            authorization: header("authorization"),
            idempotency_key: header("idempotency-key"),
            content_type: header("content-type"),
            accept: header("accept"),
            body,
            path,
        }
    }

    fn record(&self, status: StatusCode) -> RecordedSessionRequest {
        RecordedSessionRequest {
            terminal: self.terminal.clone(),
            authorization: self.authorization.clone(),
            idempotency_key: self.idempotency_key.clone(),
            content_type: self.content_type.clone(),
            accept: self.accept.clone(),
            body: serde_json::from_slice(&self.body).ok(),
            status: status.as_u16(),
        }
    }
}

/// `/v1/processing-terminals/{id}/...` → `{id}`, undecoded.
fn raw_segment(path: &str) -> String {
    path.split('/').nth(3).unwrap_or_default().to_owned()
}

/// All values of a header, joined as HTTP allows; lossy so odd bytes still get recorded.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// What a session request earns.
enum SessionReply {
    /// A 201, new or replayed; `dropped` kills the connection after the headers.
    Session {
        location: String,
        body: CreatedBody,
        dropped: bool,
    },
    Problem(Problem),
}

impl SessionReply {
    fn status(&self) -> StatusCode {
        match self {
            Self::Session { .. } => StatusCode::CREATED,
            Self::Problem(problem) => problem.status,
        }
    }
}

impl IntoResponse for SessionReply {
    fn into_response(self) -> Response {
        let (location, body, dropped) = match self {
            Self::Problem(problem) => return problem.into_response(),
            Self::Session {
                location,
                body,
                dropped,
            } => (location, body, dropped),
        };
        let mut response = match body {
            _ if dropped => (StatusCode::CREATED, abort_after_head()).into_response(),
            CreatedBody::Json(answer) => (StatusCode::CREATED, answer.to_string()).into_response(),
            CreatedBody::Oversized(size) => oversized(StatusCode::CREATED, SESSION_PREFIX, size),
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(location) = HeaderValue::from_str(&location) {
            headers.insert(LOCATION, location);
        }
        response
    }
}

impl Shared {
    /// Decides, counts, records and consumes a pending drop, all under one lock.
    fn answer_session(&self, incoming: &Incoming) -> SessionReply {
        let mut state = self.lock();
        let reply = match state.decide_session(incoming) {
            Err(problem) => SessionReply::Problem(problem),
            Ok((session, created)) => {
                if created {
                    self.counters
                        .sessions_created
                        .fetch_add(1, Ordering::Relaxed);
                }
                let dropped = state.drops_left > 0;
                state.drops_left = state.drops_left.saturating_sub(1);
                let body = state
                    .session_fault
                    .created_body(session.to_json(), &state.config.terminals);
                SessionReply::Session {
                    location: session.location,
                    body,
                    dropped,
                }
            }
        };
        state.requests.push(incoming.record(reply.status()));
        reply
    }
}

impl FakeState {
    /// The checks in Payroc's order; `Ok` carries the session and whether it is new.
    fn decide_session(&mut self, incoming: &Incoming) -> Result<(StoredSession, bool), Problem> {
        if let Some(problem) = self.take_injected_failure() {
            return Err(problem);
        }
        self.check_bearer(incoming.authorization.as_deref())?;
        let key = check_idempotency_key(incoming.idempotency_key.as_deref())?;
        check_content_type(incoming.content_type.as_deref())?;
        check_accept(incoming.accept.as_deref())?;
        let body = validate_body(&incoming.body)?;
        self.check_terminal(&incoming.terminal, &incoming.url)?;
        self.replay_or_create(key, incoming, body)
    }

    fn take_injected_failure(&mut self) -> Option<Problem> {
        if let Some(problem) = self.session_fault.problem() {
            return Some(problem);
        }
        if self.failures_left == 0 {
            return None;
        }
        self.failures_left -= 1;
        Some(problem_for_status(self.failure_status))
    }

    fn check_bearer(&self, authorization: Option<&str>) -> Result<(), Problem> {
        let live = authorization
            .and_then(bearer_token)
            .and_then(|token| self.tokens.get(token))
            .is_some_and(|(issued, lifetime)| issued.elapsed() < *lifetime);
        if live { Ok(()) } else { Err(not_authorized()) }
    }

    fn check_terminal(&self, terminal: &str, url: &str) -> Result<(), Problem> {
        let well_formed = TERMINAL_ID_CHARS.contains(&terminal.chars().count());
        if well_formed && self.config.terminals.iter().any(|known| known == terminal) {
            return Ok(());
        }
        let detail = "You do not have the required permissions to perform this action";
        let problem = Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail);
        Err(problem
            .with("instance", url)
            .with("resource", "processingTerminal"))
    }

    /// Payroc binds a key to the URI and body: same both → replay verbatim, else 409.
    fn replay_or_create(
        &mut self,
        key: &str,
        incoming: &Incoming,
        body: Value,
    ) -> Result<(StoredSession, bool), Problem> {
        if let Some(stored) = self.sessions.get(key) {
            return if stored.path == incoming.path && stored.body == body {
                Ok((stored.clone(), false))
            } else {
                Err(key_in_use(&incoming.url))
            };
        }
        let session = StoredSession {
            location: format!("{}/{}", incoming.resource_url, Uuid::new_v4()),
            path: incoming.path.clone(),
            body,
            terminal: incoming.terminal.clone(),
            token: random_session_token(),
            expires_at: OffsetDateTime::now_utc() + self.config.session_lifetime,
        };
        self.sessions.insert(key.to_owned(), session.clone());
        Ok((session, true))
    }
}

impl StoredSession {
    fn to_json(&self) -> Value {
        json!({
            "processingTerminalId": self.terminal,
            "token": self.token,
            "expiresAt": format_expires_at(self.expires_at),
        })
    }
}

pub(super) fn format_expires_at(at: OffsetDateTime) -> String {
    at.format(EXPIRES_AT_FORMAT)
        .expect("a four-digit year with a UTC offset always formats")
}

/// 32 lowercase hex characters, like the spec's `abcdef1234567890abcdef1234567890`.
fn random_session_token() -> String {
    Uuid::from_bytes(rand::rng().random()).simple().to_string()
}
