//! `POST /authorize`: trades the `x-api-key` for a Bearer token, unless an [`IdentityFault`]
//! says to misbehave.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use super::MAX_BODY_BYTES;
use super::lost::abort_before_head;
use super::oversized::{Oversize, oversized};
use super::problem::{Problem, not_authorized, problem_for_status};
use super::state::{IssuedToken, Shared};

/// Payroc's access tokens are long opaque strings; 48 keeps clients from assuming a length.
const ACCESS_TOKEN_LEN: usize = 48;

/// How an oversized token answer starts; whitespace padding follows.
const TOKEN_PREFIX: &str = r#"{"token_type": "Bearer", "expires_in": 3600, "access_token": "#;

/// How the identity endpoint misbehaves; it keeps doing so until set back to `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IdentityFault {
    /// Behave normally.
    #[default]
    None,
    /// Answer with this status (e.g. 503, 500, 429), a problem+json body, and
    /// `Retry-After: <secs>` when `Some`. An invalid status becomes 500.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Reject the API key: 401 problem (as when the key is wrong).
    RejectKey,
    /// 200 with a JSON body lacking `access_token`.
    MissingToken,
    /// 200 with `expires_in: 0` (the token is not stored: it is dead on arrival).
    ZeroExpiry,
    /// Accept the TCP connection, read the request, then close it without answering.
    Drop,
    /// 200 whose JSON body never ends (chunked, no length).
    EndlessBody,
    /// 200 declaring a 300 MB `Content-Length` (and sending all of it, if read).
    HugeBody,
}

pub(super) async fn authorize(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // Held until the answer is built, latency included, so the peak counts overlapping calls.
    let _in_flight = shared.counters.enter_identity();
    shared
        .counters
        .identity_calls
        .fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let latency = {
        let mut state = shared.lock();
        if let Some(key) = presented_key(&parts.headers).and_then(|k| str::from_utf8(k).ok()) {
            *state
                .identity_calls_by_key
                .entry(key.to_owned())
                .or_default() += 1;
        }
        if let Some(traceparent) = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
        {
            state.identity_traceparents.push(traceparent.to_owned());
        }
        state.identity_latency
    };
    // Read (and ignore) any body, so a dropped answer really follows a fully read request.
    let _ = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    tokio::time::sleep(latency).await;
    let response = shared.answer_identity(&parts.headers);
    tracing::debug!(
        status = response.status().as_u16(),
        "fake payroc answered /authorize"
    );
    response
}

fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get("x-api-key").map(HeaderValue::as_bytes)
}

impl Shared {
    /// An injected fault wins over everything, a wrong key included, so a test that sets one
    /// gets exactly that answer. The global fault wins over a per-key one.
    fn answer_identity(&self, headers: &HeaderMap) -> Response {
        let mut state = self.lock();
        let presented = presented_key(headers);
        let fault = match &state.identity_fault {
            IdentityFault::None => presented
                .and_then(|key| str::from_utf8(key).ok())
                .and_then(|key| state.identity_faults_by_key.get(key))
                .cloned()
                .unwrap_or_default(),
            global => global.clone(),
        };
        if let Some(response) = fault.answer(state.config.token_lifetime) {
            return response;
        }
        let Some((account, api_key)) = presented.and_then(|key| state.account_of_key(key)) else {
            return not_authorized().into_response();
        };
        let token = random_access_token();
        let issued = IssuedToken {
            issued: Instant::now(),
            lifetime: state.config.token_lifetime,
            account,
            api_key: api_key.to_owned(),
        };
        let wire = wire_seconds(issued.lifetime);
        state.tokens.insert(token.clone(), issued);
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        token_response(Some(&token), wire)
    }
}

impl IdentityFault {
    /// The answer this fault gives instead of a normal one; `None` for no fault.
    fn answer(&self, token_lifetime: Duration) -> Option<Response> {
        Some(match self {
            Self::None => return None,
            Self::Status {
                status,
                retry_after_secs,
            } => with_retry_after(problem_for_status(*status), *retry_after_secs),
            Self::RejectKey => not_authorized().into_response(),
            Self::MissingToken => token_response(None, wire_seconds(token_lifetime)),
            Self::ZeroExpiry => token_response(Some(&random_access_token()), 0),
            Self::Drop => (StatusCode::OK, abort_before_head()).into_response(),
            Self::EndlessBody => oversized(StatusCode::OK, TOKEN_PREFIX, Oversize::Endless),
            Self::HugeBody => oversized(StatusCode::OK, TOKEN_PREFIX, Oversize::Huge),
        })
    }
}

/// `expires_in` is whole seconds; a sub-second lifetime still announces 1, never 0.
fn wire_seconds(lifetime: Duration) -> u64 {
    lifetime.as_secs().max(1)
}

/// The identity success body; `None` leaves `access_token` out (the `MissingToken` fault).
fn token_response(token: Option<&str>, expires_in: u64) -> Response {
    let mut body = json!({
        "expires_in": expires_in,
        "scope": "service_a service_b",
        "token_type": "Bearer",
    });
    if let Some(token) = token {
        body["access_token"] = Value::from(token);
    }
    axum::Json(body).into_response()
}

fn with_retry_after(problem: Problem, retry_after_secs: Option<u64>) -> Response {
    let mut response = problem.into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn random_access_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(ACCESS_TOKEN_LEN)
        .map(char::from)
        .collect()
}
