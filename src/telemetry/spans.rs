//! The spans the broker exports, and W3C Trace Context in and out. Every span here has the
//! target [`TARGET`], which only the OpenTelemetry layer listens to (logs never show them), and
//! is created only while tracing is on: with it off each function returns at once.
//!
//! Attributes are chosen, never copied from a request: methods, route templates, statuses,
//! attempt numbers, account names, fixed outcome words. No key, token, session, caller key,
//! Idempotency-Key, path with IDs or query string can reach a span.

use axum::{
    extract::MatchedPath,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
};
use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{Status, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::enabled;
use crate::metrics::Endpoint;

/// The target of the broker's exported spans.
pub const TARGET: &str = "hosted_fields_broker::otel";

/// A request's header map read as a W3C Trace Context carrier.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// An outgoing header map written as a W3C Trace Context carrier.
struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The server span of one request: named after its method until the route is known
/// ([`finish_server_span`]), the child of the caller's `traceparent` when it sent a valid one.
pub(crate) fn server_span(method: &Method, headers: &HeaderMap, request_id: &HeaderValue) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = method.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = Empty,
        http.response.status_code = Empty,
        broker.request_id = request_id.to_str().unwrap_or_default(),
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span
}

/// Names the server span `{method} {route template}` once routed, and records the status; a
/// 5xx marks it failed. An unrouted request keeps its method alone as its name: its path is
/// never recorded.
pub(crate) fn finish_server_span(
    span: &Span,
    method: &Method,
    status: StatusCode,
    route: Option<&MatchedPath>,
) {
    if span.is_disabled() {
        return;
    }
    // As i64: tracing-opentelemetry records unsigned integers as text.
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if let Some(route) = route {
        span.record("http.route", route.as_str());
        span.context()
            .span()
            .update_name(format!("{method} {}", route.as_str()));
    }
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// The span of one request sent to Payroc for a caller (`attempt` counts from 1, a replay after
/// a 401 included), named after the operation's URL template (the pass-through: its method).
pub(crate) fn attempt_span(endpoint: Endpoint, method: &Method, attempt: u32) -> Span {
    if !enabled() {
        return Span::none();
    }
    let name = match endpoint {
        Endpoint::CreateSession => {
            "POST /processing-terminals/{processingTerminalId}/hosted-fields-sessions"
        }
        Endpoint::ApplePay => {
            "POST /processing-terminals/{processingTerminalId}/apple-pay-sessions"
        }
        Endpoint::Authorize => "POST /authorize",
        Endpoint::Api => method.as_str(),
    };
    tracing::info_span!(
        target: TARGET,
        "payroc",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        payroc.operation = endpoint.label(),
        payroc.attempt = i64::from(attempt),
        http.request.method = method.as_str(),
        error.type = Empty,
    )
}

/// Marks an attempt span failed, with the kind of failure (`timeout`, `transient`,
/// `unauthorized`, `rejected`, `invalid_response`).
pub(crate) fn attempt_failed(span: &Span, kind: &'static str) {
    if span.is_disabled() {
        return;
    }
    span.record("error.type", kind);
    span.record("otel.status_code", "error");
}

/// The span of a wait for a Bearer token (a first fetch, or one after a 401).
pub(crate) fn token_wait_span() -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "token wait",
        otel.status_code = Empty,
        broker.token.outcome = Empty,
    )
}

/// How a token wait ended: `ready`, `deadline_exceeded` or `unavailable`.
pub(crate) fn token_wait_ended(span: &Span, outcome: &'static str) {
    if span.is_disabled() {
        return;
    }
    span.record("broker.token.outcome", outcome);
    if outcome != "ready" {
        span.record("otel.status_code", "error");
    }
}

/// One Bearer token fetch for `account`: a trace of its own, whoever is waiting for it.
pub(crate) fn refresh_span(account: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        parent: None,
        "token refresh",
        otel.status_code = Empty,
        broker.account = account,
        broker.token.refresh.outcome = Empty,
    )
}

/// How a token fetch ended, in the words of `broker_token_refreshes_total`'s `outcome`.
pub(crate) fn refresh_ended(span: &Span, outcome: &'static str) {
    if span.is_disabled() {
        return;
    }
    span.record("broker.token.refresh.outcome", outcome);
    if outcome != "success" {
        span.record("otel.status_code", "error");
    }
}

/// `headers` plus `traceparent` (and `tracestate`) naming the current span, when tracing is on
/// and a span is current: the child Payroc's side of the trace hangs off.
pub(crate) fn propagation_headers() -> Option<HeaderMap> {
    if !enabled() {
        return None;
    }
    let cx = Context::current();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut headers = HeaderMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut HeadersMut(&mut headers));
    Some(headers)
}

/// Records Payroc's answer on the current (attempt) span: its status (a 4xx or 5xx marks the
/// span failed), or `None` for no answer.
pub(crate) fn record_answer(status: Option<u16>) {
    if !enabled() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    match status {
        Some(status) => {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 400 {
                span.set_status(Status::error(""));
            }
        }
        None => span.set_status(Status::error("")),
    }
}
