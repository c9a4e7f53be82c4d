//! What one client connection may hold, and the bookkeeping that enforces it: each open
//! connection's [`Activity`] (requests in service, when it went idle, when the next request's
//! first byte came), recorded by its socket ([`TrackedStream`]) and its service
//! ([`TrackedService`]), and the [`Connections`] table that finds the longest-idle connection
//! to close when the cap is reached.
//!
//! A connection is *busy* while one of its requests is in the service (its body is read there,
//! against the body timeout); otherwise it is *idle* (waiting for the next request: idle
//! timeout) or *reading* (a request's first bytes came, its head has not: header-read
//! timeout). Only idle or reading connections are ever closed early, so no request in service
//! is lost.

use std::{
    collections::HashMap,
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    response::Response,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::Notify,
    time::Instant,
};
use tower::{Service, ServiceExt, util::Oneshot};

use crate::config::ConnectionLimits;

/// `reading_since` when no byte of a next request has come.
const NOT_READING: u64 = u64::MAX;

/// One connection's activity. Times are milliseconds since the table's epoch.
#[derive(Debug)]
pub struct Activity {
    busy: AtomicU32,
    idle_since: AtomicU64,
    reading_since: AtomicU64,
    epoch: Instant,
    /// Told to close (the table is full and this one has been idle longest).
    evict: Notify,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Self {
            busy: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            reading_since: AtomicU64::new(NOT_READING),
            epoch,
            evict: Notify::new(),
        };
        activity.idle_since.store(activity.now(), Relaxed);
        activity
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    pub fn is_busy(&self) -> bool {
        self.busy.load(Relaxed) > 0
    }

    /// Bytes came in: if no request is in service, a next one has begun.
    fn saw_bytes(&self) {
        if !self.is_busy() && self.reading_since.load(Relaxed) == NOT_READING {
            self.reading_since.store(self.now(), Relaxed);
        }
    }

    fn begin(&self) {
        self.busy.fetch_add(1, Relaxed);
    }

    fn end(&self) {
        if self.busy.fetch_sub(1, Relaxed) == 1 {
            self.reading_since.store(NOT_READING, Relaxed);
            self.idle_since.store(self.now(), Relaxed);
        }
    }

    /// When this connection must be closed, as things stand; `None` while it is busy.
    pub fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.is_busy() {
            return None;
        }
        let at = |ms: u64, limit: Duration| self.epoch + Duration::from_millis(ms) + limit;
        Some(match self.reading_since.load(Relaxed) {
            NOT_READING => at(self.idle_since.load(Relaxed), limits.idle_timeout),
            since => at(since, limits.header_read_timeout),
        })
    }

    /// Resolves when the table asks this connection to make room.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// The open connections, for closing the longest-idle one when the cap is reached.
#[derive(Debug)]
pub struct Connections {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

impl Default for Connections {
    fn default() -> Self {
        Self::new()
    }
}

impl Connections {
    pub fn new() -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Registers a new connection; it leaves the table when the guard drops.
    pub fn open(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Relaxed);
        let activity = Arc::new(Activity::new(self.epoch));
        self.lock().insert(id, Arc::clone(&activity));
        Registered {
            table: Arc::clone(self),
            id,
            activity,
        }
    }

    /// Asks the connection that has been idle longest to close; `false` when every
    /// connection is busy.
    pub fn evict_longest_idle(&self) -> bool {
        let open = self.lock();
        // Ties (the same millisecond) go to the older connection.
        let idlest = open
            .iter()
            .filter(|(_, a)| !a.is_busy())
            .min_by_key(|(id, a)| (a.idle_since.load(Relaxed), **id));
        match idlest {
            Some((_, activity)) => {
                activity.evict.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection's place in the table.
#[derive(Debug)]
pub struct Registered {
    table: Arc<Connections>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}

pin_project_lite::pin_project! {
    /// The client's socket, noting when a request's first bytes arrive.
    pub struct TrackedStream {
        #[pin]
        stream: TcpStream,
        activity: Arc<Activity>,
    }
}

impl TrackedStream {
    pub fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        Self { stream, activity }
    }
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.stream.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.saw_bytes();
        }
        polled
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The application as one connection's hyper service: records the peer for the rate
/// limiter and marks the connection busy while a request is in service.
#[derive(Debug, Clone)]
pub struct TrackedService<S> {
    app: S,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl<S> TrackedService<S> {
    pub fn new(app: S, peer: SocketAddr, activity: Arc<Activity>) -> Self {
        Self {
            app,
            peer,
            activity,
        }
    }
}

impl<S> hyper::service::Service<hyper::Request<hyper::body::Incoming>> for TrackedService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = InService<Oneshot<S, Request>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.activity.begin();
        InService {
            inner: self.app.clone().oneshot(request),
            _busy: Busy(Arc::clone(&self.activity)),
        }
    }
}

/// Marks the connection idle again when the request leaves the service (done or dropped).
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

pin_project_lite::pin_project! {
    /// A request in service; see [`TrackedService`].
    pub struct InService<F> {
        #[pin]
        inner: F,
        _busy: Busy,
    }
}

impl<F: Future> Future for InService<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests;
