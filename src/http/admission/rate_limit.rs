//! The per-client-IP rate limit (governor), with bounded memory. Who the client is (the
//! trusted-proxy rules for `X-Forwarded-For`) is [`forwarded`].
//!
//! At most `max_tracked_clients` buckets are kept, and no client is ever put into a bucket it
//! did not earn: a tracked client is always checked against its own bucket; when a new client
//! finds the table full, entries back to a full bucket are dropped (at most every
//! [`SWEEP_EVERY`]), and if it is still full the new client is admitted untracked.

mod forwarded;

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::http::HeaderMap;
use governor::{
    Quota,
    clock::{Clock, DefaultClock, Reference},
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{
        StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};
use ipnet::IpNet;

pub use forwarded::client_ip;

use crate::config::RateLimitSettings;

/// A full table is swept of full buckets at most this often: a sweep walks every entry, and
/// under an IP-spraying flood every request would ask for one.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// `last_sweep` before the first sweep.
const NEVER: u64 = u64::MAX;

/// How an admitted request was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// Against the client's own bucket.
    Tracked,
    /// Not at all: the table was full of clients still spending their budgets.
    Untracked,
}

/// The per-IP limiter, with bounded memory. `C` is only ever a fake clock in tests.
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: governor::RateLimiter<IpAddr, SharedStore, C, NoOpMiddleware<C::Instant>>,
    /// The limiter's own table, to ask whether a client is tracked and how many are.
    table: Arc<DashMapStateStore<IpAddr>>,
    clock: C,
    origin: C::Instant,
    /// When the table was last swept, in nanoseconds since `origin`.
    last_sweep: AtomicU64,
    trusted_proxies: Vec<IpNet>,
    max_tracked: usize,
}

impl<C: Clock> std::fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("tracked", &self.table.len())
            .field("max_tracked", &self.max_tracked)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `None` when `per_second` is 0 (off).
    pub fn new(settings: &RateLimitSettings) -> Option<Self> {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(settings: &RateLimitSettings, clock: C) -> Option<Self> {
        let per_second = NonZeroU32::new(settings.per_second)?;
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        let table = Arc::new(DashMapStateStore::default());
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Some(Self {
            limiter: governor::RateLimiter::new(
                quota,
                SharedStore(Arc::clone(&table)),
                clock.clone(),
            ),
            table,
            origin: clock.now(),
            clock,
            last_sweep: AtomicU64::new(NEVER),
            trusted_proxies: settings.trusted_proxies.clone(),
            max_tracked: settings.max_tracked_clients,
        })
    }

    /// `Err(wait)` when the client must wait before its next request.
    pub fn check(&self, client: IpAddr) -> Result<Checked, Duration> {
        let key = bucket_of(client);
        // A tracked client costs one look-up here; only a new one looks at the table's size.
        if !self.table.contains_key(&key) && !self.room_for_one() {
            return Ok(Checked::Untracked);
        }
        self.limiter
            .check_key(&key)
            .map(|()| Checked::Tracked)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Whether a new client can be tracked, after dropping full buckets if the table is
    /// full and the last sweep is old enough.
    fn room_for_one(&self) -> bool {
        if self.table.len() < self.max_tracked {
            return true;
        }
        let now = u64::from(self.clock.now().duration_since(self.origin));
        let last = self.last_sweep.load(Ordering::Relaxed);
        let due = last == NEVER || now.saturating_sub(last) >= u64::from(Nanos::from(SWEEP_EVERY));
        // One caller sweeps; the others go on without waiting for it.
        if due
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
        }
        self.table.len() < self.max_tracked
    }

    /// Drops entries that are back to a full bucket and frees their memory; called every
    /// few seconds.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }
}

/// The limiter's table, shared between governor (which owns its store) and [`RateLimiter`].
#[derive(Debug)]
struct SharedStore(Arc<DashMapStateStore<IpAddr>>);

impl StateStore for SharedStore {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for SharedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// IPv6 clients get a /64 each (one host usually owns the whole prefix).
pub fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests;
