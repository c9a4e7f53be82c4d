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
use url::Url;

use crate::{
    callers::CallerKeys,
    config::Settings,
    error::ApiError,
    limits::{LoadShedder, RateLimiter},
    metrics::Metrics,
    mint::Minter,
    payroc::session_url,
    routes::session::Library,
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

/// Handles every request needs.
#[derive(Debug)]
pub struct Inner {
    pub minter: Minter,
    pub tokens: TokenCache,
    pub callers: CallerKeys,
    pub terminals: Terminals,
    pub lib_version: String,
    pub library: Library,
    pub deadline: Duration,
    pub body_limit: usize,
    pub metrics: Metrics,
    /// `None` when rate limiting is off.
    pub rate_limiter: Option<RateLimiter>,
    pub shedder: LoadShedder,
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
            callers: CallerKeys::new(&settings.callers),
            terminals: Terminals::new(&payroc.terminals, &payroc.api_url),
            lib_version: payroc.lib_version.clone(),
            library: Library::new(
                &payroc.lib_version,
                &payroc.script_url,
                payroc.script_integrity.as_deref(),
            ),
            deadline: payroc.deadline,
            body_limit: settings.server.body_limit_bytes,
            metrics,
            rate_limiter: RateLimiter::new(&settings.rate_limit),
            shedder: LoadShedder::new(settings.server.max_in_flight),
            cors_origins: settings.cors_allowed_origins.clone(),
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
