//! Oversized answers: a body that never ends (chunked, no length) or one that declares a huge
//! `Content-Length` and streams it lazily, so the fake costs no memory to send either.

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};

/// Bytes per chunk of padding.
const CHUNK_BYTES: usize = 64 * 1024;
/// What a huge answer declares and sends: 300 MB.
pub(super) const HUGE_BODY_BYTES: u64 = 300 * 1024 * 1024;

/// How an answer is too big.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Oversize {
    /// Chunked, and it never ends.
    Endless,
    /// `Content-Length: HUGE_BODY_BYTES`, all of it sent if read.
    Huge,
}

/// A JSON answer with `status` that starts like `prefix` and continues with whitespace
/// padding, endlessly or up to [`HUGE_BODY_BYTES`].
pub(super) fn oversized(status: StatusCode, prefix: &'static str, size: Oversize) -> Response {
    // One chunk, shared by every repeat (cloning `Bytes` copies nothing).
    let padding = stream::repeat(Bytes::from(vec![b' '; CHUNK_BYTES]));
    let head = stream::once(async move { Bytes::from_static(prefix.as_bytes()) });
    let mut response = match size {
        Oversize::Endless => {
            let body = head.chain(padding).map(Ok::<_, std::io::Error>);
            (status, Body::from_stream(body)).into_response()
        }
        Oversize::Huge => {
            let rest = usize::try_from(HUGE_BODY_BYTES).expect("300 MB fits") - prefix.len();
            let tail = Bytes::from(vec![b' '; rest % CHUNK_BYTES]);
            let padding = padding.take(rest / CHUNK_BYTES);
            let body = head
                .chain(padding)
                .chain(stream::once(async move { tail }))
                .map(Ok::<_, std::io::Error>);
            let mut response = (status, Body::from_stream(body)).into_response();
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(HUGE_BODY_BYTES));
            response
        }
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
