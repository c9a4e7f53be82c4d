//! `GET /metrics`: Prometheus text exposition of this application's metrics.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use tokio::time::Instant;

use crate::{
    http::state::AppState,
    metrics::TokenGauges,
    token::{FailureKind, TokenState},
};

/// Prometheus' text format version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // The account gauges are computed now, so they are exact when scraped (and a removed
    // account's series, no longer set, ages out).
    let now = Instant::now();
    let snapshot = state.directory.snapshot();
    for account in &snapshot.accounts {
        let gauges = gauges(&account.token.cache.snapshot(), now);
        state.metrics.set_account_token(&account.name, gauges);
    }
    state.metrics.set_accounts(snapshot.accounts.len());
    if let Some(fleet) = state.admission.fleet() {
        state.metrics.set_rate_limit_redis_up(fleet.is_up());
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.metrics.render(),
    )
        .into_response()
}

fn gauges(token: &TokenState, now: Instant) -> TokenGauges {
    let usable = token.usable(now).is_some();
    TokenGauges {
        expires_in: token
            .current
            .as_ref()
            .map(|t| t.expires_at.saturating_duration_since(now)),
        usable,
        key_rejected: !usable
            && token
                .last_failure
                .as_ref()
                .is_some_and(|f| f.kind == FailureKind::KeyRejected),
    }
}
