//! Building and running the application: [`Application::build`] binds (port 0 in tests) and
//! starts the token refresher; [`Application::run_until_stopped`] serves until the shutdown
//! future resolves, then turns unready, drains within the grace period and stops the refresher.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderName, header},
    middleware,
    routing::{get, post},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    config::Settings,
    error::{ApiError, problem_for_bare_errors},
    mint::Minter,
    payroc::PayrocClient,
    routes::{health, session},
    state::AppState,
    token::TokenCache,
};

/// Extra time the outer timeout allows beyond the request deadline, so the handler's own
/// (more precise) 504 normally answers first.
const OUTER_TIMEOUT_SLACK: Duration = Duration::from_secs(1);

/// The broker's routes with every layer; `extra` (the demo page) is merged in.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let outer_timeout = state.deadline + OUTER_TIMEOUT_SLACK;
    Router::new()
        .route("/hosted-fields/session", post(session::create_session))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(extra)
        .fallback(|| async { ApiError::NotFound })
        // The handler reads the body itself and answers 413 as problem+json.
        .layer(axum::extract::DefaultBodyLimit::max(state.body_limit))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    HeaderName::from_static("idempotency-key"),
                ]))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(make_span))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn(problem_for_bare_errors))
                .layer(CatchPanicLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    outer_timeout,
                )),
        )
}

/// One span per request: method, matched route (not the raw path) and request id.
fn make_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// A bound, ready-to-run broker.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    refresher: JoinHandle<()>,
    stop_refresher: CancellationToken,
    shutdown_grace: Duration,
    pre_drain_delay: Duration,
}

impl Application {
    /// Binds the listener and starts the token refresher (which fetches at once).
    pub async fn build(settings: &Settings, extra: Router<AppState>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen).await?;
        let client = PayrocClient::new(&settings.payroc).map_err(std::io::Error::other)?;
        let stop_refresher = CancellationToken::new();
        let (tokens, refresher) =
            TokenCache::spawn(client.clone(), settings.token, stop_refresher.clone());
        let minter = Minter::new(client, tokens.clone(), &settings.payroc);
        let state = AppState::new(settings, minter, tokens);
        Ok(Self {
            listener,
            router: router(state.clone(), extra),
            state,
            refresher,
            stop_refresher,
            shutdown_grace: settings.server.shutdown_grace,
            pre_drain_delay: settings.server.pre_drain_delay,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves; then readiness turns 503 at once, the listener keeps
    /// accepting for the pre-drain delay, closes, and in-flight requests get the grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop_accepting = CancellationToken::new();
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service)
            .with_graceful_shutdown(stop_accepting.clone().cancelled_owned());
        let mut server = tokio::spawn(server.into_future());
        let result = tokio::select! {
            joined = &mut server => joined.map_err(std::io::Error::other).and_then(|r| r),
            () = shutdown => {
                self.state.start_draining();
                tracing::info!(pre_drain_ms = self.pre_drain_delay.as_millis(), grace_ms = self.shutdown_grace.as_millis(), "shutdown requested: unready, draining");
                tokio::time::sleep(self.pre_drain_delay).await;
                stop_accepting.cancel();
                if let Ok(joined) = tokio::time::timeout(self.shutdown_grace, &mut server).await {
                    joined.map_err(std::io::Error::other).and_then(|r| r)
                } else {
                    tracing::warn!("grace period over; abandoning requests still in flight");
                    server.abort();
                    Ok(())
                }
            }
        };
        self.stop_refresher.cancel();
        let _ = self.refresher.await;
        tracing::info!("stopped");
        result
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
