//! The spans the broker exports, and W3C Trace Context in and out. Every span here has the
//! target [`TARGET`], which only the OpenTelemetry layer listens to (logs never show them), and
//! is created only while tracing is on: with it off each function returns `None` at once.
//!
//! A span is made through `tracing` (the OpenTelemetry layer builds and ends it) but never
//! entered: what runs inside it runs with its OpenTelemetry context attached ([`within`]),
//! which is all the children, the outgoing `traceparent` and the answer's status need, at a
//! fraction of what entering a `tracing` span on every poll costs (bench/README.md).
//!
//! Attributes are chosen, never copied from a request: methods, route templates, statuses,
//! attempt numbers, account names, fixed outcome words. No key, token, session, caller key,
//! Idempotency-Key, path with IDs or query string can reach a span.

use std::future::Future;

use axum::{
    extract::MatchedPath,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
};
use futures_util::future::Either;
use opentelemetry::{
    Context, KeyValue,
    context::{FutureExt as _, WithContext},
    propagation::{Extractor, TextMapPropagator},
    trace::{SpanContext, Status, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::enabled;
use crate::metrics::Endpoint;

/// The target of the broker's exported spans.
pub const TARGET: &str = "hosted_fields_broker::otel";

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// One exported span, started, and its OpenTelemetry context. The span ends when this drops.
#[derive(Debug)]
pub(crate) struct Traced {
    /// The `tracing` handle: the OpenTelemetry layer ends the span when it closes.
    _span: Span,
    cx: Context,
}

impl Traced {
    fn start(span: Span) -> Option<Self> {
        if span.is_disabled() {
            return None;
        }
        Some(Self {
            cx: span.context(),
            _span: span,
        })
    }

    /// Its context, to attach while code runs on its behalf.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    fn set(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    fn failed(&self) {
        self.cx.span().set_status(Status::error(""));
    }
}

/// `future`, run with `traced` as the current span in every poll (its children's parent, the
/// `traceparent` sent); as it is when not traced.
pub(crate) fn within<F: Future>(traced: Option<&Traced>, future: F) -> Either<F, WithContext<F>> {
    match traced {
        Some(traced) => Either::Right(future.with_context(traced.cx.clone())),
        None => Either::Left(future),
    }
}

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

/// The server span of one request: named after its method until the route is known
/// ([`finish_server_span`]), the child of the caller's `traceparent` when it sent a valid one.
#[inline]
pub(crate) fn server_span(
    method: &Method,
    headers: &HeaderMap,
    request_id: &HeaderValue,
) -> Option<Traced> {
    if enabled() {
        new_server_span(method, headers, request_id)
    } else {
        None
    }
}

fn new_server_span(
    method: &Method,
    headers: &HeaderMap,
    request_id: &HeaderValue,
) -> Option<Traced> {
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = method.as_str(),
        otel.kind = "server",
        http.request.method = method.as_str(),
        broker.request_id = request_id.to_str().unwrap_or_default(),
    );
    if headers.contains_key(TRACEPARENT) {
        let parent =
            TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    Traced::start(span)
}

/// Names the server span `{method} {route template}` once routed, and records the status; a
/// 5xx marks it failed. An unrouted request keeps its method alone as its name: its path is
/// never recorded.
pub(crate) fn finish_server_span(
    traced: &Traced,
    method: &Method,
    status: StatusCode,
    route: Option<&MatchedPath>,
) {
    traced.set(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if let Some(route) = route {
        traced.set(KeyValue::new("http.route", route.as_str().to_owned()));
        traced
            .cx
            .span()
            .update_name(format!("{method} {}", route.as_str()));
    }
    if status.is_server_error() {
        traced.failed();
    }
}

/// The span of one request sent to Payroc for a caller (`attempt` counts from 1, a replay after
/// a 401 included), named after the operation's URL template (the pass-through: its method).
#[inline]
pub(crate) fn attempt_span(endpoint: Endpoint, method: &Method, attempt: u32) -> Option<Traced> {
    if enabled() {
        new_attempt_span(endpoint, method, attempt)
    } else {
        None
    }
}

fn new_attempt_span(endpoint: Endpoint, method: &Method, attempt: u32) -> Option<Traced> {
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
    // As i64: tracing-opentelemetry records unsigned integers as text.
    let span = tracing::info_span!(
        target: TARGET,
        "payroc",
        otel.name = name,
        otel.kind = "client",
        payroc.operation = endpoint.label(),
        payroc.attempt = i64::from(attempt),
        http.request.method = method.as_str(),
    );
    Traced::start(span)
}

/// Marks an attempt span failed, with the kind of failure (`timeout`, `transient`,
/// `unauthorized`, `rejected`, `invalid_response`).
pub(crate) fn attempt_failed(traced: Option<&Traced>, kind: &'static str) {
    if let Some(traced) = traced {
        traced.set(KeyValue::new("error.type", kind));
        traced.failed();
    }
}

/// The span of a wait for a Bearer token (a first fetch, or one after a 401).
pub(crate) fn token_wait_span() -> Option<Traced> {
    if !enabled() {
        return None;
    }
    Traced::start(tracing::info_span!(target: TARGET, "token wait"))
}

/// How a token wait ended: `ready`, `deadline_exceeded` or `unavailable`.
pub(crate) fn token_wait_ended(traced: Option<&Traced>, outcome: &'static str) {
    if let Some(traced) = traced {
        traced.set(KeyValue::new("broker.token.outcome", outcome));
        if outcome != "ready" {
            traced.failed();
        }
    }
}

/// One Bearer token fetch for `account`: a trace of its own, whoever is waiting for it.
pub(crate) fn refresh_span(account: &str) -> Option<Traced> {
    if !enabled() {
        return None;
    }
    Traced::start(tracing::info_span!(
        target: TARGET,
        parent: None,
        "token refresh",
        broker.account = account,
    ))
}

/// How a token fetch ended, in the words of `broker_token_refreshes_total`'s `outcome`.
pub(crate) fn refresh_ended(traced: Option<&Traced>, outcome: &'static str) {
    if let Some(traced) = traced {
        traced.set(KeyValue::new("broker.token.refresh.outcome", outcome));
        if outcome != "success" {
            traced.failed();
        }
    }
}

/// `request` with `traceparent` (and `tracestate`) naming the current span, when tracing is on
/// and a span is current: the parent of Payroc's side of the trace.
#[inline]
pub(crate) fn propagate(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if enabled() {
        propagate_current(request)
    } else {
        request
    }
}

fn propagate_current(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let cx = Context::current();
    let span = cx.span();
    let context = span.span_context();
    if !context.is_valid() {
        return request;
    }
    let request = request.header(TRACEPARENT, traceparent(context));
    let state = context.trace_state().header();
    match HeaderValue::from_str(&state) {
        Ok(state) if !state.is_empty() => request.header(TRACESTATE, state),
        _ => request,
    }
}

/// `00-{trace id}-{span id}-{flags}`, lower-case hex.
fn traceparent(context: &SpanContext) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 55];
    let mut at = 0;
    let mut put = |bytes: &[u8], dash: bool| {
        for byte in bytes {
            text[at] = HEX[usize::from(byte >> 4)];
            text[at + 1] = HEX[usize::from(byte & 0xf)];
            at += 2;
        }
        if dash {
            text[at] = b'-';
            at += 1;
        }
    };
    put(&[0], true);
    put(&context.trace_id().to_bytes(), true);
    put(&context.span_id().to_bytes(), true);
    put(&[context.trace_flags().to_u8()], false);
    HeaderValue::from_bytes(&text).expect("hex digits and dashes")
}

/// Records Payroc's answer on the current (attempt) span: its status (a 4xx or 5xx marks the
/// span failed), or `None` for no answer.
#[inline]
pub(crate) fn record_answer(status: Option<u16>) {
    if enabled() {
        record_on_current(status);
    }
}

fn record_on_current(status: Option<u16>) {
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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    #[test]
    fn traceparent_is_the_w3c_form() {
        let context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        assert_eq!(
            traceparent(&context),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
    }
}
