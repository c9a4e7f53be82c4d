//! Prometheus metrics. Each application owns its own recorder (not the process-global one),
//! so tests can run many apps in one process and scrape exactly their own numbers. Label
//! values come from small fixed sets (outcomes, status codes, endpoints): no IDs, no keys.

mod accounts;
mod describe;
mod fleet;
mod proxy;
mod traces;

pub use accounts::{RefreshOutcome, TokenGauges};
pub use proxy::RuleSeries;
pub use traces::{TraceDrop, trace_spans_dropped};

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::MetricKindMask;

use describe::describe;

static METADATA: Metadata<'static> = Metadata::new("hosted_fields_broker", Level::INFO, None);

/// Upstream latency buckets, seconds: a healthy Payroc call is tens of milliseconds; the
/// top buckets separate "slow" from "hit the 4 s attempt timeout".
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,
];

/// A gauge not set for this long is dropped from the exposition (see [`Metrics::new`]).
const GAUGE_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

const TOKEN_REFRESHES: &str = "broker_token_refreshes_total";
const TOKEN_EXPIRES_IN: &str = "broker_token_expires_in_seconds";
const TOKEN_USABLE: &str = "broker_token_usable";
const TOKEN_KEY_REJECTED: &str = "broker_token_key_rejected";
const ACCOUNTS: &str = "broker_accounts";
const TENANTS_RELOADS: &str = "broker_tenants_reloads_total";
const SESSIONS: &str = "broker_sessions_total";
const APPLE_PAY_SESSIONS: &str = "broker_apple_pay_sessions_total";
const UPSTREAM_DURATION: &str = "broker_upstream_request_duration_seconds";
const UPSTREAM_RETRIES: &str = "broker_upstream_retries_total";
const UNAUTHORIZED_REPLAYS: &str = "broker_upstream_401_replays_total";
const RATE_LIMITED: &str = "broker_rate_limited_total";
const RATE_LIMIT_UNTRACKED: &str = "broker_rate_limit_untracked_total";
const RATE_LIMIT_REDIS_UP: &str = "broker_rate_limit_redis_up";
const RATE_LIMIT_REDIS_FAILURES: &str = "broker_rate_limit_redis_failures_total";
const RATE_LIMIT_FALLBACK: &str = "broker_rate_limit_fallback_total";
const SHED: &str = "broker_load_shed_total";
const IN_FLIGHT: &str = "broker_session_requests_in_flight";
const CONNECTIONS_EVICTED: &str = "broker_connections_evicted_total";
const ACCEPT_ERRORS: &str = "broker_accept_errors_total";
const PROXY_REQUESTS: &str = "broker_proxy_requests_total";
const PROXY_DURATION: &str = "broker_proxy_request_duration_seconds";
const TRACE_SPANS_DROPPED: &str = "broker_trace_spans_dropped_total";

/// Pass-through latency buckets, seconds: as [`LATENCY_BUCKETS`], plus the 20 s a payment may
/// take and the attempt timeout above it.
const PROXY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0,
];

/// Which Payroc endpoint a call went to.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Authorize,
    CreateSession,
    /// A pass-through call for a named service.
    Api,
    ApplePay,
}

impl Endpoint {
    /// Its `endpoint` label (and its spans' `payroc.operation`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::CreateSession => "create_session",
            Self::Api => "api",
            Self::ApplePay => "apple_pay_session",
        }
    }
}

/// Handle to this application's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Session requests being handled; set into its gauge at each scrape (every gauge is
    /// set then, so the exporter can drop the series of removed accounts).
    in_flight: Arc<AtomicI64>,
    retries: Counter,
    replays: Counter,
    rate_limited: Counter,
    rate_limit_untracked: Counter,
    shed: Counter,
    connections_evicted: Counter,
    accept_errors: Counter,
    /// The hot path's series, registered once instead of looked up per request.
    create_session_2xx: Histogram,
    api_2xx: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(UPSTREAM_DURATION.into()), &LATENCY_BUCKETS)
            .expect("bucket list is not empty")
            .set_buckets_for_metric(Matcher::Full(PROXY_DURATION.into()), &PROXY_BUCKETS)
            .expect("bucket list is not empty")
            // Every gauge is set just before each render, so one not set for a while belongs
            // to an account that was removed: its series disappears.
            .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE_TIMEOUT))
            .build_recorder();
        describe(&recorder);
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let inner = Inner {
            in_flight: Arc::new(AtomicI64::new(0)),
            retries: counter(UPSTREAM_RETRIES),
            replays: counter(UNAUTHORIZED_REPLAYS),
            rate_limited: counter(RATE_LIMITED),
            rate_limit_untracked: counter(RATE_LIMIT_UNTRACKED),
            shed: counter(SHED),
            connections_evicted: counter(CONNECTIONS_EVICTED),
            accept_errors: counter(ACCEPT_ERRORS),
            create_session_2xx: recorder
                .register_histogram(&upstream_key("create_session", "2xx"), &METADATA),
            api_2xx: recorder.register_histogram(&upstream_key("api", "2xx"), &METADATA),
            handle: recorder.handle(),
            recorder,
        };
        Self(Arc::new(inner))
    }

    /// The Prometheus text exposition (set the account gauges first: [`Metrics::set_account_token`]).
    pub fn render(&self) -> String {
        let in_flight = self.0.in_flight.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)] // a count of requests, far below 2^52
        self.gauge(&Key::from_static_name(IN_FLIGHT))
            .set(in_flight as f64);
        traces::render(self);
        self.upkeep();
        self.0.handle.render()
    }

    /// Folds the latency samples recorded since the last call into their buckets. Until
    /// then each sample is held on its own, so this must run every few seconds.
    pub fn upkeep(&self) {
        self.0.handle.run_upkeep();
    }

    /// One upstream call: `status` is the HTTP status, or `None` when no answer came.
    pub fn upstream(&self, endpoint: Endpoint, status: Option<u16>, elapsed: Duration) {
        let endpoint = endpoint.label();
        let class = status_class(status);
        let seconds = elapsed.as_secs_f64();
        match (endpoint, class) {
            ("create_session", "2xx") => self.0.create_session_2xx.record(seconds),
            ("api", "2xx") => self.0.api_2xx.record(seconds),
            _ => self
                .0
                .recorder
                .register_histogram(&upstream_key(endpoint, class), &METADATA)
                .record(seconds),
        }
    }

    pub fn retry(&self) {
        self.0.retries.increment(1);
    }

    pub fn unauthorized_replay(&self) {
        self.0.replays.increment(1);
    }

    pub fn rate_limited(&self) {
        self.0.rate_limited.increment(1);
    }

    /// A request admitted without a rate-limit bucket: the client table was full.
    pub fn rate_limit_untracked(&self) {
        self.0.rate_limit_untracked.increment(1);
    }

    pub fn shed(&self) {
        self.0.shed.increment(1);
    }

    /// A connection closed early because the connection cap was reached.
    pub fn connection_evicted(&self) {
        self.0.connections_evicted.increment(1);
    }

    pub fn accept_error(&self) {
        self.0.accept_errors.increment(1);
    }

    /// Counts a session request as in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.0.in_flight))
    }

    fn gauge(&self, key: &Key) -> Gauge {
        self.0.recorder.register_gauge(key, &METADATA)
    }

    fn counter(&self, key: &Key) -> Counter {
        self.0.recorder.register_counter(key, &METADATA)
    }

    fn histogram(&self, key: &Key) -> Histogram {
        self.0.recorder.register_histogram(key, &METADATA)
    }
}

/// `2xx` … `5xx`, or `error` when no answer came.
fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(_) => "5xx",
        None => "error",
    }
}

fn upstream_key(endpoint: &'static str, class: &'static str) -> Key {
    Key::from_parts(
        UPSTREAM_DURATION,
        vec![
            Label::from_static_parts("endpoint", endpoint),
            Label::from_static_parts("status_class", class),
        ],
    )
}

/// Decrements the in-flight count when dropped (also on cancellation).
pub struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
