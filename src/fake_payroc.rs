//! An in-process fake of Payroc: `POST /authorize` (identity) and
//! `POST /v1/processing-terminals/{id}/hosted-fields-sessions`, served over real HTTP on a
//! loopback port for the integration tests and the `demo` command.
//!
//! It follows the sliced spec in `shared/payroc` (statuses, problem bodies, the order of checks,
//! idempotent replay) so that passing against it means something, and it injects faults so tests
//! can drive every failure the broker must survive. Time is real, not tokio's: the tests that use
//! it make real HTTP calls and must not pause the clock.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::stream;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tokio::net::TcpListener;
use tokio::sync::watch;
use url::Url;
use uuid::Uuid;

/// Problem `type` URLs are this plus a fragment, as in Payroc's spec.
const ERROR_DOCS: &str = "https://docs.payroc.com/api/errors#";
const PROBLEM_JSON: &str = "application/problem+json";
const SESSIONS_ROUTE: &str =
    "/v1/processing-terminals/{processingTerminalId}/hosted-fields-sessions";
/// Real session bodies are about 60 bytes; anything near this limit is a client bug.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Long enough for hyper to flush the 201 head before the body fails, so the client sees a
/// response start and then lose its connection.
const DROP_AFTER_HEADERS: Duration = Duration::from_millis(20);
/// Payroc's access tokens are long opaque strings; 48 keeps clients from assuming a length.
const ACCESS_TOKEN_LEN: usize = 48;
/// `processingTerminalId` length bounds from the spec.
const TERMINAL_ID_CHARS: std::ops::RangeInclusive<usize> = 4..=50;
/// `secureTokenId` length bounds from the spec.
const SECURE_TOKEN_ID_CHARS: std::ops::RangeInclusive<usize> = 1..=200;
const VALIDATION_DETAIL: &str =
    "One or more validation errors occurred, see error section for more info";
/// Media ranges that admit `application/json` or `application/problem+json`.
const ACCEPTABLE_RANGES: [&str; 4] = ["*/*", "application/*", "application/json", PROBLEM_JSON];
/// `expiresAt` as Payroc writes it: milliseconds and a numeric offset.
const EXPIRES_AT_FORMAT: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
);

/// Start-up settings.
#[derive(Clone)]
pub struct FakePayrocConfig {
    /// The only `x-api-key` the identity endpoint accepts.
    pub api_key: String,
    /// `expires_in` of issued Bearer tokens (whole seconds on the wire, at least 1). The fake
    /// itself honours the exact duration, so sub-second lifetimes make short expiry tests.
    pub token_lifetime: Duration,
    /// Lifetime of session tokens (Payroc: 10 minutes).
    pub session_lifetime: Duration,
    /// Processing terminals that exist.
    pub terminals: Vec<String>,
}

impl Default for FakePayrocConfig {
    fn default() -> Self {
        Self {
            api_key: "demo-api-key".to_owned(),
            token_lifetime: Duration::from_secs(3600),
            session_lifetime: Duration::from_secs(600),
            terminals: vec!["1234001".to_owned(), "1234002".to_owned()],
        }
    }
}

// Hand-written so the API key never reaches a log line.
impl fmt::Debug for FakePayrocConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakePayrocConfig")
            .field("api_key", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("session_lifetime", &self.session_lifetime)
            .field("terminals", &self.terminals)
            .finish()
    }
}

/// How the identity endpoint misbehaves; it keeps doing so until set back to `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IdentityFault {
    /// Behave normally.
    #[default]
    None,
    /// Answer with this status (e.g. 503, 500, 429), a problem+json body, and
    /// `Retry-After: <secs>` when `Some`. An invalid status becomes 500.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Reject the API key: 401 problem (as when the key is wrong).
    RejectKey,
    /// 200 with a JSON body lacking `access_token`.
    MissingToken,
    /// 200 with `expires_in: 0` (the token is not stored: it is dead on arrival).
    ZeroExpiry,
    /// Accept the TCP connection, read the request, then close it without answering.
    Drop,
}

/// One request the session endpoint received (after it was read), for assertions.
#[derive(Clone, Debug)]
pub struct RecordedSessionRequest {
    /// Path segment as received (percent-decoded).
    pub terminal: String,
    /// Raw `Authorization` header.
    pub authorization: Option<String>,
    /// Raw `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Raw `Content-Type` header.
    pub content_type: Option<String>,
    /// Raw `Accept` header.
    pub accept: Option<String>,
    /// The body, if it parsed as JSON.
    pub body: Option<Value>,
    /// Status the fake answered (or would have, for a dropped connection).
    pub status: u16,
}

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
    /// Binds `127.0.0.1:0` and serves until shut down.
    pub async fn start(config: FakePayrocConfig) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, addr));
        let (stop, mut stopped) = watch::channel(false);
        let app = router(Arc::clone(&shared));
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
        let handle = Handle { shared, addr, stop };
        Ok(Self {
            inner: Arc::new(handle),
        })
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

    /// The API key currently accepted.
    pub fn api_key(&self) -> String {
        self.state().config.api_key.clone()
    }

    /// Makes the identity endpoint misbehave until set back to [`IdentityFault::None`].
    pub fn set_identity_fault(&self, fault: IdentityFault) {
        self.state().identity_fault = fault;
    }

    /// Rotates the accepted API key; the old one gets 401 from now on.
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

    /// Every Bearer token issued so far becomes invalid (401).
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

    /// Every `POST /authorize` received, whatever the outcome.
    pub fn identity_calls(&self) -> u64 {
        self.counters().identity_calls.load(Ordering::Relaxed)
    }

    /// Successful 200s that carried a usable token.
    pub fn tokens_issued(&self) -> u64 {
        self.counters().tokens_issued.load(Ordering::Relaxed)
    }

    /// Every POST to the sessions path received.
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

/// What the handlers share: one lock for the state, atomics for the counters.
struct Shared {
    state: Mutex<FakeState>,
    counters: Counters,
    /// `http://127.0.0.1:PORT`, for `location` and `instance`.
    origin: String,
}

#[derive(Default)]
struct Counters {
    identity_calls: AtomicU64,
    tokens_issued: AtomicU64,
    session_calls: AtomicU64,
    sessions_created: AtomicU64,
}

struct FakeState {
    config: FakePayrocConfig,
    identity_fault: IdentityFault,
    identity_latency: Duration,
    session_latency: Duration,
    failures_left: u32,
    failure_status: u16,
    drops_left: u32,
    /// Bearer token → when it was issued and for how long it is good.
    tokens: HashMap<String, (Instant, Duration)>,
    /// `Idempotency-Key` → the request it was first used with and the 201 it earned.
    sessions: HashMap<String, StoredSession>,
    requests: Vec<RecordedSessionRequest>,
}

/// A created session plus the request that created it, for idempotent replay.
#[derive(Clone)]
struct StoredSession {
    path: String,
    body: Value,
    terminal: String,
    token: String,
    expires_at: OffsetDateTime,
    location: String,
}

impl Shared {
    fn new(config: FakePayrocConfig, addr: SocketAddr) -> Self {
        let state = FakeState {
            config,
            identity_fault: IdentityFault::None,
            identity_latency: Duration::ZERO,
            session_latency: Duration::ZERO,
            failures_left: 0,
            failure_status: 500,
            drops_left: 0,
            tokens: HashMap::new(),
            sessions: HashMap::new(),
            requests: Vec::new(),
        };
        Self {
            state: Mutex::new(state),
            counters: Counters::default(),
            origin: format!("http://{addr}"),
        }
    }

    /// A panicking test must not wedge every later request, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/authorize",
            post(authorize).fallback(|| async { method_not_allowed() }),
        )
        .route(
            SESSIONS_ROUTE,
            post(create_session).fallback(|| async { method_not_allowed() }),
        )
        .fallback(|uri: Uri| async move { not_found(&uri) })
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Identity: POST /authorize

async fn authorize(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    shared
        .counters
        .identity_calls
        .fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    // Read (and ignore) any body, so a dropped answer really follows a fully read request.
    let _ = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let latency = shared.lock().identity_latency;
    tokio::time::sleep(latency).await;
    let response = shared.answer_identity(&parts.headers);
    tracing::debug!(
        status = response.status().as_u16(),
        "fake payroc answered /authorize"
    );
    response
}

impl Shared {
    /// An injected fault wins over everything, a wrong key included, so a test that sets one
    /// gets exactly that answer.
    fn answer_identity(&self, headers: &HeaderMap) -> Response {
        let mut state = self.lock();
        match state.identity_fault.clone() {
            IdentityFault::None => {}
            IdentityFault::Status {
                status,
                retry_after_secs,
            } => return with_retry_after(problem_for_status(status), retry_after_secs),
            IdentityFault::RejectKey => return not_authorized().into_response(),
            IdentityFault::MissingToken => {
                return token_response(None, wire_seconds(state.config.token_lifetime));
            }
            IdentityFault::ZeroExpiry => return token_response(Some(&random_access_token()), 0),
            IdentityFault::Drop => return (StatusCode::OK, abort_before_head()).into_response(),
        }
        let key_matches = headers
            .get("x-api-key")
            .is_some_and(|key| key.as_bytes() == state.config.api_key.as_bytes());
        if !key_matches {
            return not_authorized().into_response();
        }
        let token = random_access_token();
        let lifetime = state.config.token_lifetime;
        state
            .tokens
            .insert(token.clone(), (Instant::now(), lifetime));
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        token_response(Some(&token), wire_seconds(lifetime))
    }
}

/// `expires_in` is whole seconds; a sub-second lifetime still announces 1, never 0.
fn wire_seconds(lifetime: Duration) -> u64 {
    lifetime.as_secs().max(1)
}

/// The identity success body; `None` leaves `access_token` out (the `MissingToken` fault).
fn token_response(token: Option<&str>, expires_in: u64) -> Response {
    let mut body = json!({
        "expires_in": expires_in,
        "scope": "service_a service_b",
        "token_type": "Bearer",
    });
    if let Some(token) = token {
        body["access_token"] = Value::from(token);
    }
    axum::Json(body).into_response()
}

fn with_retry_after(problem: Problem, retry_after_secs: Option<u64>) -> Response {
    let mut response = problem.into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Sessions: POST /v1/processing-terminals/{id}/hosted-fields-sessions

/// A session request as read off the wire.
struct Incoming {
    /// Percent-decoded path segment.
    terminal: String,
    /// Raw request path: part of what an idempotency key is bound to.
    path: String,
    /// Absolute request URL, for `instance`.
    url: String,
    /// Absolute URL of the path alone: new sessions are located under it.
    resource_url: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    body: Bytes,
}

async fn create_session(
    State(shared): State<Arc<Shared>>,
    terminal: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    shared
        .counters
        .session_calls
        .fetch_add(1, Ordering::Relaxed);
    let incoming = Incoming::read(&shared.origin, terminal, request).await;
    let latency = shared.lock().session_latency;
    tokio::time::sleep(latency).await;
    let reply = shared.answer_session(&incoming);
    tracing::debug!(
        status = reply.status().as_u16(),
        "fake payroc answered a session request"
    );
    reply.into_response()
}

impl Incoming {
    async fn read(
        origin: &str,
        terminal: Result<Path<String>, PathRejection>,
        request: Request,
    ) -> Self {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        // A segment that is not UTF-8 once decoded names no terminal; keep it raw (→ 403).
        let terminal = terminal.map_or_else(|_| raw_segment(&path), |Path(id)| id);
        // An oversized body reads as empty, which then fails JSON parsing (→ 400).
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        let header = |name| header_text(&parts.headers, name);
        Self {
            terminal,
            url: format!("{origin}{}", parts.uri),
            resource_url: format!("{origin}{path}"),
            authorization: header("authorization"),
            idempotency_key: header("idempotency-key"),
            content_type: header("content-type"),
            accept: header("accept"),
            body,
            path,
        }
    }

    fn record(&self, status: StatusCode) -> RecordedSessionRequest {
        RecordedSessionRequest {
            terminal: self.terminal.clone(),
            authorization: self.authorization.clone(),
            idempotency_key: self.idempotency_key.clone(),
            content_type: self.content_type.clone(),
            accept: self.accept.clone(),
            body: serde_json::from_slice(&self.body).ok(),
            status: status.as_u16(),
        }
    }
}

/// `/v1/processing-terminals/{id}/...` → `{id}`, undecoded.
fn raw_segment(path: &str) -> String {
    path.split('/').nth(3).unwrap_or_default().to_owned()
}

/// All values of a header, joined as HTTP allows; lossy so odd bytes still get recorded.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// What a session request earns.
enum SessionReply {
    /// A 201, new or replayed; `dropped` kills the connection after the headers.
    Session {
        session: StoredSession,
        dropped: bool,
    },
    Problem(Problem),
}

impl SessionReply {
    fn status(&self) -> StatusCode {
        match self {
            Self::Session { .. } => StatusCode::CREATED,
            Self::Problem(problem) => problem.status,
        }
    }
}

impl IntoResponse for SessionReply {
    fn into_response(self) -> Response {
        let (session, dropped) = match self {
            Self::Problem(problem) => return problem.into_response(),
            Self::Session { session, dropped } => (session, dropped),
        };
        let body = if dropped {
            abort_after_head()
        } else {
            Body::from(session.to_json().to_string())
        };
        let headers = [
            (CONTENT_TYPE, "application/json".to_owned()),
            (LOCATION, session.location),
        ];
        (StatusCode::CREATED, headers, body).into_response()
    }
}

impl Shared {
    /// Decides, counts, records and consumes a pending drop, all under one lock.
    fn answer_session(&self, incoming: &Incoming) -> SessionReply {
        let mut state = self.lock();
        let reply = match state.decide_session(incoming) {
            Err(problem) => SessionReply::Problem(problem),
            Ok((session, created)) => {
                if created {
                    self.counters
                        .sessions_created
                        .fetch_add(1, Ordering::Relaxed);
                }
                let dropped = state.drops_left > 0;
                state.drops_left = state.drops_left.saturating_sub(1);
                SessionReply::Session { session, dropped }
            }
        };
        state.requests.push(incoming.record(reply.status()));
        reply
    }
}

impl FakeState {
    /// The checks in Payroc's order; `Ok` carries the session and whether it is new.
    fn decide_session(&mut self, incoming: &Incoming) -> Result<(StoredSession, bool), Problem> {
        if let Some(problem) = self.take_injected_failure() {
            return Err(problem);
        }
        self.check_bearer(incoming.authorization.as_deref())?;
        let key = check_idempotency_key(incoming.idempotency_key.as_deref())?;
        check_content_type(incoming.content_type.as_deref())?;
        check_accept(incoming.accept.as_deref())?;
        let body = validate_body(&incoming.body)?;
        self.check_terminal(&incoming.terminal, &incoming.url)?;
        self.replay_or_create(key, incoming, body)
    }

    fn take_injected_failure(&mut self) -> Option<Problem> {
        if self.failures_left == 0 {
            return None;
        }
        self.failures_left -= 1;
        Some(problem_for_status(self.failure_status))
    }

    fn check_bearer(&self, authorization: Option<&str>) -> Result<(), Problem> {
        let live = authorization
            .and_then(bearer_token)
            .and_then(|token| self.tokens.get(token))
            .is_some_and(|(issued, lifetime)| issued.elapsed() < *lifetime);
        if live { Ok(()) } else { Err(not_authorized()) }
    }

    fn check_terminal(&self, terminal: &str, url: &str) -> Result<(), Problem> {
        let well_formed = TERMINAL_ID_CHARS.contains(&terminal.chars().count());
        if well_formed && self.config.terminals.iter().any(|known| known == terminal) {
            return Ok(());
        }
        let detail = "You do not have the required permissions to perform this action";
        let problem = Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail);
        Err(problem
            .with("instance", url)
            .with("resource", "processingTerminal"))
    }

    /// Payroc binds a key to the URI and body: same both → replay verbatim, else 409.
    fn replay_or_create(
        &mut self,
        key: &str,
        incoming: &Incoming,
        body: Value,
    ) -> Result<(StoredSession, bool), Problem> {
        if let Some(stored) = self.sessions.get(key) {
            return if stored.path == incoming.path && stored.body == body {
                Ok((stored.clone(), false))
            } else {
                Err(key_in_use(&incoming.url))
            };
        }
        let session = StoredSession {
            location: format!("{}/{}", incoming.resource_url, Uuid::new_v4()),
            path: incoming.path.clone(),
            body,
            terminal: incoming.terminal.clone(),
            token: random_session_token(),
            expires_at: OffsetDateTime::now_utc() + self.config.session_lifetime,
        };
        self.sessions.insert(key.to_owned(), session.clone());
        Ok((session, true))
    }
}

impl StoredSession {
    fn to_json(&self) -> Value {
        json!({
            "processingTerminalId": self.terminal,
            "token": self.token,
            "expiresAt": format_expires_at(self.expires_at),
        })
    }
}

fn format_expires_at(at: OffsetDateTime) -> String {
    at.format(EXPIRES_AT_FORMAT)
        .expect("a four-digit year with a UTC offset always formats")
}

/// `Bearer <token>`, scheme case-insensitive as RFC 9110 says.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn check_idempotency_key(key: Option<&str>) -> Result<&str, Problem> {
    let Some(key) = key else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "idempotency-key-missing",
            "Idempotency-Key header missing",
            "An 'Idempotency-Key' must be supplied for this request",
        ));
    };
    if is_hyphenated_uuid_v4(key) {
        return Ok(key);
    }
    let example = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let message = format!("Expected a UUID v4 such as {example}, got '{key}' for Idempotency-Key");
    let error = field_error("Idempotency-Key", "must be a UUID v4", &message);
    Err(validation_failed(vec![error]))
}

/// `Uuid::try_parse` also takes braced, URN and simple forms; Payroc asks for the 36-char
/// hyphenated form of a version 4, RFC 4122 variant UUID.
fn is_hyphenated_uuid_v4(key: &str) -> bool {
    let shaped = key.len() == 36
        && key.bytes().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        });
    shaped
        && Uuid::try_parse(key)
            .is_ok_and(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122)
}

fn check_content_type(content_type: Option<&str>) -> Result<(), Problem> {
    let is_json = content_type.is_some_and(|value| {
        let media = value.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/json")
    });
    if is_json {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        "You submitted a payload in an unsupported format",
    ))
}

fn check_accept(accept: Option<&str>) -> Result<(), Problem> {
    if accept.is_none_or(accepts_json) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-acceptable",
        "Not acceptable",
        "Resource does not support the representation requested",
    ))
}

/// Whether an `Accept` value admits one of our two media types. An empty value is treated as
/// absent; a range with `q=0` is a refusal.
fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let refused = parts.any(is_zero_quality);
            !refused
                && ACCEPTABLE_RANGES
                    .iter()
                    .any(|ok| media.eq_ignore_ascii_case(ok))
        })
}

fn is_zero_quality(parameter: &str) -> bool {
    let Some((name, value)) = parameter.split_once('=') else {
        return false;
    };
    let value = value.trim();
    name.trim().eq_ignore_ascii_case("q")
        && value.starts_with('0')
        && value.chars().all(|c| c == '0' || c == '.')
}

/// The request schema: a JSON object with `libVersion`, `scenario` and optional
/// `secureTokenId`. Unknown members pass, as the schema does not forbid them.
fn validate_body(bytes: &[u8]) -> Result<Value, Problem> {
    let body: Value = serde_json::from_slice(bytes).map_err(|error| {
        let message = format!("The request body is not valid JSON: {error}");
        validation_failed(vec![field_error("body", "malformed JSON", &message)])
    })?;
    let Some(members) = body.as_object() else {
        let message = "Expected a JSON object for the request body";
        return Err(validation_failed(vec![field_error(
            "body",
            "must be an object",
            message,
        )]));
    };
    let errors: Vec<Value> = [
        check_lib_version(members.get("libVersion")),
        check_scenario(members.get("scenario")),
        check_secure_token_id(members.get("secureTokenId")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(validation_failed(errors))
    }
}

fn check_lib_version(value: Option<&Value>) -> Option<Value> {
    match value {
        None => Some(missing("libVersion")),
        Some(Value::String(version)) if lib_version_matches(version) => None,
        Some(Value::String(version)) => Some(field_error(
            "libVersion",
            "invalid format",
            &format!("Expected a version like 1.7.0.261471, got '{version}' for libVersion"),
        )),
        Some(other) => Some(not_a_string("libVersion", other)),
    }
}

fn check_scenario(value: Option<&Value>) -> Option<Value> {
    match value {
        None => Some(missing("scenario")),
        Some(Value::String(scenario)) if scenario == "payment" || scenario == "tokenization" => {
            None
        }
        Some(Value::String(scenario)) => Some(field_error(
            "scenario",
            "invalid value",
            &format!("Expected one of payment, tokenization, got '{scenario}' for scenario"),
        )),
        Some(other) => Some(not_a_string("scenario", other)),
    }
}

fn check_secure_token_id(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::String(id) if SECURE_TOKEN_ID_CHARS.contains(&id.chars().count()) => None,
        Value::String(id) => Some(field_error(
            "secureTokenId",
            "invalid length",
            &format!(
                "Expected 1 to 200 characters, got {} for secureTokenId",
                id.chars().count()
            ),
        )),
        other => Some(not_a_string("secureTokenId", other)),
    }
}

fn missing(parameter: &str) -> Value {
    field_error(parameter, "required", &format!("{parameter} is required"))
}

fn not_a_string(parameter: &str, value: &Value) -> Value {
    let message = format!("Expected string, got '{value}' for {parameter}");
    field_error(parameter, "must be a string", &message)
}

/// One element of the `libVersion` pattern `^\d{1,2}.\d{1,2}.\d{1,2}(?:-beta)?.\d+$`.
enum Piece {
    /// `\d{min,max}`: ASCII digits only, as in ECMA-262 regexes.
    Digits { min: usize, max: usize },
    /// `.`: any character but a line terminator (the spec's dots are unescaped).
    AnyChar,
    /// `(?:literal)?`
    Optional(&'static [char]),
}

const LIB_VERSION_PATTERN: [Piece; 8] = [
    Piece::Digits { min: 1, max: 2 },
    Piece::AnyChar,
    Piece::Digits { min: 1, max: 2 },
    Piece::AnyChar,
    Piece::Digits { min: 1, max: 2 },
    Piece::Optional(&['-', 'b', 'e', 't', 'a']),
    Piece::AnyChar,
    Piece::Digits {
        min: 1,
        max: usize::MAX,
    },
];

/// Matches exactly what the spec's regex matches, without a regex engine.
fn lib_version_matches(version: &str) -> bool {
    let chars: Vec<char> = version.chars().collect();
    matches_pieces(&LIB_VERSION_PATTERN, &chars)
}

/// Backtracking match of the whole input (`^...$`); the pattern is tiny, so this is cheap.
fn matches_pieces(pieces: &[Piece], input: &[char]) -> bool {
    let Some((piece, rest)) = pieces.split_first() else {
        return input.is_empty();
    };
    match piece {
        Piece::Digits { min, max } => {
            let run = input
                .iter()
                .take(*max)
                .take_while(|c| c.is_ascii_digit())
                .count();
            (*min..=run)
                .rev()
                .any(|taken| matches_pieces(rest, &input[taken..]))
        }
        Piece::AnyChar => {
            input.first().is_some_and(|&c| !is_line_terminator(c))
                && matches_pieces(rest, &input[1..])
        }
        Piece::Optional(literal) => {
            (input.starts_with(literal) && matches_pieces(rest, &input[literal.len()..]))
                || matches_pieces(rest, input)
        }
    }
}

/// ECMA-262's line terminators, which `.` does not match.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

// ---------------------------------------------------------------------------------------------
// Problems (RFC 7807, shaped as in Payroc's spec)

/// A problem body: `type`, `title`, `status`, `detail`, plus whatever members the status adds.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    body: Map<String, Value>,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, title: &str, detail: &str) -> Self {
        let body = [
            ("type", Value::from(format!("{ERROR_DOCS}{kind}"))),
            ("title", Value::from(title)),
            ("status", Value::from(status.as_u16())),
            ("detail", Value::from(detail)),
        ]
        .into_iter()
        .map(|(member, value)| (member.to_owned(), value))
        .collect();
        Self { status, body }
    }

    #[must_use]
    fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.body.insert(member.to_owned(), value.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Value::Object(self.body).to_string();
        (self.status, [(CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

fn not_authorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "not-authorized",
        "Not Authorized",
        "Your identity could not be verified",
    )
}

fn validation_failed(errors: Vec<Value>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "Bad request",
        VALIDATION_DETAIL,
    )
    .with("errors", errors)
}

fn field_error(parameter: &str, detail: &str, message: &str) -> Value {
    json!({"parameter": parameter, "detail": detail, "message": message})
}

fn key_in_use(url: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-in-use",
        "Idempotency-Key in use",
        "'Idempotency-Key' is already in use against a different request",
    )
    .with("instance", url)
}

/// An injected failure: Payroc's own shape for 401 and 500, otherwise a type named after the
/// status (`#service-unavailable`, `#too-many-requests`, ...). An invalid status becomes 500.
fn problem_for_status(status: u16) -> Problem {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = "We are unable to process your request at this time";
    match status {
        StatusCode::UNAUTHORIZED => not_authorized(),
        StatusCode::INTERNAL_SERVER_ERROR => Problem::new(status, "api-error", "Api error", detail)
            .with("errors", json!([{"message": "Service offline"}])),
        _ => {
            let reason = status.canonical_reason().unwrap_or("Error");
            let kind: String = reason
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            Problem::new(status, &kind, &sentence_case(reason), detail)
        }
    }
}

/// "Service Unavailable" → "Service unavailable", the way Payroc writes titles.
fn sentence_case(reason: &str) -> String {
    let lower = reason.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

fn method_not_allowed() -> Response {
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "This resource only supports POST",
    );
    ([(ALLOW, "POST")], problem).into_response()
}

fn not_found(uri: &Uri) -> Response {
    let problem = Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "The requested resource does not exist",
    );
    problem.with("instance", uri.path()).into_response()
}

// ---------------------------------------------------------------------------------------------
// Lost answers and random values

/// Fails before hyper flushes the response head, so the client gets no answer at all.
fn abort_before_head() -> Body {
    Body::from_stream(stream::iter([Err::<Bytes, _>(connection_aborted())]))
}

/// Fails only after a pause, by which time hyper has flushed the head: the client sees the
/// status and headers, then the connection dies mid-body.
fn abort_after_head() -> Body {
    Body::from_stream(stream::once(async {
        tokio::time::sleep(DROP_AFTER_HEADERS).await;
        Err::<Bytes, _>(connection_aborted())
    }))
}

fn connection_aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "fake payroc dropped the connection",
    )
}

fn random_access_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(ACCESS_TOKEN_LEN)
        .map(char::from)
        .collect()
}

/// 32 lowercase hex characters, like the spec's `abcdef1234567890abcdef1234567890`.
fn random_session_token() -> String {
    Uuid::from_bytes(rand::rng().random()).simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::ACCEPT;
    use reqwest::{Client, RequestBuilder};
    use time::format_description::well_known::Rfc3339;

    const LIB_VERSION: &str = "1.7.0.261457";

    async fn start() -> FakePayroc {
        FakePayroc::start(FakePayrocConfig::default())
            .await
            .expect("fake starts")
    }

    fn client() -> Client {
        // Loopback must never go through a proxy from the environment.
        Client::builder().no_proxy().build().expect("client builds")
    }

    async fn authorize_with(client: &Client, fake: &FakePayroc, key: &str) -> reqwest::Response {
        let request = client.post(fake.identity_url()).header("x-api-key", key);
        request.send().await.expect("identity answers")
    }

    async fn identity_body(client: &Client, fake: &FakePayroc) -> Value {
        let response = authorize_with(client, fake, &fake.api_key()).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("identity sends JSON")
    }

    async fn bearer(client: &Client, fake: &FakePayroc) -> String {
        let body = identity_body(client, fake).await;
        body["access_token"].as_str().expect("a token").to_owned()
    }

    fn sessions_url(fake: &FakePayroc, terminal: &str) -> String {
        let api = fake.api_url();
        format!("{api}/processing-terminals/{terminal}/hosted-fields-sessions")
    }

    fn payment() -> Value {
        json!({"libVersion": LIB_VERSION, "scenario": "payment"})
    }

    fn new_key() -> String {
        Uuid::new_v4().to_string()
    }

    /// Bearer and key set, no body yet: each test adds or breaks one thing.
    fn session_post(client: &Client, fake: &FakePayroc, token: &str, key: &str) -> RequestBuilder {
        let url = sessions_url(fake, "1234001");
        let request = client.post(url).bearer_auth(token);
        request.header("Idempotency-Key", key)
    }

    async fn send(request: RequestBuilder) -> reqwest::Response {
        request.send().await.expect("fake answers")
    }

    async fn create(client: &Client, fake: &FakePayroc, token: &str, key: &str) -> Value {
        let response = send(session_post(client, fake, token, key).json(&payment())).await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("a session body")
    }

    /// Asserts the problem+json envelope and returns the body for further checks.
    async fn problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body: Value = response.json().await.expect("a problem body");
        assert_eq!(body["type"], format!("{ERROR_DOCS}{kind}"));
        assert_eq!(body["status"], status);
        assert!(body["title"].is_string() && body["detail"].is_string());
        body
    }

    fn parameters(problem: &Value) -> Vec<&str> {
        let errors = problem["errors"].as_array().expect("an errors array");
        errors
            .iter()
            .filter_map(|e| e["parameter"].as_str())
            .collect()
    }

    fn expires_at(session: &Value) -> OffsetDateTime {
        let text = session["expiresAt"].as_str().expect("expiresAt");
        OffsetDateTime::parse(text, &Rfc3339).expect("expiresAt is RFC 3339")
    }

    // --- identity -------------------------------------------------------------------------

    #[tokio::test]
    async fn issues_a_bearer_token_for_the_right_api_key() {
        let (fake, client) = (start().await, client());

        let body = identity_body(&client, &fake).await;

        let token = body["access_token"].as_str().unwrap();
        assert!(token.len() >= 40);
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "service_a service_b");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 1));
    }

    #[tokio::test]
    async fn rejects_a_wrong_api_key_with_401_problem() {
        let (fake, client) = (start().await, client());

        let response = authorize_with(&client, &fake, "wrong").await;

        problem(response, 401, "not-authorized").await;
        assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 0));
    }

    #[tokio::test]
    async fn accepts_only_the_rotated_api_key() {
        let (fake, client) = (start().await, client());

        fake.set_api_key("rotated");

        problem(
            authorize_with(&client, &fake, "demo-api-key").await,
            401,
            "not-authorized",
        )
        .await;
        assert_eq!(
            authorize_with(&client, &fake, "rotated").await.status(),
            200
        );
        assert_eq!(fake.api_key(), "rotated");
    }

    #[tokio::test]
    async fn status_fault_answers_that_status_with_retry_after_until_cleared() {
        let (fake, client) = (start().await, client());
        fake.set_identity_fault(IdentityFault::Status {
            status: 503,
            retry_after_secs: Some(7),
        });

        let response = authorize_with(&client, &fake, &fake.api_key()).await;

        assert_eq!(response.headers()[RETRY_AFTER], "7");
        problem(response, 503, "service-unavailable").await;
        fake.set_identity_fault(IdentityFault::None);
        assert_eq!(
            authorize_with(&client, &fake, &fake.api_key())
                .await
                .status(),
            200
        );
        assert_eq!((fake.identity_calls(), fake.tokens_issued()), (2, 1));
    }

    #[tokio::test]
    async fn status_fault_500_is_an_api_error_without_retry_after() {
        let (fake, client) = (start().await, client());
        let fault = IdentityFault::Status {
            status: 500,
            retry_after_secs: None,
        };
        fake.set_identity_fault(fault);

        let response = authorize_with(&client, &fake, &fake.api_key()).await;

        assert!(response.headers().get(RETRY_AFTER).is_none());
        let body = problem(response, 500, "api-error").await;
        assert_eq!(body["errors"][0]["message"], "Service offline");
    }

    #[tokio::test]
    async fn reject_key_fault_answers_401_even_for_the_right_key() {
        let (fake, client) = (start().await, client());
        fake.set_identity_fault(IdentityFault::RejectKey);

        let response = authorize_with(&client, &fake, &fake.api_key()).await;

        problem(response, 401, "not-authorized").await;
        assert_eq!(fake.tokens_issued(), 0);
    }

    #[tokio::test]
    async fn missing_token_fault_answers_200_without_access_token() {
        let (fake, client) = (start().await, client());
        fake.set_identity_fault(IdentityFault::MissingToken);

        let body = identity_body(&client, &fake).await;

        assert!(body.get("access_token").is_none());
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(fake.tokens_issued(), 0);
    }

    #[tokio::test]
    async fn zero_expiry_fault_answers_a_token_that_sessions_refuse() {
        let (fake, client) = (start().await, client());
        fake.set_identity_fault(IdentityFault::ZeroExpiry);

        let body = identity_body(&client, &fake).await;

        assert_eq!(body["expires_in"], 0);
        let token = body["access_token"].as_str().unwrap();
        let response = send(session_post(&client, &fake, token, &new_key()).json(&payment())).await;
        problem(response, 401, "not-authorized").await;
        assert_eq!(fake.tokens_issued(), 0);
    }

    #[tokio::test]
    async fn drop_fault_closes_the_connection_without_an_answer() {
        let (fake, client) = (start().await, client());
        fake.set_identity_fault(IdentityFault::Drop);

        let result = client
            .post(fake.identity_url())
            .header("x-api-key", fake.api_key())
            .send()
            .await;

        assert!(result.is_err(), "expected no answer, got {result:?}");
        assert_eq!((fake.identity_calls(), fake.tokens_issued()), (1, 0));
    }

    #[tokio::test]
    async fn identity_latency_delays_the_answer() {
        let (fake, client) = (start().await, client());
        fake.set_identity_latency(Duration::from_millis(150));

        let started = Instant::now();
        identity_body(&client, &fake).await;

        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn wrong_methods_get_405_and_unknown_paths_404() {
        let (fake, client) = (start().await, client());

        let get_identity = send(client.get(fake.identity_url())).await;
        assert_eq!(get_identity.headers()[ALLOW], "POST");
        problem(get_identity, 405, "method-not-allowed").await;
        let get_sessions = send(client.get(sessions_url(&fake, "1234001"))).await;
        problem(get_sessions, 405, "method-not-allowed").await;
        let unknown = send(client.post(format!("{}/nowhere", fake.api_url()))).await;
        problem(unknown, 404, "not-found").await;
        assert_eq!((fake.identity_calls(), fake.session_calls()), (0, 0));
    }

    // --- sessions: happy path -----------------------------------------------------------

    #[tokio::test]
    async fn creates_a_session_with_201_location_and_expiry() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;

        let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
        let response = send(request).await;

        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
        let prefix = format!("{}/", sessions_url(&fake, "1234001"));
        let id = location
            .strip_prefix(&prefix)
            .expect("location under the path");
        assert!(Uuid::try_parse(id).is_ok());
        let session: Value = response.json().await.unwrap();
        assert_eq!(session["processingTerminalId"], "1234001");
        let token = session["token"].as_str().unwrap();
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        let ahead = expires_at(&session) - OffsetDateTime::now_utc();
        assert!((595..=600).contains(&ahead.whole_seconds()), "{ahead}");
        assert!(session["expiresAt"].as_str().unwrap().ends_with("+00:00"));
        assert_eq!(fake.sessions_created(), 1);
    }

    #[test]
    fn formats_expires_at_with_milliseconds_and_numeric_offset() {
        let at = time::macros::datetime!(2025-07-02 15:30:00.123 UTC);

        assert_eq!(format_expires_at(at), "2025-07-02T15:30:00.123+00:00");
    }

    #[tokio::test]
    async fn session_lifetime_sets_expires_at() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        fake.set_session_lifetime(Duration::from_secs(60));

        let session = create(&client, &fake, &token, &new_key()).await;

        let ahead = expires_at(&session) - OffsetDateTime::now_utc();
        assert!((55..=60).contains(&ahead.whole_seconds()), "{ahead}");
    }

    #[tokio::test]
    async fn accepts_unknown_members_and_a_secure_token_id() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let body = json!({"libVersion": "1.7.0-beta.1", "scenario": "tokenization",
            "secureTokenId": "MREF_abc", "extra": true});

        let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

        assert_eq!(response.status(), 201);
    }

    #[tokio::test]
    async fn records_each_request_with_decoded_terminal_and_status() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        // %31 is "1": the recorded terminal is the decoded segment.
        let url = sessions_url(&fake, "%31234001");

        let request = client
            .post(url)
            .bearer_auth(&token)
            .header("Idempotency-Key", &key);
        let response = send(request.header(ACCEPT, "application/json").json(&payment())).await;

        assert_eq!(response.status(), 201);
        let recorded = fake.session_requests();
        assert_eq!(recorded.len(), 1);
        let request = &recorded[0];
        assert_eq!(request.terminal, "1234001");
        assert_eq!(request.authorization, Some(format!("Bearer {token}")));
        assert_eq!(request.idempotency_key.as_deref(), Some(key.as_str()));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.accept.as_deref(), Some("application/json"));
        assert_eq!(request.body, Some(payment()));
        assert_eq!(request.status, 201);
    }

    #[tokio::test]
    async fn session_latency_delays_the_answer() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        fake.set_session_latency(Duration::from_millis(150));

        let started = Instant::now();
        create(&client, &fake, &token, &new_key()).await;

        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    // --- sessions: request checks --------------------------------------------------------

    #[tokio::test]
    async fn rejects_missing_unknown_and_revoked_bearer_tokens() {
        let (fake, client) = (start().await, client());
        let url = sessions_url(&fake, "1234001");
        let no_bearer = client.post(&url).header("Idempotency-Key", new_key());
        problem(
            send(no_bearer.json(&payment())).await,
            401,
            "not-authorized",
        )
        .await;
        let unknown = session_post(&client, &fake, "made-up", &new_key()).json(&payment());
        problem(send(unknown).await, 401, "not-authorized").await;
        let token = bearer(&client, &fake).await;

        fake.revoke_all_tokens();

        let revoked = session_post(&client, &fake, &token, &new_key()).json(&payment());
        problem(send(revoked).await, 401, "not-authorized").await;
        let fresh = bearer(&client, &fake).await;
        create(&client, &fake, &fresh, &new_key()).await;
    }

    #[tokio::test]
    async fn rejects_an_expired_bearer_token() {
        let (fake, client) = (start().await, client());
        // Sub-second lifetimes still announce 1 s but expire on time, keeping this test short.
        fake.set_token_lifetime(Duration::from_millis(200));
        let body = identity_body(&client, &fake).await;
        assert_eq!(body["expires_in"], 1);
        let token = body["access_token"].as_str().unwrap();

        tokio::time::sleep(Duration::from_millis(300)).await;

        let response = send(session_post(&client, &fake, token, &new_key()).json(&payment())).await;
        problem(response, 401, "not-authorized").await;
    }

    #[tokio::test]
    async fn rejects_a_missing_idempotency_key() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let url = sessions_url(&fake, "1234001");

        let response = send(client.post(url).bearer_auth(token).json(&payment())).await;

        let body = problem(response, 400, "idempotency-key-missing").await;
        assert_eq!(body["title"], "Idempotency-Key header missing");
    }

    #[tokio::test]
    async fn rejects_idempotency_keys_that_are_not_hyphenated_uuid_v4() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let v4 = Uuid::new_v4();
        let not_v4 = [
            "not-a-uuid".to_owned(),
            v4.simple().to_string(),
            v4.braced().to_string(),
            "c232ab00-9414-11ec-b3c8-9f68deced846".to_owned(), // version 1
            "8e03978e-40d5-43e8-7c93-6894a57f9324".to_owned(), // NCS variant
        ];

        for key in not_v4 {
            let request = session_post(&client, &fake, &token, &key).json(&payment());
            let body = problem(send(request).await, 400, "bad-request").await;
            assert_eq!(parameters(&body), ["Idempotency-Key"], "{key}");
        }
        assert_eq!(fake.sessions_created(), 0);
    }

    #[test]
    fn uuid_check_takes_any_hex_case_of_a_v4() {
        assert!(is_hyphenated_uuid_v4(
            "8e03978e-40d5-43e8-bc93-6894a57f9324"
        ));
        assert!(is_hyphenated_uuid_v4(
            "8E03978E-40D5-43E8-BC93-6894A57F9324"
        ));
        assert!(!is_hyphenated_uuid_v4(
            "8e03978e-40d5-53e8-bc93-6894a57f9324"
        ));
        assert!(!is_hyphenated_uuid_v4(
            "8e03978e40d5-43e8-bc93-6894a57f9324-"
        ));
    }

    #[tokio::test]
    async fn rejects_a_non_json_content_type_with_415() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let request = session_post(&client, &fake, &token, &new_key())
            .header(CONTENT_TYPE, "text/plain")
            .body(payment().to_string());

        problem(send(request).await, 415, "unsupported-media-type").await;

        let with_charset = session_post(&client, &fake, &token, &new_key())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(payment().to_string());
        assert_eq!(send(with_charset).await.status(), 201);
    }

    #[tokio::test]
    async fn rejects_an_accept_without_json_with_406() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let request = session_post(&client, &fake, &token, &new_key()).json(&payment());

        let response = send(request.header(ACCEPT, "text/html")).await;

        problem(response, 406, "not-acceptable").await;
    }

    #[test]
    fn accept_check_honours_wildcards_and_zero_quality() {
        assert!(accepts_json("*/*"));
        assert!(accepts_json("text/html, application/*;q=0.5"));
        assert!(accepts_json("application/problem+json"));
        assert!(accepts_json("APPLICATION/JSON; charset=utf-8"));
        assert!(!accepts_json("text/html"));
        assert!(!accepts_json("application/json;q=0, text/plain"));
        assert!(!accepts_json("application/xml"));
    }

    #[tokio::test]
    async fn lists_every_body_violation_in_errors() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let body = json!({"scenario": "refund", "secureTokenId": "x".repeat(201)});

        let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

        let problem = problem(response, 400, "bad-request").await;
        assert_eq!(problem["detail"], VALIDATION_DETAIL);
        let parameters = parameters(&problem);
        assert_eq!(parameters, ["libVersion", "scenario", "secureTokenId"]);
        for error in problem["errors"].as_array().unwrap() {
            assert!(error["detail"].is_string() && error["message"].is_string());
        }
    }

    #[tokio::test]
    async fn rejects_a_bad_lib_version_and_an_empty_secure_token_id() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let body = json!({"libVersion": "abc", "scenario": "payment", "secureTokenId": ""});

        let response = send(session_post(&client, &fake, &token, &new_key()).json(&body)).await;

        let problem = problem(response, 400, "bad-request").await;
        assert_eq!(parameters(&problem), ["libVersion", "secureTokenId"]);
    }

    #[tokio::test]
    async fn rejects_malformed_json_and_non_objects_with_400() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;

        for body in ["{\"libVersion\":", "[1, 2]", ""] {
            let request = session_post(&client, &fake, &token, &new_key())
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            let problem = problem(send(request).await, 400, "bad-request").await;
            assert_eq!(parameters(&problem), ["body"], "{body:?}");
        }
    }

    #[test]
    fn lib_version_check_matches_the_spec_pattern() {
        let good = [
            "1.7.0.261457",
            "1.7.0.261471",
            "12.34.56.7",
            "1.1.0-beta.123456",
        ];
        // The spec's dots are unescaped, so any separator the regex allows is allowed.
        let also_good = ["1x7y0z261457", "1.7.0-beta_9", "1.7.0-beta-9"];
        let bad = [
            "abc",
            "1.7.0",
            "123.7.0.1",
            "1.7.0.",
            "1.7.0.26a",
            "1.7.0-alpha.1",
        ];
        let bad_too = ["1\n7.0.1", " 1.7.0.1", "1.7.0.1\n"];

        for version in good.iter().chain(&also_good) {
            assert!(lib_version_matches(version), "{version:?} should match");
        }
        for version in bad.iter().chain(&bad_too) {
            assert!(
                !lib_version_matches(version),
                "{version:?} should not match"
            );
        }
    }

    #[tokio::test]
    async fn rejects_an_unknown_terminal_with_403() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;

        for terminal in ["9999999", "123", &"1".repeat(51)] {
            let url = sessions_url(&fake, terminal);
            let request = client.post(&url).bearer_auth(&token);
            let request = request
                .header("Idempotency-Key", new_key())
                .json(&payment());
            let body = problem(send(request).await, 403, "forbidden").await;
            assert_eq!(body["instance"], url);
            assert_eq!(body["resource"], "processingTerminal");
        }
        assert_eq!(fake.sessions_created(), 0);
    }

    // --- sessions: idempotency -----------------------------------------------------------

    #[tokio::test]
    async fn replays_same_key_and_body_with_same_session() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        let first = send(session_post(&client, &fake, &token, &key).json(&payment())).await;
        let first_location = first.headers()[LOCATION].clone();
        let first: Value = first.json().await.unwrap();

        let again = send(session_post(&client, &fake, &token, &key).json(&payment())).await;

        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()[LOCATION], first_location);
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        assert_eq!((fake.session_calls(), fake.sessions_created()), (2, 1));
    }

    #[tokio::test]
    async fn rejects_a_reused_key_with_another_body_or_terminal_with_409() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        create(&client, &fake, &token, &key).await;
        let tokenization = json!({"libVersion": LIB_VERSION, "scenario": "tokenization"});

        let other_body = session_post(&client, &fake, &token, &key).json(&tokenization);
        let body = problem(send(other_body).await, 409, "idempotency-key-in-use").await;

        assert_eq!(body["title"], "Idempotency-Key in use");
        let detail = "'Idempotency-Key' is already in use against a different request";
        assert_eq!(body["detail"], detail);
        let other_terminal = client
            .post(sessions_url(&fake, "1234002"))
            .bearer_auth(&token);
        let other_terminal = other_terminal
            .header("Idempotency-Key", &key)
            .json(&payment());
        problem(send(other_terminal).await, 409, "idempotency-key-in-use").await;
        assert_eq!(fake.sessions_created(), 1);
    }

    #[tokio::test]
    async fn expired_sessions_replay_with_a_past_expiry() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        let first = create(&client, &fake, &token, &key).await;

        fake.expire_sessions();

        let replay = create(&client, &fake, &token, &key).await;
        assert_eq!(replay["token"], first["token"]);
        assert!(expires_at(&replay) < OffsetDateTime::now_utc());
        assert_eq!(fake.sessions_created(), 1);
    }

    // --- sessions: injected faults --------------------------------------------------------

    #[tokio::test]
    async fn failed_sessions_come_first_and_store_nothing() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        fake.fail_next_sessions(2, 500);

        // Even an unauthenticated request gets the injected failure.
        let url = sessions_url(&fake, "1234001");
        let anonymous = client
            .post(url)
            .header("Idempotency-Key", &key)
            .json(&payment());
        let body = problem(send(anonymous).await, 500, "api-error").await;
        assert_eq!(body["errors"][0]["message"], "Service offline");
        let request = session_post(&client, &fake, &token, &key).json(&payment());
        problem(send(request).await, 500, "api-error").await;

        create(&client, &fake, &token, &key).await;
        assert_eq!((fake.session_calls(), fake.sessions_created()), (3, 1));
        let statuses: Vec<u16> = fake.session_requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500, 201]);
    }

    #[tokio::test]
    async fn failed_sessions_use_a_type_named_after_other_statuses() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        fake.fail_next_sessions(1, 503);

        let request = session_post(&client, &fake, &token, &new_key()).json(&payment());
        let body = problem(send(request).await, 503, "service-unavailable").await;

        assert_eq!(body["title"], "Service unavailable");
    }

    #[tokio::test]
    async fn dropped_answer_still_creates_the_session_a_replay_returns() {
        let (fake, client) = (start().await, client());
        let token = bearer(&client, &fake).await;
        let key = new_key();
        fake.drop_next_sessions(1);

        let request = session_post(&client, &fake, &token, &key).json(&payment());
        let response = send(request).await;

        // The 201 head arrives, then the connection dies mid-body.
        assert_eq!(response.status(), 201);
        let lost = response.text().await;
        assert!(lost.is_err(), "expected a broken body, got {lost:?}");
        assert_eq!(fake.sessions_created(), 1);
        let replay = create(&client, &fake, &token, &key).await;
        assert_eq!(replay["processingTerminalId"], "1234001");
        assert_eq!(fake.sessions_created(), 1);
        let statuses: Vec<u16> = fake.session_requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [201, 201]);
    }

    // --- lifecycle -----------------------------------------------------------------------

    async fn refuses_connections(addr: SocketAddr) -> bool {
        // The server task notices the signal asynchronously; give it a moment.
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn shutdown_stops_serving_and_is_idempotent() {
        let fake = start().await;

        fake.shutdown();
        fake.shutdown();

        assert!(refuses_connections(fake.addr()).await);
    }

    #[tokio::test]
    async fn dropping_every_handle_stops_serving() {
        let fake = start().await;
        let addr = fake.addr();
        let copy = fake.clone();

        drop(fake);
        drop(copy);

        assert!(refuses_connections(addr).await);
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let config = FakePayrocConfig {
            api_key: "super-secret-key".to_owned(),
            ..FakePayrocConfig::default()
        };

        assert!(!format!("{config:?}").contains("super-secret-key"));
    }
}
