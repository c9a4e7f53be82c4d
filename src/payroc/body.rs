//! Reading Payroc's answer bodies with a cap: an answer is trusted for its size no more than
//! for its content.

use bytes::{Bytes, BytesMut};

/// Most bytes read from any Payroc answer, success or error. Real answers are tiny: a token or
/// a session answer is about 100–200 bytes, a problem with a handful of validation errors about
/// 1 KB. Read whole, an endless or huge answer is buffered until the attempt times out (an
/// endless chunked body costs gigabytes of memory within one timeout), so anything larger
/// than this is refused. The client decompresses nothing, so the cap counts wire bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The whole body if it fits in `cap` bytes, `None` as soon as it is known not to: up front
/// from `Content-Length`, otherwise at the chunk that passes the cap. Nothing more is read;
/// the caller drops the response, which closes the connection instead of draining it.
pub(super) async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    let declared = match response.content_length().map(usize::try_from) {
        Some(Ok(len)) if len <= cap => Some(len),
        Some(_) => return Ok(None),
        None => None,
    };
    // Preallocate for a declared length (at most `cap`), else grow with the chunks.
    let mut body = BytesMut::with_capacity(declared.unwrap_or_default());
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

#[cfg(test)]
mod tests {
    use std::{
        convert::Infallible,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
    };

    use futures_util::{StreamExt, stream};
    use http_body::Frame;
    use http_body_util::{Full, StreamBody};

    use super::*;

    fn response(body: reqwest::Body) -> reqwest::Response {
        reqwest::Response::from(axum::http::Response::new(body))
    }

    /// A chunked body of `chunks` chunks of `size` bytes, counting the chunks taken.
    fn chunked(size: usize, chunks: usize, polled: &Arc<AtomicUsize>) -> reqwest::Body {
        let polled = Arc::clone(polled);
        let chunk = Bytes::from(vec![b' '; size]);
        let frames = stream::repeat(chunk).take(chunks).map(move |chunk| {
            polled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(Frame::data(chunk))
        });
        reqwest::Body::wrap(StreamBody::new(frames))
    }

    #[tokio::test]
    async fn a_body_up_to_the_cap_is_read_whole() {
        let polled = Arc::new(AtomicUsize::new(0));
        let mut exact = response(chunked(1024, 64, &polled));
        let body = read_capped(&mut exact, MAX_ANSWER_BYTES).await.unwrap();
        assert_eq!(body.map(|b| b.len()), Some(MAX_ANSWER_BYTES));
        let mut small = response(reqwest::Body::from("{}"));
        let body = read_capped(&mut small, MAX_ANSWER_BYTES).await.unwrap();
        assert_eq!(body.as_deref(), Some(&b"{}"[..]));
    }

    #[tokio::test]
    async fn a_chunked_body_is_refused_at_the_chunk_that_passes_the_cap() {
        // A megabyte, not endless: without the cap this would end, not hang.
        let polled = Arc::new(AtomicUsize::new(0));
        let mut long = response(chunked(1000, 1000, &polled));
        assert_eq!(read_capped(&mut long, 10_000).await.unwrap(), None);
        assert_eq!(
            polled.load(Ordering::SeqCst),
            11,
            "read no further than the cap"
        );
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_unread() {
        let mut declared = response(reqwest::Body::wrap(Full::new(Bytes::from(vec![
            b'x';
            MAX_ANSWER_BYTES
                + 1
        ]))));
        assert_eq!(declared.content_length(), Some(MAX_ANSWER_BYTES as u64 + 1));
        assert_eq!(
            read_capped(&mut declared, MAX_ANSWER_BYTES).await.unwrap(),
            None
        );
        // Unread: the whole body is still there.
        assert_eq!(declared.bytes().await.unwrap().len(), MAX_ANSWER_BYTES + 1);
    }
}
