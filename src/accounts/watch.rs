//! Reloading the tenants file: on `SIGHUP` and whenever what it was built from changes (the
//! file's content, read by path, so a `ConfigMap`'s symlink swap is seen, and the service key
//! files it names). A file that does not load changes nothing: one log line,
//! counted, shown in `/status`. It is tried again at every check (a Secret holding a new
//! account's key may arrive after the `ConfigMap` naming it) but reported again only when the
//! problem changes.

use std::{path::Path, sync::Arc};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::Directory;
use crate::{
    config::Settings,
    tenants::{self, TenantsSpec},
};

/// A digest of everything a load reads that can change underneath: the tenants file and the
/// service key files of the last good load. (API key files are read at each token fetch.)
pub fn inputs(path: &Path, spec: &TenantsSpec) -> [u8; 32] {
    let mut digest = Sha256::new();
    let mut add = |path: &Path| match std::fs::read(path) {
        Ok(bytes) => {
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(&bytes);
        }
        Err(error) => digest.update(format!("unreadable: {:?}", error.kind())),
    };
    add(path);
    for file in spec.services.iter().filter_map(|s| s.key_file.as_deref()) {
        add(file);
    }
    digest.finalize().into()
}

/// What the watcher starts from: the start-up load and the [`inputs`] digest taken right
/// after it (before serving, so a change made meanwhile is still seen as one).
pub struct Loaded {
    pub spec: TenantsSpec,
    pub seen: [u8; 32],
}

/// Watches `settings.tenants.file` until `stop`; `hangup` is the `SIGHUP` stream, installed
/// before serving (see [`hangup_signal`]).
pub async fn run(
    directory: Arc<Directory>,
    settings: Settings,
    Loaded { mut spec, mut seen }: Loaded,
    mut hangup: Hangup,
    stop: CancellationToken,
) {
    let Some(path) = settings.tenants.file.clone() else {
        return;
    };
    // The last rejection's message, while the file does not load.
    let mut rejected: Option<String> = None;
    let period = settings.tenants.watch_interval;
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = every.tick() => false,
            Some(()) = recv(&mut hangup) => true,
            () = stop.cancelled() => return,
        };
        let now = inputs(&path, &spec);
        if now == seen && !forced && rejected.is_none() {
            continue;
        }
        let changed = now != seen || forced;
        seen = now;
        match tenants::load(&settings) {
            Ok(loaded) => {
                let applied = directory.apply(&loaded);
                directory.record_reload(Ok(()));
                tracing::info!(
                    file = %path.display(),
                    accounts = loaded.accounts.len(),
                    services = loaded.services.len(),
                    kept = applied.kept,
                    added = applied.added,
                    removed = applied.removed,
                    "tenants file applied"
                );
                // Key files named by the new services are watched from now on.
                seen = inputs(&path, &loaded);
                spec = loaded;
                rejected = None;
            }
            Err(error) => {
                let error = error.to_string();
                if changed || rejected.as_ref() != Some(&error) {
                    tracing::error!(%error, "tenants file rejected; still serving the accounts it had");
                    directory.record_reload(Err(error.clone()));
                }
                rejected = Some(error);
            }
        }
    }
}

/// The `SIGHUP` stream, if one could be installed.
#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangup = Option<()>;

/// Installs the `SIGHUP` handler. Called before the broker serves, so a `SIGHUP` never finds
/// the default action (which ends the process), with or without a tenants file.
pub fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The next `SIGHUP`; never, without a handler.
async fn recv(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}
