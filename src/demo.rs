//! `demo` mode: an in-process fake Payroc on a loopback port and the broker talking to it over
//! real HTTP, plus a demo checkout page at `/`. Needs no credentials and no network.

use std::time::Duration;

use axum::{Router, response::Html, routing::get};
use secrecy::SecretString;

use crate::{
    config::RawSettings,
    fake_payroc::{FakePayroc, FakePayrocConfig},
    state::AppState,
};

/// The demo checkout page.
const PAGE: &str = include_str!("../static/demo.html");

/// Demo sessions live this long, so expiry and renewal can be watched (Payroc: 10 minutes).
pub const DEMO_SESSION_LIFETIME: Duration = Duration::from_secs(120);

/// Starts the fake Payroc and points the raw settings at it.
pub async fn start_fake(raw: &mut RawSettings) -> std::io::Result<FakePayroc> {
    let mut fake_config = FakePayrocConfig {
        session_lifetime: DEMO_SESSION_LIFETIME,
        ..FakePayrocConfig::default()
    };
    if raw.payroc.terminals.is_empty() {
        raw.payroc.terminals.clone_from(&fake_config.terminals);
    } else {
        fake_config.terminals.clone_from(&raw.payroc.terminals);
    }
    let fake = FakePayroc::start(fake_config).await?;
    raw.payroc.identity_url = Some(fake.identity_url().to_string());
    raw.payroc.api_url = Some(fake.api_url().to_string());
    raw.payroc.api_key = Some(SecretString::from(fake.api_key()));
    raw.payroc.api_key_file = None;
    // Short sessions: a caller-chosen key may replay one with less than 10 s left.
    raw.payroc.session_expiry_margin_ms = raw.payroc.session_expiry_margin_ms.min(10_000);
    Ok(fake)
}

/// The page at `/`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(|| async { Html(PAGE) }))
}
