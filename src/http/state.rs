//! Shared application state: a small `Clone` struct of handles, built once at start-up.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::http::HeaderValue;
use serde::Serialize;
use url::Url;

use super::{admission::Admission, error::ApiError};
use crate::{
    config::{ConnectionLimits, Settings},
    metrics::Metrics,
    mint::Minter,
    payroc::session_url,
    token::TokenCache,
};

/// One allowed processing terminal and its precomputed sessions URL.
#[derive(Debug)]
pub struct Terminal {
    pub id: String,
    pub url: Url,
}

/// The allow-list; the first terminal is the default.
#[derive(Debug)]
pub struct Terminals(Vec<Terminal>);

impl Terminals {
    pub fn new(ids: &[String], api_url: &Url) -> Self {
        Self(
            ids.iter()
                .map(|id| Terminal {
                    id: id.clone(),
                    url: session_url(api_url, id),
                })
                .collect(),
        )
    }

    /// The requested terminal if allowed, the default if none was asked for.
    pub fn resolve(&self, requested: Option<&str>) -> Result<&Terminal, ApiError> {
        match requested {
            None => Ok(&self.0[0]),
            Some(id) => self.0.iter().find(|t| t.id == id).ok_or_else(|| {
                ApiError::Forbidden(
                    "processingTerminalId is not a terminal this broker may use.".into(),
                )
            }),
        }
    }
}

/// What the page needs to load the Hosted Fields library matching the session; the same in
/// every session answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Library {
    /// The Hosted Fields library version the session was created for.
    pub lib_version: String,
    /// The library script the page must load (it must match `libVersion`).
    pub script_url: String,
    /// The script's SRI hash for `integrity`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_integrity: Option<String>,
}

/// Handles every request needs.
#[derive(Debug)]
pub struct Inner {
    pub minter: Minter,
    pub tokens: TokenCache,
    pub admission: Admission,
    pub terminals: Terminals,
    pub library: Library,
    pub deadline: Duration,
    pub body_limit: usize,
    /// A client must finish sending its body within this.
    pub body_timeout: Duration,
    pub connection_limits: ConnectionLimits,
    pub metrics: Metrics,
    /// Exact origins allowed to call from a browser.
    pub cors_origins: Vec<HeaderValue>,
    /// Set when shutdown begins; readiness answers 503 from then on.
    pub draining: AtomicBool,
}

/// Cheap to clone: one `Arc`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(settings: &Settings, minter: Minter, tokens: TokenCache, metrics: Metrics) -> Self {
        let payroc = &settings.payroc;
        Self(Arc::new(Inner {
            minter,
            tokens,
            admission: Admission::new(
                &settings.callers.keys,
                &settings.rate_limit,
                settings.server.max_in_flight,
                metrics.clone(),
            ),
            terminals: Terminals::new(&payroc.terminals, &payroc.api_url),
            library: Library {
                lib_version: payroc.lib_version.clone(),
                script_url: payroc.script_url.to_string(),
                script_integrity: payroc.script_integrity.clone(),
            },
            deadline: payroc.deadline,
            body_limit: settings.server.body_limit_bytes,
            body_timeout: settings.server.body_timeout,
            connection_limits: settings.server.connections,
            metrics,
            cors_origins: settings.cors.allowed_origins.clone(),
            draining: AtomicBool::new(false),
        }))
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
