//! Lost answers: response bodies that fail on purpose, so hyper drops the connection either
//! before the response head (no answer at all) or after it (a 201 whose body never arrives).

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::stream;

/// Long enough for hyper to flush the 201 head before the body fails, so the client sees a
/// response start and then lose its connection.
const DROP_AFTER_HEADERS: Duration = Duration::from_millis(20);

/// Fails before hyper flushes the response head, so the client gets no answer at all.
pub(super) fn abort_before_head() -> Body {
    Body::from_stream(stream::iter([Err::<Bytes, _>(connection_aborted())]))
}

/// Fails only after a pause, by which time hyper has flushed the head: the client sees the
/// status and headers, then the connection dies mid-body.
pub(super) fn abort_after_head() -> Body {
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
