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
use super::state::Shared;

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
    shared
        .counters
        .identity_calls
        .fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    // Read (and ignore) any body, so a dropped answer really follows a fully read request.
    let _ = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let latency = shared.lock().identity_latency;
    tokio::time::sleep(latency).await;
    let response = shared.answer_identity(&parts.headers);
    tracing::debug!(
        status = response.status().as_u16(),
        "fake payroc answered /authorize"
    );
    response
}

impl Shared {
    /// An injected fault wins over everything, a wrong key included, so a test that sets one
    /// gets exactly that answer.
    fn answer_identity(&self, headers: &HeaderMap) -> Response {
        let mut state = self.lock();
        match state.identity_fault.clone() {
            IdentityFault::None => {}
            IdentityFault::Status {
                status,
                retry_after_secs,
            } => return with_retry_after(problem_for_status(status), retry_after_secs),
            IdentityFault::RejectKey => return not_authorized().into_response(),
            IdentityFault::MissingToken => {
                return token_response(None, wire_seconds(state.config.token_lifetime));
            }
            IdentityFault::ZeroExpiry => return token_response(Some(&random_access_token()), 0),
            IdentityFault::Drop => return (StatusCode::OK, abort_before_head()).into_response(),
            IdentityFault::EndlessBody => {
                return oversized(StatusCode::OK, TOKEN_PREFIX, Oversize::Endless);
            }
            IdentityFault::HugeBody => {
                return oversized(StatusCode::OK, TOKEN_PREFIX, Oversize::Huge);
            }
        }
        let key_matches = headers
            .get("x-api-key")
            .is_some_and(|key| key.as_bytes() == state.config.api_key.as_bytes());
        if !key_matches {
            return not_authorized().into_response();
        }
        let token = random_access_token();
        let lifetime = state.config.token_lifetime;
        state
            .tokens
            .insert(token.clone(), (Instant::now(), lifetime));
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        token_response(Some(&token), wire_seconds(lifetime))
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
