//! `GET /healthz` (liveness) and `GET /readyz` (readiness, with the token's state).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::{
    http::{
        error::{Expected, Problem},
        state::AppState,
    },
    token::{FailureKind, TokenState, token_state},
};

#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Liveness",
    responses((status = 200, description = "The process serves", example = json!({"status": "ok"}))))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// What `/readyz` reports about the Bearer token (never the token itself).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenReport {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_seconds: Option<u64>,
    /// The last failure's class only: its message (an upstream's words, a file path) goes to
    /// the logs, never into a public body.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'static str>,
}

/// The coarse class of a failed fetch, as shown publicly.
pub fn failure_class(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Transient => "identity unavailable",
        FailureKind::KeyRejected => "key rejected",
        FailureKind::KeyUnavailable => "key unavailable",
    }
}

/// Unready until every account has settled and one has a token, and from the moment
/// shutdown begins; a later identity outage does not flip it (the tokens' state shows in the
/// body instead).
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness",
    responses(
        (status = 200, description = "A Bearer token has been obtained (the token's state is in the body)",
            example = json!({"status": "ready", "token": {"state": "valid", "expiresInSeconds": 3540}})),
        (status = 503, description = "No token yet, or shutting down", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let unready = |detail: String| {
        let mut problem = Problem::for_status(StatusCode::SERVICE_UNAVAILABLE);
        problem.detail = detail;
        let mut response = problem.into_response();
        // Not a failure to log: load balancers probe an unready replica every few seconds.
        response.extensions_mut().insert(Expected);
        response
    };
    let snapshot = state.directory.snapshot();
    let ready = state.directory.ready();
    let now = Instant::now();
    // One account: its token, as in Part 1. Several: how many are in each state.
    let body = if let [account] = snapshot.accounts.as_slice() {
        let report = token_report(&account.token.cache.snapshot(), now);
        if state.is_draining() {
            return unready(format!("Shutting down (token: {})", report.state));
        }
        if ready.is_err() {
            let reason = report.last_error.unwrap_or("starting");
            return unready(format!(
                "No usable Payroc Bearer token yet: {reason} (token: {})",
                report.state
            ));
        }
        json!({"status": "ready", "token": report})
    } else {
        let mut counts = BTreeMap::new();
        for account in &snapshot.accounts {
            *counts
                .entry(token_state(&account.token.cache.snapshot(), now))
                .or_insert(0_usize) += 1;
        }
        if state.is_draining() {
            return unready("Shutting down".into());
        }
        if let Err(settling) = ready {
            return unready(format!(
                "Accounts still settling: {} of {} settled, {} with a Bearer token",
                settling.settled, settling.accounts, settling.obtained
            ));
        }
        json!({"status": "ready", "accounts": {"total": snapshot.accounts.len(), "tokens": counts}})
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// One account's token as Part 1's `/readyz` shows it.
fn token_report(snapshot: &TokenState, now: Instant) -> TokenReport {
    let usable = snapshot.usable(now);
    TokenReport {
        state: match (&usable, &snapshot.last_failure) {
            (Some(_), None) => "valid",
            (Some(_), Some(_)) => "valid-refresh-failing",
            (None, Some(f)) if f.kind == FailureKind::KeyRejected => "api-key-rejected",
            (None, Some(_)) => "unavailable",
            (None, None) => "fetching",
        },
        expires_in_seconds: usable.map(|t| t.expires_at.saturating_duration_since(now).as_secs()),
        last_error: snapshot
            .last_failure
            .as_ref()
            .map(|f| failure_class(f.kind)),
    }
}
