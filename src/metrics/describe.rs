//! The `# HELP` text of every series, registered once per recorder.

use metrics::{Recorder, Unit};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::{
    ACCEPT_ERRORS, ACCOUNTS, APPLE_PAY_SESSIONS, CONNECTIONS_EVICTED, IN_FLIGHT, PROXY_DURATION,
    PROXY_REQUESTS, RATE_LIMIT_FALLBACK, RATE_LIMIT_REDIS_FAILURES, RATE_LIMIT_REDIS_UP,
    RATE_LIMIT_UNTRACKED, RATE_LIMITED, SESSIONS, SHED, TENANTS_RELOADS, TOKEN_EXPIRES_IN,
    TOKEN_KEY_REJECTED, TOKEN_REFRESHES, TOKEN_USABLE, TRACE_SPANS_DROPPED, UNAUTHORIZED_REPLAYS,
    UPSTREAM_DURATION, UPSTREAM_RETRIES,
};

pub(super) fn describe(recorder: &PrometheusRecorder) {
    let counters = [
        (
            TOKEN_REFRESHES,
            "Bearer token fetches by account and outcome (success, transient_failure, rejected, key_unavailable).",
        ),
        (
            SESSIONS,
            "Answered session requests by account, outcome (created, refused, failed) and status (account \"\": refused before an account was chosen).",
        ),
        (
            APPLE_PAY_SESSIONS,
            "Answered Apple Pay merchant session requests by account, outcome (created, refused, failed) and status.",
        ),
        (
            TENANTS_RELOADS,
            "Tenants file reloads by outcome (applied, rejected: the broker kept what it had).",
        ),
        (
            UPSTREAM_RETRIES,
            "Session attempts retried after a transient upstream failure.",
        ),
        (
            UNAUTHORIZED_REPLAYS,
            "Session and pass-through requests replayed with a fresh token after a 401.",
        ),
        (
            RATE_LIMITED,
            "Session requests refused by the per-IP rate limit.",
        ),
        (
            RATE_LIMIT_UNTRACKED,
            "Session requests admitted without a rate-limit bucket (client table full).",
        ),
        (
            RATE_LIMIT_REDIS_FAILURES,
            "Fleet rate limit: Redis calls (and connection attempts) that failed or timed out.",
        ),
        (
            RATE_LIMIT_FALLBACK,
            "Fleet rate limit: decisions made without Redis, by failure mode (local, open, closed).",
        ),
        (
            SHED,
            "Session requests refused because too many were in flight.",
        ),
        (
            PROXY_REQUESTS,
            "Payroc API pass-through calls by service, matched rule and status class (\"\": refused before known).",
        ),
        (
            CONNECTIONS_EVICTED,
            "Idle client connections closed early to make room under the connection cap.",
        ),
        (
            ACCEPT_ERRORS,
            "Failed accepts (e.g. out of file descriptors); each pauses accepting briefly.",
        ),
        (
            TRACE_SPANS_DROPPED,
            "Finished spans not exported, by reason (queue_full: the export queue was full; export_failed: the collector did not take their batch). Process-wide; 0 while tracing is off.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    describe_gauges_and_histograms(recorder);
}

fn describe_gauges_and_histograms(recorder: &PrometheusRecorder) {
    recorder.describe_gauge(
        TOKEN_EXPIRES_IN.into(),
        Some(Unit::Seconds),
        "Seconds until the account's Bearer token expires (0: none).".into(),
    );
    recorder.describe_gauge(
        TOKEN_USABLE.into(),
        None,
        "1 while the account holds a usable Bearer token.".into(),
    );
    recorder.describe_gauge(
        TOKEN_KEY_REJECTED.into(),
        None,
        "1 while identity rejects the account's API key and it holds no usable token.".into(),
    );
    recorder.describe_gauge(
        RATE_LIMIT_REDIS_UP.into(),
        None,
        "Fleet rate limit: 1 while Redis answers decisions, 0 while the failure mode decides."
            .into(),
    );
    recorder.describe_gauge(
        ACCOUNTS.into(),
        None,
        "Accounts configured (default plus the tenants file).".into(),
    );
    recorder.describe_gauge(
        IN_FLIGHT.into(),
        None,
        "Session requests being handled now.".into(),
    );
    recorder.describe_histogram(
        UPSTREAM_DURATION.into(),
        Some(Unit::Seconds),
        "Payroc request latency by endpoint and status class.".into(),
    );
    recorder.describe_histogram(
        PROXY_DURATION.into(),
        Some(Unit::Seconds),
        "Payroc API pass-through call duration by matched rule, every attempt included.".into(),
    );
}
