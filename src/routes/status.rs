//! `GET /status`: for operators, each account's token state, the services, and the tenants
//! file's last reload. On the admin listener without authentication; on the public one only
//! for `BROKER__CALLERS__KEYS` holders. Never a key, a token or a fingerprint of one.

use axum::{
    Json,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::{
    http::{error::Problem, state::AppState},
    routes::health::failure_class,
    token::token_state,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountStatus<'a> {
    name: &'a str,
    terminals: usize,
    token: TokenStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenStatus {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<&'static str>,
    /// Seconds until the next fetch after a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_in_seconds: Option<u64>,
}

#[derive(Serialize)]
struct ServiceStatus<'a> {
    name: &'a str,
    account: &'a str,
    rules: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantsFile {
    file: Option<String>,
    last_applied_at: Option<String>,
    last_error: Option<String>,
}

#[utoipa::path(get, path = "/status", tag = "operations", summary = "Accounts, services and the tenants file (operators)",
    security(("callerKey" = [])),
    responses(
        (status = 200, description = "Per account its token state; per service its account; the tenants file's last reload",
            example = json!({"accounts": [{"name": "default", "terminals": 2, "token": {"state": "valid", "expiresInSeconds": 3540}}],
                "services": [], "tenants": {"file": null, "lastAppliedAt": null, "lastError": null}})),
        (status = 401, description = "No BROKER__CALLERS__KEYS key (public listener only)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn public(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    match state.admission.operator(&parts) {
        Ok(()) => report(&state).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The admin listener's `/status`: whoever reaches that port is an operator.
pub async fn admin(State(state): State<AppState>) -> Response {
    report(&state).into_response()
}

fn report(state: &AppState) -> Json<serde_json::Value> {
    let snapshot = state.directory.snapshot();
    let now = Instant::now();
    let accounts: Vec<AccountStatus<'_>> = snapshot
        .accounts
        .iter()
        .map(|account| {
            let token = account.token.cache.snapshot();
            let usable = token.usable(now);
            AccountStatus {
                name: &account.name,
                terminals: account.terminals.len(),
                token: TokenStatus {
                    state: token_state(&token, now),
                    expires_in_seconds: usable
                        .map(|t| t.expires_at.saturating_duration_since(now).as_secs()),
                    last_error: token.last_failure.as_ref().map(|f| failure_class(f.kind)),
                    next_attempt_in_seconds: token
                        .last_failure
                        .as_ref()
                        .map(|f| f.retry_at.saturating_duration_since(now).as_secs()),
                },
            }
        })
        .collect();
    let services: Vec<ServiceStatus<'_>> = snapshot
        .services
        .iter()
        .map(|service| ServiceStatus {
            name: &service.name,
            account: &snapshot.accounts[service.account].name,
            rules: service.rules.len(),
        })
        .collect();
    let tenants = state.directory.tenants_status();
    let tenants = TenantsFile {
        file: tenants.file.map(|f| f.display().to_string()),
        last_applied_at: tenants.last_applied.and_then(|t| t.format(&Rfc3339).ok()),
        last_error: tenants.last_error,
    };
    // The rate limit's store: off, in memory per replica, or Redis (with its state).
    let rate_limit = match (state.admission.limited(), state.admission.fleet()) {
        (false, _) => serde_json::json!({"store": "off"}),
        (true, None) => serde_json::json!({"store": "memory"}),
        (true, Some(fleet)) => serde_json::json!({"store": "redis", "redis": fleet.status()}),
    };
    Json(serde_json::json!({
        "accounts": accounts,
        "services": services,
        "tenants": tenants,
        "rateLimit": rate_limit,
    }))
}
