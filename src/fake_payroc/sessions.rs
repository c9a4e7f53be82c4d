//! `POST /v1/processing-terminals/{id}/hosted-fields-sessions`: runs Payroc's checks in
//! Payroc's order, then creates a session or replays the one stored under the
//! `Idempotency-Key`.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
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
use super::incoming::Incoming;
use super::lost::abort_after_head;
use super::oversized::oversized;
use super::problem::{Problem, forbidden_terminal, key_in_use, not_authorized, problem_for_status};
use super::session_fault::{CreatedBody, SESSION_PREFIX};
use super::state::{FakeState, Shared, StoredSession};

pub(super) const SESSIONS_ROUTE: &str =
    "/v1/processing-terminals/{processingTerminalId}/hosted-fields-sessions";
/// `processingTerminalId` length bounds from the spec.
const TERMINAL_ID_CHARS: RangeInclusive<usize> = 4..=50;
/// `expiresAt` as Payroc writes it: milliseconds and a numeric offset.
const EXPIRES_AT_FORMAT: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
);

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
        let api_key = state.count_token_owner(incoming.authorization.as_deref());
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
        state
            .requests
            .push(incoming.record(reply.status(), api_key));
        reply
    }
}

impl FakeState {
    /// The checks in Payroc's order; `Ok` carries the session and whether it is new.
    fn decide_session(&mut self, incoming: &Incoming) -> Result<(StoredSession, bool), Problem> {
        if let Some(problem) = self.take_injected_failure() {
            return Err(problem);
        }
        let account = self.check_bearer(incoming.authorization.as_deref())?;
        let key = check_idempotency_key(incoming.idempotency_key.as_deref())?;
        check_content_type(incoming.content_type.as_deref())?;
        check_accept(incoming.accept.as_deref())?;
        let body = validate_body(&incoming.body)?;
        self.check_terminal(&incoming.terminal, &incoming.url, account)?;
        self.replay_or_create(account, key, incoming, body)
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

    /// The API key of the token `authorization` names, live or not, counted as one session
    /// call for that key; `None` if the fake did not issue it (or revoked it).
    fn count_token_owner(&mut self, authorization: Option<&str>) -> Option<String> {
        let token = authorization.and_then(bearer_token)?;
        let api_key = self.tokens.get(token)?.api_key.clone();
        *self
            .session_calls_by_key
            .entry(api_key.clone())
            .or_default() += 1;
        Some(api_key)
    }

    /// The account a live Bearer token was issued for.
    pub(super) fn check_bearer(&self, authorization: Option<&str>) -> Result<usize, Problem> {
        authorization
            .and_then(bearer_token)
            .and_then(|token| self.tokens.get(token))
            .filter(|token| token.is_live())
            .map(|token| token.account)
            .ok_or_else(not_authorized)
    }

    /// A terminal of another account earns the very 403 an unknown one does, as Payroc's
    /// permissions check cannot tell "not yours" from "does not exist".
    pub(super) fn check_terminal(
        &self,
        terminal: &str,
        url: &str,
        account: usize,
    ) -> Result<(), Problem> {
        let well_formed = TERMINAL_ID_CHARS.contains(&terminal.chars().count());
        if well_formed && self.account_of_terminal(terminal) == Some(account) {
            return Ok(());
        }
        Err(forbidden_terminal(url))
    }

    /// Payroc binds a key to the URI and body: same both → replay verbatim, else 409.
    ///
    /// Keys are scoped per account, as Payroc's idempotency records belong to the caller: one
    /// API key's token can never replay another's session, nor learn (by a 409) which keys
    /// another account used. The URI alone could not promise that, since a 403 for a foreign
    /// terminal comes first anyway; the scope also keeps replays working across the tokens of
    /// one account, a rotated key included.
    fn replay_or_create(
        &mut self,
        account: usize,
        key: &str,
        incoming: &Incoming,
        body: Value,
    ) -> Result<(StoredSession, bool), Problem> {
        let scoped = (account, key.to_owned());
        if let Some(stored) = self.sessions.get(&scoped) {
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
        self.sessions.insert(scoped, session.clone());
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
