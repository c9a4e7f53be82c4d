//! `GET /healthz` (liveness) and `GET /readyz` (readiness, with the token's state).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::{
    http::{error::Problem, state::AppState},
    token::FailureKind,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

/// Unready until the first token and from the moment shutdown begins; a later identity
/// outage does not flip it (the token's state shows in the body instead).
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Readiness",
    responses(
        (status = 200, description = "A Bearer token has been obtained (the token's state is in the body)",
            example = json!({"status": "ready", "token": {"state": "valid", "expiresInSeconds": 3540}})),
        (status = 503, description = "No token yet, or shutting down", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let snapshot = state.tokens.snapshot();
    let now = Instant::now();
    let usable = snapshot.usable(now);
    let report = TokenReport {
        state: match (&usable, &snapshot.last_failure) {
            (Some(_), None) => "valid",
            (Some(_), Some(_)) => "valid-refresh-failing",
            (None, Some(f)) if f.kind == FailureKind::KeyRejected => "api-key-rejected",
            (None, Some(_)) => "unavailable",
            (None, None) => "fetching",
        },
        expires_in_seconds: usable.map(|t| t.expires_at.saturating_duration_since(now).as_secs()),
        last_error: snapshot.last_failure.map(|f| f.message),
    };
    let unready = |reason: &str| {
        let mut problem = Problem::for_status(StatusCode::SERVICE_UNAVAILABLE);
        problem.detail = match &report.last_error {
            Some(error) => format!("{reason} (token: {}; last error: {error})", report.state),
            None => format!("{reason} (token: {})", report.state),
        };
        problem.into_response()
    };
    if state.is_draining() {
        return unready("shutting down");
    }
    if !snapshot.ever_obtained {
        return unready("no Payroc Bearer token obtained yet");
    }
    (
        StatusCode::OK,
        Json(json!({"status": "ready", "token": report})),
    )
        .into_response()
}
