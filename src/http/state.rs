//! Shared application state: a small `Clone` struct of handles, built once at start-up.

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::Serialize;

use super::admission::Admission;
use crate::{
    accounts::Directory,
    config::{ConnectionLimits, Settings},
    metrics::Metrics,
    mint::Minter,
    proxy::Forwarder,
};

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
    /// The Payroc API pass-through for named services.
    pub forwarder: Forwarder,
    /// The accounts and services, reloadable.
    pub directory: Arc<Directory>,
    pub admission: Admission,
    pub library: Library,
    pub deadline: Duration,
    pub body_limit: usize,
    /// A client must finish sending its body within this.
    pub body_timeout: Duration,
    pub connection_limits: ConnectionLimits,
    pub metrics: Metrics,
    /// A tenants file is configured (its origins may change: CORS asks the directory).
    pub tenants_file: bool,
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
    pub fn new(
        settings: &Settings,
        minter: Minter,
        forwarder: Forwarder,
        directory: Arc<Directory>,
        metrics: Metrics,
    ) -> Self {
        let payroc = &settings.payroc;
        Self(Arc::new(Inner {
            minter,
            forwarder,
            directory,
            admission: Admission::new(
                &settings.callers.keys,
                &settings.rate_limit,
                settings.server.max_in_flight,
                metrics.clone(),
            ),
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
            tenants_file: settings.tenants.file.is_some(),
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
