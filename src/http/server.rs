//! The accept loop and each connection's life, with the limits of
//! [`ConnectionLimits`]: HTTP/1.1 only, header bytes capped (hyper answers a larger head with
//! its bare 431), the header-read and idle timeouts, at most `max_connections` open (past it the
//! longest-idle connection is closed to make room), and an `accept` that, when the process runs
//! out of file descriptors, closes the longest-idle connection and backs off instead of
//! spinning.
//!
//! HTTP/2 is not offered: the broker's callers (browsers through a load balancer, internal
//! services) gain nothing from it, and every HTTP/2 window and stream is one more buffer a
//! client could fill.

use std::{convert::Infallible, io, net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{extract::Request, response::Response};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::{
    connection::{Connections, Registered, TrackedService, TrackedStream},
    throttle::LogThrottle,
};
use crate::{config::ConnectionLimits, metrics::Metrics};

/// A connection being closed for a timeout or to make room gets this long to finish writing.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// "accept failed" lines written at most this often a second.
static ACCEPT_ERRORS: LogThrottle = LogThrottle::new(1);
/// First and longest pause after an `accept` error such as EMFILE.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Serves `app` on `listener` until `stop` is cancelled, then lets every open connection
/// finish its request in flight (each is closed as soon as it is idle) and returns.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    metrics: Metrics,
    stop: CancellationToken,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let table = Arc::new(Connections::new());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(limits.max_header_bytes);
    let http = Arc::new(http);
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF.0;
                accepted
            }
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                // Out of file descriptors (or memory): free one by closing the longest-idle
                // connection, and pause so that a lasting shortage cannot make this spin.
                metrics.accept_error();
                if table.evict_longest_idle() {
                    metrics.connection_evicted();
                }
                if ACCEPT_ERRORS.admit().is_some() {
                    tracing::error!(%error, pause_ms = backoff.as_millis(), "accept failed; pausing");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        let Some(slot) = make_room(&slots, &table, &metrics, &stop).await else {
            break;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let conn = Connection {
            registered: table.open(),
            _slot: slot,
            limits,
            stop: stop.clone(),
        };
        let http = Arc::clone(&http);
        let app = app.clone();
        tokio::spawn(conn.run(http, stream, peer, app));
    }
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// A free connection slot: at once if there is one; else the longest-idle connection is told
/// to close and its slot taken; if every connection is busy, the next one to finish.
async fn make_room(
    slots: &Arc<Semaphore>,
    table: &Connections,
    metrics: &Metrics,
    stop: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
        return Some(slot);
    }
    if table.evict_longest_idle() {
        metrics.connection_evicted();
    }
    tokio::select! {
        slot = Arc::clone(slots).acquire_owned() => slot.ok(),
        () = stop.cancelled() => None,
    }
}

/// Errors about the one connection being accepted, not the listener: just go on.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One open connection and what it holds.
struct Connection {
    registered: Registered,
    _slot: OwnedSemaphorePermit,
    limits: ConnectionLimits,
    stop: CancellationToken,
}

impl Connection {
    async fn run<S>(
        self,
        http: Arc<hyper::server::conn::http1::Builder>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        app: S,
    ) where
        S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
        S::Future: Send,
    {
        let activity = &self.registered.activity;
        let io = TokioIo::new(TrackedStream::new(stream, Arc::clone(activity)));
        let service = TrackedService::new(app, peer, Arc::clone(activity));
        let mut conn = pin!(http.serve_connection(io, service));
        let mut stopping = false;
        loop {
            // Re-read each turn, and at least once per header-read timeout: a request's first
            // bytes may have come meanwhile, moving the deadline closer.
            let recheck = tokio::time::Instant::now() + self.limits.header_read_timeout;
            let wake = activity
                .deadline(&self.limits)
                .map_or(recheck, |deadline| deadline.min(recheck));
            let close = tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    return;
                }
                () = self.stop.cancelled(), if !stopping => {
                    if !activity.is_busy() {
                        return;
                    }
                    // Finishes the request in flight, then closes.
                    conn.as_mut().graceful_shutdown();
                    stopping = true;
                    continue;
                }
                () = activity.evicted() => {
                    if activity.is_busy() {
                        continue;
                    }
                    // At once: a new client is waiting for this slot, and nothing is in service.
                    tracing::debug!("closing the longest-idle connection to make room");
                    return;
                }
                () = tokio::time::sleep_until(wake) => {
                    match activity.deadline(&self.limits) {
                        Some(deadline) if deadline <= tokio::time::Instant::now() => {
                            "header-read or idle timeout"
                        }
                        _ => continue,
                    }
                }
            };
            tracing::debug!(reason = close, "closing connection");
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
            return;
        }
    }
}
