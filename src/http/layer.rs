//! The per-request layer: every answer's request id, the request span (and, with tracing on,
//! the exported server span), one log line per 5xx with its cause (at most 20 a second), and
//! problem+json for a bare error status (see [`crate::http::error`]).

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    BoxError,
    body::{Body, Bytes, HttpBody},
    extract::{MatchedPath, Request},
    http::{self, HeaderName, HeaderValue, Method, Uri},
    middleware::Next,
    response::Response,
};
use tower::{Layer, Service};
use tracing::Span;
use uuid::Uuid;

use super::{
    error::{ErrorCause, Expected, Relayed, problem_details},
    throttle::LogThrottle,
};
use crate::telemetry;

/// "request failed" lines written at most this often a second; the next one written says how
/// many were left out. Metrics count every failure.
static FAILURE_LINES: LogThrottle = LogThrottle::new(20);

/// The request id header: the caller's own, or a fresh UUID v4; returned on every answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Tower layer around every route, one per request's life: it gives the request its id
/// and returns it on the answer, runs it in a `debug` span (none at the production level) and,
/// with tracing on, in the exported server span (continuing the caller's `traceparent`, named
/// after the route template [`keep_route`] hands back), logs each 5xx once with its cause, and
/// turns a bare error status into problem+json.
/// One hand-written layer instead of tower-http's request-id, propagate-id and trace layers
/// plus a problem+json layer, which each looked the id up again (its measured saving is in
/// `bench/README.md`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestLayer;

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestService { inner }
    }
}

/// See [`RequestLayer`].
#[derive(Clone, Debug)]
pub struct RequestService<S> {
    inner: S,
}

impl<S, B> Service<Request> for RequestService<S>
where
    S: Service<Request, Response = http::Response<B>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequestFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = match request.headers().get(REQUEST_ID) {
            Some(id) if is_safe_request_id(id.as_bytes()) => id.clone(),
            _ => fresh_request_id(),
        };
        let server = telemetry::server_span(request.method(), request.headers(), &id);
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            path = request.uri().path(),
            request_id = id.to_str().unwrap_or_default(),
        );
        // Cheap clones (an enum, reference-counted bytes), kept to name a failure.
        let origin = Origin {
            id,
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        let inner = {
            let _attached = server.as_ref().map(|s| s.context().clone().attach());
            span.in_scope(|| self.inner.call(request))
        };
        RequestFuture {
            inner,
            span,
            server,
            origin: Some(origin),
        }
    }
}

/// Longest caller-chosen request id kept; longer ones would be echoed and logged whole.
const MAX_REQUEST_ID: usize = 128;

/// A caller's id is kept only when short and plain (`A-Z a-z 0-9 . _ -`): it is echoed in
/// the answer and written into log lines.
fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn fresh_request_id() -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// Which request an answer is for.
#[derive(Debug)]
struct Origin {
    id: HeaderValue,
    method: Method,
    uri: Uri,
}

pin_project_lite::pin_project! {
    /// See [`RequestLayer`].
    pub struct RequestFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        // The exported server span, attached while the request is polled; none while tracing
        // is off.
        server: Option<telemetry::Traced>,
        origin: Option<Origin>,
    }
}

impl<F, B, E> Future for RequestFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _attached = this.server.as_ref().map(|s| s.context().clone().attach());
        let _entered = this.span.enter();
        let response = ready!(this.inner.poll(cx))?.map(Body::new);
        let origin = this.origin.take().expect("polled after completion");
        let status = response.status();
        if let Some(server) = this.server.as_ref() {
            telemetry::finish_server_span(
                server,
                &origin.method,
                status,
                response.extensions().get::<MatchedPath>(),
            );
        }
        let expected = response.extensions().get::<Expected>().is_some()
            || response.extensions().get::<Relayed>().is_some();
        if status.is_server_error()
            && !expected
            && let Some(suppressed) = FAILURE_LINES.admit()
        {
            let cause = response
                .extensions()
                .get::<ErrorCause>()
                .map_or("none recorded (a layer's own answer)", |c| c.0.as_str());
            tracing::warn!(
                status = status.as_u16(),
                method = %origin.method,
                path = origin.uri.path(),
                request_id = origin.id.to_str().unwrap_or_default(),
                cause,
                suppressed_since_last = suppressed,
                "request failed"
            );
        }
        let mut response = problem_details(response);
        response.headers_mut().insert(REQUEST_ID, origin.id);
        Poll::Ready(Ok(response))
    }
}

/// Route middleware, added only while tracing is on: hands the matched route template (which
/// axum gives the request once routed, inside the router) back on the answer, for the server
/// span [`RequestLayer`] opened outside the router.
pub async fn keep_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}
