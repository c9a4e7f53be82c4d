//! Admission to the endpoints that reach Payroc: who is calling ([`callers`]) and whether that
//! client is over its rate limit ([`rate_limit`]), decided before the body is read; then,
//! once the body is in, whether there is room among the requests in flight (load shedding).
//! A client still sending its body holds no in-flight place, so slow bodies cannot fill them.

pub mod callers;
pub mod fleet;
pub mod rate_limit;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{extract::ConnectInfo, http::request::Parts};
use secrecy::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::{
    callers::{Caller, CallerKeys},
    fleet::{FleetLimiter, Verdict},
    rate_limit::{Checked, RateLimiter},
};
use crate::{
    accounts::Snapshot,
    config::{RateLimitSettings, RedisFailure},
    http::error::ApiError,
    metrics::Metrics,
};

/// Retry-After for a shed request: capacity frees up as soon as requests finish.
const SHED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Retry-After while the fleet limit fails closed: Redis may be back in a moment.
const CLOSED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A request's place among the requests in flight, held until it drops.
#[derive(Debug)]
pub struct Place {
    _permit: OwnedSemaphorePermit,
}

/// Caller keys, the per-IP limiter and the in-flight cap: everything admission needs.
#[derive(Debug)]
pub struct Admission {
    callers: CallerKeys,
    /// `None` when rate limiting is off.
    rate_limiter: Option<RateLimiter>,
    /// The fleet-wide limit in Redis, when configured (and the limit is on).
    fleet: Option<Arc<FleetLimiter>>,
    in_flight: Arc<Semaphore>,
    metrics: Metrics,
}

impl Admission {
    pub fn new(
        callers: &[SecretString],
        rate_limit: &RateLimitSettings,
        max_in_flight: usize,
        metrics: Metrics,
    ) -> Self {
        let rate_limiter = RateLimiter::new(rate_limit);
        let fleet = rate_limit
            .redis_url
            .as_ref()
            .filter(|_| rate_limiter.is_some())
            .map(|_| {
                Arc::new(FleetLimiter::new(
                    rate_limit.per_second,
                    rate_limit.burst,
                    rate_limit.redis_timeout,
                    rate_limit.redis_failure,
                    metrics.clone(),
                ))
            });
        Self {
            callers: CallerKeys::new(callers),
            rate_limiter,
            fleet,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            metrics,
        }
    }

    /// Drops idle rate-limiter entries; called every few seconds.
    pub fn upkeep(&self) {
        if let Some(limiter) = &self.rate_limiter {
            limiter.retain_recent();
        }
    }

    /// The per-IP limit is on.
    pub fn limited(&self) -> bool {
        self.rate_limiter.is_some()
    }

    /// The fleet-wide limiter, for the task that connects it.
    pub fn fleet(&self) -> Option<&Arc<FleetLimiter>> {
        self.fleet.as_ref()
    }

    /// Admits one request, before its body is read. The caller is authenticated once, here:
    /// the limiter exempts internal callers, and the handler needs to know who is asking. A
    /// bad caller key is still rate limited (no free guesses) before its 401.
    pub async fn admit(&self, request: &Parts, snapshot: &Snapshot) -> Result<Caller, ApiError> {
        let caller = self.callers.authenticate(&request.headers, snapshot);
        let exempt = matches!(caller, Ok(c) if c.is_internal());
        if let (Some(limiter), false) = (&self.rate_limiter, exempt) {
            // Absent only when the router is driven without a listener (`oneshot` tests).
            if let Some(ConnectInfo(peer)) = request.extensions.get::<ConnectInfo<SocketAddr>>() {
                let client = limiter.client_ip(peer.ip(), &request.headers);
                self.limit(limiter, client).await.inspect_err(|_| {
                    self.metrics.rate_limited();
                })?;
            }
        }
        caller
    }

    /// The fleet's decision when Redis gives one; otherwise the failure mode's (with Redis
    /// off, the replica's own limiter).
    async fn limit(&self, local: &RateLimiter, client: IpAddr) -> Result<(), ApiError> {
        let failure = match &self.fleet {
            None => RedisFailure::Local,
            Some(fleet) => match fleet.check(rate_limit::bucket_of(client)).await {
                Verdict::Allowed => return Ok(()),
                Verdict::Denied(wait) => return Err(ApiError::RateLimited { retry_after: wait }),
                Verdict::Unavailable => {
                    self.metrics.rate_limit_fallback(fleet.failure);
                    fleet.failure
                }
            },
        };
        match failure {
            RedisFailure::Open => Ok(()),
            RedisFailure::Closed => Err(ApiError::RateLimited {
                retry_after: CLOSED_RETRY_AFTER,
            }),
            RedisFailure::Local => match local.check(client) {
                Ok(Checked::Tracked) => Ok(()),
                Ok(Checked::Untracked) => {
                    self.metrics.rate_limit_untracked();
                    Ok(())
                }
                Err(wait) => Err(ApiError::RateLimited { retry_after: wait }),
            },
        }
    }

    /// Operator endpoints on the public listener: only a `BROKER__CALLERS__KEYS` key (a
    /// service key is not an operator's); anything else is a 401.
    pub fn operator(&self, request: &Parts) -> Result<(), ApiError> {
        match self
            .callers
            .authenticate(&request.headers, &Snapshot::default())
        {
            Ok(Caller::Internal) => Ok(()),
            _ => Err(ApiError::Unauthenticated),
        }
    }

    /// A place among the requests in flight to Payroc, or a 503 (load shedding).
    pub fn reserve(&self) -> Result<Place, ApiError> {
        let permit = Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| {
                self.metrics.shed();
                ApiError::Overloaded {
                    retry_after: SHED_RETRY_AFTER,
                }
            })?;
        Ok(Place { _permit: permit })
    }
}
