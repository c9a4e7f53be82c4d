//! `demo` mode: an in-process fake Payroc on a loopback port and the broker talking to it over
//! real HTTP, plus a demo checkout page at `/`. Needs no credentials and no network.
//!
//! Two shops, two accounts: `default` (terminals 1234001-2, any origin) and `second-shop`
//! (terminal 2234001, bound to `http://localhost:PORT`), each with its own key at the fake.
//! The page at `http://127.0.0.1:PORT/` gets the first's sessions, at
//! `http://localhost:PORT/` the second's. A service `demo-backend` of `default` may use the
//! fake's payments API through `/payroc/v1` with [`SERVICE_KEY`].

use std::{path::PathBuf, time::Duration};

use axum::{Router, http::header, response::Html, routing::get};
use secrecy::SecretString;

use crate::{
    config::RawSettings,
    fake_payroc::{
        DEFAULT_APPLE_DOMAIN_ID, FakeAccount, FakePayroc, FakePayrocConfig, standin_integrity,
    },
    http::state::AppState,
};

/// The demo checkout page.
const PAGE: &str = include_str!("../static/demo.html");

/// Starts the fake Payroc and points the raw settings at it.
pub async fn start_fake(raw: &mut RawSettings) -> std::io::Result<FakePayroc> {
    // Short sessions by default, so expiry and renewal can be watched (Payroc: 10 minutes).
    let mut fake_config = FakePayrocConfig {
        session_lifetime: Duration::from_secs(raw.demo.session_lifetime_secs.max(1)),
        token_lifetime: Duration::from_secs(raw.demo.token_lifetime_secs.max(1)),
        ..FakePayrocConfig::default()
    };
    if raw.payroc.terminals.is_empty() {
        raw.payroc.terminals.clone_from(&fake_config.terminals);
    } else {
        fake_config.terminals.clone_from(&raw.payroc.terminals);
    }
    fake_config.other_accounts.push(FakeAccount {
        api_key: SECOND_KEY.to_owned(),
        terminals: vec![SECOND_TERMINAL.to_owned()],
        apple_domain_ids: vec![SECOND_APPLE_DOMAIN.to_owned()],
    });
    resolve_port(raw)?;
    if raw.apple_pay.domains.is_empty() {
        // The page at http://127.0.0.1:PORT offers Apple Pay with the default account.
        raw.apple_pay.domains = vec![format!(
            "http://127.0.0.1:{}={DEFAULT_APPLE_DOMAIN_ID}",
            raw.server.listen.port()
        )];
    }
    let fake = FakePayroc::start(fake_config).await?;
    if raw.tenants.file.is_none() {
        // A read-only image (scratch, no /tmp) cannot hold the file: one shop then.
        match second_shop(raw) {
            Ok(file) => raw.tenants.file = Some(file),
            Err(error) => {
                eprintln!("demo: no second shop (cannot write its tenants file: {error})");
            }
        }
    }
    raw.payroc.identity_url = Some(fake.identity_url().to_string());
    raw.payroc.api_url = Some(fake.api_url().to_string());
    raw.payroc.api_key = Some(SecretString::from(fake.api_key()));
    raw.payroc.api_key_file = None;
    // The fake also plays Payroc's CDN: it serves a stand-in library with its SRI hash.
    let lib_version = raw
        .payroc
        .lib_version
        .clone()
        .unwrap_or_else(|| raw.payroc.environment.default_lib_version().to_owned());
    raw.payroc.script_url = Some(fake.script_url(&lib_version).to_string());
    raw.payroc.script_integrity = Some(standin_integrity());
    // Short sessions: refuse a replayed one only in its last quarter of life.
    let quarter = raw.demo.session_lifetime_secs * 1000 / 4;
    raw.payroc.session_expiry_margin_ms = raw.payroc.session_expiry_margin_ms.min(quarter);
    Ok(fake)
}

const SECOND_KEY: &str = "demo-api-key-second-shop";
/// The demo backend's service key (`Authorization: Bearer` at `/payroc/v1/...`).
pub const SERVICE_KEY: &str = "demo-backend-service-key";
const SECOND_TERMINAL: &str = "2234001";
/// The second shop's Apple Pay domain at the fake.
const SECOND_APPLE_DOMAIN: &str = "SECONDSHOP";

/// Port 0 is resolved to a free port first, so the pages' origins are known before the broker
/// binds.
fn resolve_port(raw: &mut RawSettings) -> std::io::Result<()> {
    if raw.server.listen.port() == 0 {
        let probe = std::net::TcpListener::bind(raw.server.listen)?;
        raw.server.listen = probe.local_addr()?;
    }
    Ok(())
}

/// Writes the tenants file of the second shop, bound to `http://localhost:PORT`, with Apple
/// Pay there too.
fn second_shop(raw: &RawSettings) -> std::io::Result<PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("hosted-fields-broker-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("tenants.toml");
    let toml = format!(
        "# Written by `demo`: a second shop with its own Payroc key, bound to its origin.\n\
         [[account]]\nname = \"second-shop\"\napi_key = \"{SECOND_KEY}\"\n\
         terminals = [\"{SECOND_TERMINAL}\"]\norigins = [\"http://localhost:{port}\"]\n\
         apple_pay_domains = {{ \"http://localhost:{port}\" = \"{SECOND_APPLE_DOMAIN}\" }}\n\n\
         # A backend that reaches the fake's payments API through /payroc/v1.\n\
         [[service]]\nname = \"demo-backend\"\nkey = \"{SERVICE_KEY}\"\naccount = \"default\"\n\
         payroc_api = [\"POST /payments\", \"GET /payments\", \"GET /payments/*\", \"POST /payments/*/refund\"]\n",
        port = raw.server.listen.port()
    );
    std::fs::write(&file, toml)?;
    Ok(file)
}

/// The demo's stand-in for Safari's `ApplePaySession` (the page loads it when the browser has
/// no Apple Pay of its own).
pub const APPLE_PAY_STANDIN: &str = include_str!("../static/apple-pay-standin.js");

/// The page at `/`, and the Apple Pay stand-in it loads.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/demo/apple-pay-standin.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-cache"),
                    ],
                    APPLE_PAY_STANDIN,
                )
            }),
        )
}
