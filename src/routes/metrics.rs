//! `GET /metrics`: Prometheus text exposition of this application's metrics.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use tokio::time::Instant;

use crate::http::state::AppState;

/// Prometheus' text format version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // The token gauges are computed now, so they are exact when scraped.
    let now = Instant::now();
    let snapshot = state.tokens.snapshot();
    let usable = snapshot.usable(now);
    let expires_in = snapshot
        .current
        .as_ref()
        .map(|t| t.expires_at.saturating_duration_since(now));
    state.metrics.set_token_state(expires_in, usable.is_some());
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.metrics.render(),
    )
        .into_response()
}
