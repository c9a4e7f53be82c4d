//! The accounts and services the broker serves now: a [`Directory`] holding the current
//! [`Snapshot`], replaced whole when the tenants file is reloaded ([`watch`]). Accounts whose
//! key source is unchanged keep their token across a reload; new ones start warming up
//! (through [`identity`]'s shared slots); removed ones are gone from the next request on.

pub mod identity;
pub mod snapshot;
#[cfg(test)]
mod tests;
pub mod watch;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::http::HeaderValue;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::time::Instant;
use url::Url;

pub use self::{
    identity::TokenFactory,
    snapshot::{Account, Requester, RouteError, Service, Snapshot, Terminal},
};
use crate::{metrics::Metrics, tenants::TenantsSpec, token::TokenState};

/// What the last reload did, for the log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
}

/// The tenants file's state, for `/status`.
#[derive(Clone, Debug, Default)]
pub struct TenantsStatus {
    pub file: Option<PathBuf>,
    pub last_applied: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// How far start-up has come: every account settled, and one with a token.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    pub accounts: usize,
    pub settled: usize,
    pub obtained: usize,
}

/// The current accounts and services, swapped whole on reload.
#[derive(Debug)]
pub struct Directory {
    current: RwLock<Arc<Snapshot>>,
    tokens: TokenFactory,
    metrics: Metrics,
    api_url: Url,
    /// `BROKER__CORS__ALLOWED_ORIGINS`, joined by the accounts' origins.
    cors: Vec<HeaderValue>,
    /// Once every account settled and one had a token; never unset (see [`Directory::ready`]).
    ready: AtomicBool,
    status: Mutex<TenantsStatus>,
}

impl Directory {
    /// Builds the first snapshot from `spec` and starts every account's token.
    pub fn new(
        spec: &TenantsSpec,
        tokens: TokenFactory,
        metrics: Metrics,
        api_url: Url,
        cors: Vec<HeaderValue>,
        file: Option<PathBuf>,
    ) -> Self {
        let directory = Self {
            current: RwLock::new(Arc::new(Snapshot::default())),
            tokens,
            metrics,
            api_url,
            cors,
            ready: AtomicBool::new(false),
            status: Mutex::new(TenantsStatus {
                last_applied: file.as_ref().map(|_| OffsetDateTime::now_utc()),
                file,
                last_error: None,
            }),
        };
        directory.apply(spec);
        directory
    }

    /// The accounts and services now; a request uses one snapshot from start to end.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the accounts and services with `spec`'s at once. An account with the same
    /// name and key source keeps its token; others start fetching one.
    pub fn apply(&self, spec: &TenantsSpec) -> Applied {
        let old = self.snapshot();
        let previous: HashMap<&str, &Arc<Account>> =
            old.accounts.iter().map(|a| (&*a.name, a)).collect();
        let mut applied = Applied::default();
        let accounts: Vec<Arc<Account>> = spec
            .accounts
            .iter()
            .map(|spec| {
                let kept = previous
                    .get(spec.name.as_str())
                    .filter(|a| a.token.api_key.same_as(&spec.api_key));
                let (name, token) = if let Some(account) = kept {
                    applied.kept += 1;
                    (Arc::clone(&account.name), Arc::clone(&account.token))
                } else {
                    applied.added += 1;
                    let name: Arc<str> = spec.name.as_str().into();
                    let token = self.tokens.start(&name, &spec.api_key);
                    (name, token)
                };
                Arc::new(Account::new(
                    Arc::clone(&name),
                    &spec.terminals,
                    &self.api_url,
                    spec.origins.clone(),
                    spec.apple_pay_domains.clone(),
                    token,
                    self.metrics.sessions_created(&name),
                ))
            })
            .collect();
        applied.removed = old.accounts.len() - applied.kept;
        let index: HashMap<&str, usize> = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (&*a.name, i))
            .collect();
        let services = spec
            .services
            .iter()
            .map(|s| {
                let name: Arc<str> = s.name.as_str().into();
                let rules = s
                    .rules
                    .iter()
                    .map(|rule| {
                        (
                            rule.clone(),
                            self.metrics.proxy_rule(&name, &rule.to_string()),
                        )
                    })
                    .collect();
                Service {
                    name,
                    digest: Sha256::digest(s.key.expose_secret().as_bytes()).into(),
                    account: index[s.account.as_str()],
                    rules,
                }
            })
            .collect();
        let snapshot = Arc::new(Snapshot::new(accounts, services, &self.cors));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = snapshot;
        applied
    }

    /// Ready once every account has settled (a token, a rejected key, or a failed first
    /// fetch) and at least one has obtained a token; from then on until shutdown.
    pub fn ready(&self) -> Result<(), Settling> {
        if self.ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let settling = self.settling();
        if settling.settled == settling.accounts && settling.obtained > 0 {
            self.ready.store(true, Ordering::Relaxed);
            Ok(())
        } else {
            Err(settling)
        }
    }

    fn settling(&self) -> Settling {
        let snapshot = self.snapshot();
        let now = Instant::now();
        snapshot
            .accounts
            .iter()
            .map(|a| a.token.cache.snapshot())
            .fold(
                Settling {
                    accounts: snapshot.accounts.len(),
                    ..Settling::default()
                },
                |mut s, state: TokenState| {
                    if state.usable(now).is_some() || state.last_failure.is_some() {
                        s.settled += 1;
                    }
                    if state.ever_obtained {
                        s.obtained += 1;
                    }
                    s
                },
            )
    }

    pub fn tenants_status(&self) -> TenantsStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a reload's outcome for `/status` and `/metrics`.
    pub fn record_reload(&self, outcome: Result<(), String>) {
        self.metrics.tenants_reload(outcome.is_ok());
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => {
                status.last_applied = Some(OffsetDateTime::now_utc());
                status.last_error = None;
            }
            Err(error) => status.last_error = Some(error),
        }
    }
}
