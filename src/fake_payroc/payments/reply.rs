//! The answer a payments-endpoint request gets on the wire: none at all (refused), or a
//! response carrying the decoy headers a proxy in front must strip, possibly cut off after its
//! head (dropped).

use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::super::lost::{abort_after_head, abort_before_head};
use super::super::problem::{Problem, problem_for_status};
use super::store::SavedAnswer;

/// A cookie no browser should ever see coming through a proxy.
const SESSION_COOKIE: &str = "payroc_session=fake; Path=/; HttpOnly";
/// Hop-by-hop: meaningful only on the connection it arrived on.
const KEEP_ALIVE: &str = "timeout=5";
/// Not on any sane allow-list.
const TRACE_HEADER: &str = "x-payroc-trace";

/// What a payments-endpoint request earns.
pub(super) enum ApiReply {
    /// The connection closes before any answer.
    Refused,
    /// An answer; `dropped` kills the connection once its head is out.
    Answer { response: Response, dropped: bool },
}

impl ApiReply {
    /// An injected failure: the fake's problem for `status`, with `Retry-After` if asked.
    pub(super) fn failure(status: u16, retry_after: Option<u32>) -> Self {
        let mut response = problem_for_status(status).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        Self::Answer {
            response,
            dropped: false,
        }
    }

    /// The status the log records: what was (or would have been) answered, 0 for none.
    pub(super) fn recorded_status(&self) -> u16 {
        match self {
            Self::Refused => 0,
            Self::Answer { response, .. } => response.status().as_u16(),
        }
    }
}

impl IntoResponse for ApiReply {
    fn into_response(self) -> Response {
        let (mut response, dropped) = match self {
            Self::Refused => return (StatusCode::OK, abort_before_head()).into_response(),
            Self::Answer { response, dropped } => (response, dropped),
        };
        add_decoys(response.headers_mut());
        if !dropped {
            return response;
        }
        let (parts, _) = response.into_parts();
        Response::from_parts(parts, abort_after_head())
    }
}

fn add_decoys(headers: &mut HeaderMap) {
    headers.append(SET_COOKIE, HeaderValue::from_static(SESSION_COOKIE));
    headers.insert(
        HeaderName::from_static("keep-alive"),
        HeaderValue::from_static(KEEP_ALIVE),
    );
    headers.insert(
        HeaderName::from_static(TRACE_HEADER),
        HeaderValue::from_static("fake"),
    );
}

/// A JSON success body with `status`.
pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let content_type = [(CONTENT_TYPE, "application/json")];
    (status, content_type, body.to_string()).into_response()
}

impl SavedAnswer {
    /// The saved answer, byte for byte as first sent.
    pub(super) fn to_response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = json_response(status, &self.answer);
        if let Some(location) = self
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            response.headers_mut().insert(LOCATION, location);
        }
        response
    }
}

/// An endpoint's result as a response: its success through `ok`, or its problem.
pub(super) fn respond<T>(result: Result<T, Problem>, ok: impl FnOnce(T) -> Response) -> Response {
    result.map_or_else(IntoResponse::into_response, ok)
}
