//! Building and running the application: [`Application::build`] binds (port 0 in tests) and
//! starts the background tasks (token refresher, upkeep);
//! [`Application::run_until_stopped`] serves until the shutdown future resolves, then turns
//! unready, keeps serving for the pre-drain delay, drains within the grace period and stops
//! the background tasks.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::Request,
    http::{HeaderName, header},
    response::Response,
    routing::{any, get, post},
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceBuilder};
use tower_http::{
    catch_panic::CatchPanicLayer, cors::CorsLayer,
    sensitive_headers::SetSensitiveRequestHeadersLayer,
};

use crate::{
    accounts::{Directory, TokenFactory, watch},
    config::Settings,
    http::{
        cors,
        error::{ApiError, panic_response},
        layer::{self, RequestLayer},
        server,
        state::AppState,
    },
    idempotency,
    metrics::Metrics,
    mint::Minter,
    openapi,
    payroc::PayrocClient,
    proxy::Forwarder,
    routes::{apple_pay, assets, health, metrics, proxy, session, status},
    telemetry,
    tenants::{self, TenantsError},
};

/// Why the application could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tenants(#[from] TenantsError),
    #[error(transparent)]
    Listen(#[from] std::io::Error),
}

/// How often [`upkeep`] runs. Often, so each run is short: folding many seconds of latency
/// samples at once stalls a worker long enough to show in the p99.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The broker's routes. `/metrics` is included unless it has its own listener; `extra` (the
/// demo page) is merged in. Layers go around the whole router ([`serve`]), not into it:
/// a router layer would be cloned and boxed again for every request.
pub fn router(state: AppState, metrics_public: bool, extra: Router<AppState>) -> Router {
    let mut routes = Router::new()
        .route("/hosted-fields/session", post(session::create_session))
        .route("/apple-pay/session", post(apple_pay::start_session))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .route("/hosted-fields/broker.js", get(assets::broker_js))
        .route("/hosted-fields/broker.d.ts", get(assets::broker_d_ts))
        .route("/status", get(status::public))
        .route("/payroc/authorize", post(proxy::authorize))
        // SDKs given one base URL (Go's `WithBaseURL`, TypeScript's `baseUrl`) ask for their
        // token under the API base.
        .route("/payroc/v1/authorize", post(proxy::authorize))
        .route("/payroc/v1/{*path}", any(proxy::forward));
    if metrics_public {
        routes = routes.route("/metrics", get(metrics::metrics));
    }
    with_fallback(routes.merge(extra), state)
}

/// The admin listener's routes: `/metrics` (and liveness, for probes pointed at it).
pub fn admin_router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/metrics", get(metrics::metrics))
        .route("/status", get(status::admin))
        .route("/healthz", get(health::healthz));
    with_fallback(routes, state)
}

/// The fallback (404) and, with tracing on, the route templates handed back for the server
/// span ([`layer::keep_route`]: a layer per route, so only then).
fn with_fallback(routes: Router<AppState>, state: AppState) -> Router {
    let routes = if telemetry::enabled() {
        routes.route_layer(axum::middleware::from_fn(layer::keep_route))
    } else {
        routes
    };
    routes
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Serves `routes` on `listener` with every layer until `stop` is cancelled, then finishes
/// the requests in flight.
async fn serve(
    listener: TcpListener,
    routes: Router,
    cors: Option<CorsLayer>,
    state: &AppState,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let app = with_layers(routes, cors);
    server::serve(
        listener,
        app,
        state.connection_limits,
        state.metrics.clone(),
        stop,
    )
    .await
}

/// Every layer, outermost first. CORS (when an origin is allowed) wraps everything, so errors
/// (429, 503, 413, 404…) carry its headers too and a page can read why it failed.
fn with_layers(
    routes: Router,
    cors: Option<CorsLayer>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future = impl Send>
+ Clone
+ Send
+ Sync
+ 'static {
    ServiceBuilder::new()
        .option_layer(cors)
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            idempotency::HEADER,
            HeaderName::from_static("x-api-key"),
        ]))
        .layer(RequestLayer)
        .layer(CatchPanicLayer::custom(panic_response))
        .service(routes)
}

pub use self::signal::shutdown_signal;

/// A bound, ready-to-run broker.
pub struct Application {
    listener: TcpListener,
    router: Router,
    admin: Option<(TcpListener, Router)>,
    state: AppState,
    background: JoinSet<()>,
    stop_background: CancellationToken,
    shutdown_grace: Duration,
    pre_drain_delay: Duration,
}

impl Application {
    /// Loads the accounts (a bad tenants file fails before anything binds), binds the
    /// listener(s), and starts every account's token refresher (which fetch at once) and the
    /// tenants file's watcher.
    pub async fn build(settings: &Settings, extra: Router<AppState>) -> Result<Self, StartError> {
        let tenants = tenants::load(settings)?;
        let seen = settings
            .tenants
            .file
            .as_deref()
            .map(|file| watch::inputs(file, &tenants))
            .unwrap_or_default();
        let listener = TcpListener::bind(settings.server.listen).await?;
        let admin_listener = match settings.server.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let metrics = Metrics::new();
        let client =
            PayrocClient::new(&settings.payroc, metrics.clone()).map_err(std::io::Error::other)?;
        let stop_background = CancellationToken::new();
        let factory = TokenFactory::new(
            client.clone(),
            settings.token,
            metrics.clone(),
            stop_background.clone(),
        );
        let directory = Arc::new(Directory::new(
            &tenants,
            factory,
            metrics.clone(),
            settings.payroc.api_url.clone(),
            settings.cors.allowed_origins.clone(),
            settings.tenants.file.clone(),
        ));
        let minter = Minter::new(client, metrics.clone(), &settings.payroc);
        let forwarder = Forwarder::new(
            PayrocClient::for_proxy(&settings.payroc, &settings.proxy, metrics.clone())
                .map_err(std::io::Error::other)?,
            metrics.clone(),
            &settings.payroc,
            settings.proxy,
        );
        let state = AppState::new(settings, minter, forwarder, Arc::clone(&directory), metrics);
        let mut background = JoinSet::new();
        background.spawn(watch::run(
            directory,
            settings.clone(),
            watch::Loaded {
                spec: tenants,
                seen,
            },
            watch::hangup_signal(),
            stop_background.clone(),
        ));
        background.spawn(upkeep(state.clone(), stop_background.clone()));
        if let (Some(fleet), Some(url)) = (state.admission.fleet(), &settings.rate_limit.redis_url)
        {
            let (fleet, url, stop) = (Arc::clone(fleet), url.clone(), stop_background.clone());
            background.spawn(async move { fleet.connect(url, stop).await });
        }
        Ok(Self {
            listener,
            router: router(state.clone(), admin_listener.is_none(), extra),
            admin: admin_listener.map(|l| (l, admin_router(state.clone()))),
            state,
            background,
            stop_background,
            shutdown_grace: settings.server.shutdown_grace,
            pre_drain_delay: settings.server.pre_drain_delay,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` resolves; then readiness turns 503 at once, the listener keeps
    /// accepting for the pre-drain delay, closes, and in-flight requests get the grace period.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stop_accepting = CancellationToken::new();
        let mut servers = JoinSet::new();
        let state = self.state.clone();
        let stop = stop_accepting.clone();
        servers.spawn(async move {
            serve(
                self.listener,
                self.router,
                cors::layer(&state),
                &state,
                stop,
            )
            .await
        });
        if let Some((listener, router)) = self.admin {
            // No browser origin is allowed on the admin listener.
            let state = self.state.clone();
            let stop = stop_accepting.clone();
            servers.spawn(async move { serve(listener, router, None, &state, stop).await });
        }
        let result = tokio::select! {
            Some(joined) = servers.join_next() => joined.map_err(std::io::Error::other).and_then(|r| r),
            () = shutdown => {
                self.state.start_draining();
                tracing::info!(pre_drain_secs = self.pre_drain_delay.as_secs_f64(), grace_secs = self.shutdown_grace.as_secs_f64(), "shutdown requested: unready, draining");
                tokio::time::sleep(self.pre_drain_delay).await;
                stop_accepting.cancel();
                drain(&mut servers, self.shutdown_grace).await
            }
        };
        servers.abort_all();
        self.stop_background.cancel();
        while self.background.join_next().await.is_some() {}
        tracing::info!("stopped");
        result
    }
}

/// Waits for the servers to finish their in-flight requests, at most `grace`.
async fn drain(servers: &mut JoinSet<std::io::Result<()>>, grace: Duration) -> std::io::Result<()> {
    let all = async {
        while let Some(joined) = servers.join_next().await {
            joined.map_err(std::io::Error::other)??;
        }
        Ok(())
    };
    tokio::time::timeout(grace, all).await.unwrap_or_else(|_| {
        tracing::warn!("grace period over; abandoning requests still in flight");
        Ok(())
    })
}

/// Keeps memory following the load, not the uptime: drops idle rate-limiter entries, and
/// folds the latency samples recorded since the last scrape into their buckets (without a
/// scrape they would pile up, 8 bytes a request).
async fn upkeep(state: AppState, stop: CancellationToken) {
    let mut every = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tokio::select! {
            _ = every.tick() => {
                state.admission.upkeep();
                state.metrics.upkeep();
            }
            () = stop.cancelled() => return,
        }
    }
}

mod signal;

#[cfg(test)]
mod tests;
