//! The audit line and the metrics of one pass-through call.

use std::sync::Arc;

use axum::http::Method;
use tokio::time::Instant;

use crate::{http::state::AppState, metrics::RuleSeries};

/// What the audit line and the metrics say of one call, written when it drops: also when
/// the caller goes away mid-call (the handler is dropped), as status 499, nginx's "client
/// closed request", so a payment whose caller hung up is still on record.
pub(super) struct Audit {
    pub(super) state: AppState,
    pub(super) started: Instant,
    pub(super) method: Method,
    pub(super) service: Option<Arc<str>>,
    /// The rule the call matched, with its series.
    pub(super) rule: Option<RuleSeries>,
    pub(super) attempts: u32,
    pub(super) status: Option<u16>,
}

/// The audit status of a call whose caller went away before its answer.
const CLIENT_CLOSED: u16 = 499;

impl Drop for Audit {
    fn drop(&mut self) {
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let elapsed = self.started.elapsed();
        let service = self.service.as_deref().unwrap_or_default();
        tracing::info!(
            service,
            method = %self.method,
            rule = self.rule.as_ref().map_or("", RuleSeries::rule),
            status,
            attempts = self.attempts,
            duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "payroc api call"
        );
        match &self.rule {
            Some(series) => series.record(status, elapsed),
            None => self.state.metrics.proxy_refused(service, status, elapsed),
        }
    }
}
