//! An account's token: its cache and refresh task, started from the account's key source,
//! with every account's identity calls sharing a few slots so that warming up many accounts
//! (at start-up, or after a reload that adds them) is never a burst.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{
    config::{ApiKeySource, TokenSettings},
    metrics::Metrics,
    payroc::{AccessToken, PayrocClient, PayrocError},
    token::{TokenCache, TokenSource},
};

/// Identity calls in flight at once, across all accounts.
pub const MAX_IDENTITY_IN_FLIGHT: usize = 8;

/// Fetches one account's token through a shared slot.
struct IdentitySource {
    client: PayrocClient,
    api_key: ApiKeySource,
    slots: Arc<Semaphore>,
}

impl TokenSource for IdentitySource {
    async fn fetch(&self) -> Result<AccessToken, PayrocError> {
        let _slot = self.slots.acquire().await.expect("never closed");
        self.client.authorize(&self.api_key).await
    }
}

/// What starts token tasks: the client, the settings, and the shared identity slots.
#[derive(Debug)]
pub struct TokenFactory {
    client: PayrocClient,
    settings: TokenSettings,
    metrics: Metrics,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl TokenFactory {
    pub fn new(
        client: PayrocClient,
        settings: TokenSettings,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            client,
            settings,
            metrics,
            slots: Arc::new(Semaphore::new(MAX_IDENTITY_IN_FLIGHT)),
            shutdown,
        }
    }

    /// Starts `account`'s cache; its task stops at shutdown or when the last handle drops.
    pub fn start(&self, account: &Arc<str>, api_key: &ApiKeySource) -> Arc<AccountToken> {
        let stop = self.shutdown.child_token();
        let source = IdentitySource {
            client: self.client.clone(),
            api_key: api_key.clone(),
            slots: Arc::clone(&self.slots),
        };
        let (cache, _task) = TokenCache::spawn(
            source,
            self.settings,
            self.metrics.clone(),
            Arc::clone(account),
            stop.clone(),
        );
        Arc::new(AccountToken {
            cache,
            api_key: api_key.clone(),
            _stop: stop.drop_guard(),
        })
    }
}

/// An account's token cache, shared by the snapshots that keep the account; dropping the
/// last one stops its refresh task.
#[derive(Debug)]
pub struct AccountToken {
    pub cache: TokenCache,
    /// Where the key comes from: a reload that keeps it keeps the token.
    pub api_key: ApiKeySource,
    _stop: DropGuard,
}
