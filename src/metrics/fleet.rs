//! The fleet-wide rate limit's series: whether Redis answers, its failures, and the decisions
//! its failure mode made meanwhile.

use metrics::{Key, Label};

use super::{Metrics, RATE_LIMIT_FALLBACK, RATE_LIMIT_REDIS_FAILURES, RATE_LIMIT_REDIS_UP};
use crate::config::RedisFailure;

impl Metrics {
    /// A Redis call that failed or timed out (or a failed connection attempt).
    pub fn rate_limit_redis_failure(&self) {
        self.counter(&Key::from_static_name(RATE_LIMIT_REDIS_FAILURES))
            .increment(1);
    }

    /// A decision made without Redis, by `mode`.
    pub fn rate_limit_fallback(&self, mode: RedisFailure) {
        let mode = match mode {
            RedisFailure::Local => "local",
            RedisFailure::Open => "open",
            RedisFailure::Closed => "closed",
        };
        self.counter(&Key::from_parts(
            RATE_LIMIT_FALLBACK,
            vec![Label::from_static_parts("mode", mode)],
        ))
        .increment(1);
    }

    /// Set at each scrape while the fleet limit is configured.
    pub fn set_rate_limit_redis_up(&self, up: bool) {
        self.gauge(&Key::from_static_name(RATE_LIMIT_REDIS_UP))
            .set(if up { 1.0 } else { 0.0 });
    }
}
