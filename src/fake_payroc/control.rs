//! The fake's own control surface, for `demo` and browser tests that cannot reach the Rust
//! handle: `GET /_control` reports counters and the idempotency keys seen, `POST /_control`
//! injects faults (`{"identityFault": "down", "revokeTokens": true, ...}`). And a stand-in for
//! Payroc's CDN: `GET /js/hosted-fields/{file}` serves the demo's stand-in library.

use std::{sync::Weak, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha384};

use super::{FakePayroc, Handle, IdentityFault, SessionFault};

/// The stand-in for Payroc's Hosted Fields library served in `demo` mode.
pub const STANDIN_SCRIPT: &str = include_str!("../../static/hosted-fields-standin.js");

/// The SRI hash (`sha384-…`) of [`STANDIN_SCRIPT`].
pub fn standin_integrity() -> String {
    let digest = Sha384::digest(STANDIN_SCRIPT.as_bytes());
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The handlers reach the fake through a weak handle, so the server does not keep itself alive.
pub(super) type ControlState = Weak<Handle>;

fn upgrade(handle: &ControlState) -> Option<FakePayroc> {
    handle.upgrade().map(|inner| FakePayroc { inner })
}

/// Faults to inject; every member optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Faults {
    /// `none`, `down` (503), `reject` (401), `missing-token`, `drop`, `endless-body`,
    /// `huge-body`.
    identity_fault: Option<String>,
    /// `none`, `endless-body`, `huge-body`, `wrong-terminal`, `long-token` (1 MiB),
    /// `long-detail` (a 400 whose detail is 2.8 MB).
    session_fault: Option<String>,
    /// Next n session POSTs answer `failStatus` (default 503).
    fail_next_sessions: Option<u32>,
    fail_status: Option<u16>,
    drop_next_sessions: Option<u32>,
    session_latency_ms: Option<u64>,
    session_lifetime_secs: Option<u64>,
    revoke_tokens: bool,
    expire_sessions: bool,
}

pub(super) async fn report(State(handle): State<ControlState>) -> Response {
    let Some(fake) = upgrade(&handle) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let keys: Vec<Option<String>> = fake
        .session_requests()
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    Json(json!({
        "identityCalls": fake.identity_calls(),
        "tokensIssued": fake.tokens_issued(),
        "sessionCalls": fake.session_calls(),
        "sessionsCreated": fake.sessions_created(),
        "idempotencyKeys": keys,
    }))
    .into_response()
}

pub(super) async fn inject(
    State(handle): State<ControlState>,
    Json(faults): Json<Faults>,
) -> Response {
    let Some(fake) = upgrade(&handle) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if let Some(name) = faults.identity_fault.as_deref() {
        let fault = match name {
            "none" => IdentityFault::None,
            "down" => IdentityFault::Status {
                status: 503,
                retry_after_secs: None,
            },
            "reject" => IdentityFault::RejectKey,
            "missing-token" => IdentityFault::MissingToken,
            "drop" => IdentityFault::Drop,
            "endless-body" => IdentityFault::EndlessBody,
            "huge-body" => IdentityFault::HugeBody,
            other => return unknown("identityFault", other),
        };
        fake.set_identity_fault(fault);
    }
    if let Some(name) = faults.session_fault.as_deref() {
        let fault = match name {
            "none" => SessionFault::None,
            "endless-body" => SessionFault::EndlessBody,
            "huge-body" => SessionFault::HugeBody,
            "wrong-terminal" => SessionFault::WrongTerminal,
            "long-token" => SessionFault::LongToken(1 << 20),
            "long-detail" => SessionFault::LongDetail {
                status: 400,
                chars: 2_800_000,
            },
            other => return unknown("sessionFault", other),
        };
        fake.set_session_fault(fault);
    }
    if let Some(n) = faults.fail_next_sessions {
        fake.fail_next_sessions(n, faults.fail_status.unwrap_or(503));
    }
    if let Some(n) = faults.drop_next_sessions {
        fake.drop_next_sessions(n);
    }
    if let Some(ms) = faults.session_latency_ms {
        fake.set_session_latency(Duration::from_millis(ms));
    }
    if let Some(secs) = faults.session_lifetime_secs {
        fake.set_session_lifetime(Duration::from_secs(secs));
    }
    if faults.revoke_tokens {
        fake.revoke_all_tokens();
    }
    if faults.expire_sessions {
        fake.expire_sessions();
    }
    report(State(handle)).await
}

fn unknown(member: &str, value: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("unknown {member} {value:?}"),
    )
        .into_response()
}

/// The stand-in library, cross-origin readable so `integrity` + `crossorigin` work.
pub(super) async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        STANDIN_SCRIPT,
    )
        .into_response()
}
