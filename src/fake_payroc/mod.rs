//! An in-process fake of Payroc: `POST /authorize` (identity),
//! `POST /v1/processing-terminals/{id}/hosted-fields-sessions` and the card payments
//! endpoints (`/v1/payments`: create, list, retrieve, refund), served over real HTTP on a
//! loopback port for the integration tests and the `demo` command.
//!
//! It follows Payroc's `OpenAPI` spec for these calls (statuses, problem bodies, the order of checks,
//! idempotent replay) so that passing against it means something, and it injects faults so tests
//! can drive every failure the broker must survive. Time is real, not tokio's: the tests that use
//! it make real HTTP calls and must not pause the clock.
//!
//! Several accounts (API keys, each with its own processing terminals) can be configured: a
//! token of one key is refused (403) for another key's terminal, as Payroc does.
//!
//! Layout: this file holds the public handle and its global knobs; `accounts` the per-key
//! knobs and counters; `config` the start-up settings and request record; `state` what the
//! handlers share; `identity` and `sessions` the two endpoints; `incoming` a session request
//! as read; `checks` the session request validation; `problem` the problem+json bodies; `lost`
//! the bodies that kill a connection; `oversized` the bodies too big to read; `session_fault`
//! the session endpoint's persistent faults; `payments/` the card payments endpoints with their
//! own store, faults, request log and public knobs.

mod accounts;
mod apple_pay;
mod checks;
mod config;
mod control;
mod identity;
mod incoming;
mod lost;
mod oversized;
mod payments;
mod problem;
mod session_fault;
mod sessions;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::http::Uri;
use axum::routing::{get, post};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;

pub use apple_pay::RecordedApplePayRequest;
pub use config::{DEFAULT_APPLE_DOMAIN_ID, FakeAccount, FakePayrocConfig, RecordedSessionRequest};
pub use control::{STANDIN_SCRIPT, standin_integrity};
pub use identity::IdentityFault;
pub use payments::RecordedApiRequest;
pub use session_fault::SessionFault;

use problem::{method_not_allowed, not_found};
use sessions::SESSIONS_ROUTE;
use state::{Counters, FakeState, Shared};

/// Real session bodies are about 60 bytes; anything near this limit is a client bug.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A running fake. Cheap to clone; dropping every handle or calling [`FakePayroc::shutdown`]
/// stops the server.
#[derive(Clone)]
pub struct FakePayroc {
    inner: Arc<Handle>,
}

/// The server task holds `shared` but not `stop`: when the last handle goes, the sender drops
/// and the task's shutdown signal fires.
struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl fmt::Debug for FakePayroc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakePayroc")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl FakePayroc {
    /// Binds `127.0.0.1:0` and serves until shut down. Fails (`InvalidInput`) if two accounts
    /// share an API key or a terminal.
    pub async fn start(config: FakePayrocConfig) -> io::Result<Self> {
        config.validate()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, addr));
        let (stop, mut stopped) = watch::channel(false);
        let inner = Arc::new_cyclic(|handle| {
            let app = router(Arc::clone(&shared), handle.clone());
            tokio::spawn(async move {
                // `wait_for` also returns once every handle, and so the sender, is gone.
                let signal = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(error) = axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .await
                {
                    tracing::debug!(%error, "fake payroc stopped with an error");
                }
            });
            Handle { shared, addr, stop }
        });
        Ok(Self { inner })
    }

    /// The loopback address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT/authorize`.
    pub fn identity_url(&self) -> Url {
        self.url("/authorize")
    }

    /// `http://127.0.0.1:PORT/v1`, the base the sessions path hangs off.
    pub fn api_url(&self) -> Url {
        self.url("/v1")
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr())).expect("a socket address is a host")
    }

    /// Where the fake "CDN" serves the stand-in Hosted Fields library for `lib_version`.
    pub fn script_url(&self, lib_version: &str) -> Url {
        self.url(&format!("/js/hosted-fields/hosted-fields-{lib_version}.js"))
    }

    /// The fake's control surface (`GET`/`POST`), for `demo` and browser tests.
    pub fn control_url(&self) -> Url {
        self.url("/_control")
    }

    /// The first account's API key.
    pub fn api_key(&self) -> String {
        self.state().config.api_key.clone()
    }

    /// Makes the identity endpoint misbehave, for every key, until set back to
    /// [`IdentityFault::None`].
    pub fn set_identity_fault(&self, fault: IdentityFault) {
        self.state().identity_fault = fault;
    }

    /// Makes the session endpoint misbehave until set back to [`SessionFault::None`].
    pub fn set_session_fault(&self, fault: SessionFault) {
        self.state().session_fault = fault;
    }

    /// Rotates the first account's API key; the old one gets 401 from now on. Tokens already
    /// issued stay good (and remember the old key).
    pub fn set_api_key(&self, key: &str) {
        key.clone_into(&mut self.state().config.api_key);
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state().config.token_lifetime = lifetime;
    }

    /// Lifetime of sessions created from now on.
    pub fn set_session_lifetime(&self, lifetime: Duration) {
        self.state().config.session_lifetime = lifetime;
    }

    /// The next `n` session POSTs answer `status` with a problem body, before any other check
    /// and without storing anything. Replaces any budget left from an earlier call.
    pub fn fail_next_sessions(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.failures_left = n;
        state.failure_status = status;
    }

    /// The next `n` session POSTs that earn a 201 (new or replayed) are processed normally, so a
    /// new session is stored under its key, but the connection dies after the 201 headers:
    /// "Payroc created it, the answer got lost".
    pub fn drop_next_sessions(&self, n: u32) {
        self.state().drops_left = n;
    }

    /// Delay before answering session POSTs.
    pub fn set_session_latency(&self, latency: Duration) {
        self.state().session_latency = latency;
    }

    /// Delay before answering identity POSTs.
    pub fn set_identity_latency(&self, latency: Duration) {
        self.state().identity_latency = latency;
    }

    /// Every Bearer token issued so far, for any key, becomes invalid (401).
    pub fn revoke_all_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Every stored session gets `expiresAt` = now − 1 s, so replays return an expired session.
    pub fn expire_sessions(&self) {
        let past = OffsetDateTime::now_utc() - Duration::from_secs(1);
        for session in self.state().sessions.values_mut() {
            session.expires_at = past;
        }
    }

    /// Every `POST /authorize` received, whatever the key and the outcome.
    pub fn identity_calls(&self) -> u64 {
        self.counters().identity_calls.load(Ordering::Relaxed)
    }

    /// The `traceparent` of every `POST /authorize` that sent one, oldest first.
    pub fn identity_traceparents(&self) -> Vec<String> {
        self.state().identity_traceparents.clone()
    }

    /// Successful 200s that carried a usable token.
    pub fn tokens_issued(&self) -> u64 {
        self.counters().tokens_issued.load(Ordering::Relaxed)
    }

    /// Every POST to the sessions path received, whatever the token.
    pub fn session_calls(&self) -> u64 {
        self.counters().session_calls.load(Ordering::Relaxed)
    }

    /// New sessions minted (not replays, not errors).
    pub fn sessions_created(&self) -> u64 {
        self.counters().sessions_created.load(Ordering::Relaxed)
    }

    /// Every session request answered so far, oldest first.
    pub fn session_requests(&self) -> Vec<RecordedSessionRequest> {
        self.state().requests.clone()
    }

    /// Stops accepting connections and closes idle ones. Idempotent.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.inner.shared.lock()
    }

    fn counters(&self) -> &Counters {
        &self.inner.shared.counters
    }
}

fn router(shared: Arc<Shared>, handle: control::ControlState) -> Router {
    let control = Router::new()
        .route("/_control", get(control::report).post(control::inject))
        .route("/js/hosted-fields/{file}", get(control::script))
        .with_state(handle);
    Router::new()
        .route(
            "/authorize",
            post(identity::authorize).fallback(|| async { method_not_allowed() }),
        )
        .route(
            SESSIONS_ROUTE,
            post(sessions::create_session).fallback(|| async { method_not_allowed() }),
        )
        .route(
            apple_pay::APPLE_PAY_ROUTE,
            post(apple_pay::start_session).fallback(|| async { method_not_allowed() }),
        )
        .merge(payments::routes())
        .fallback(|uri: Uri| async move { not_found(&uri) })
        .with_state(shared)
        .merge(control)
}
