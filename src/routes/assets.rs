//! `GET /hosted-fields/broker.js`: the browser session helper, a plain JavaScript module
//! kept in `static/`, and `GET /hosted-fields/broker.d.ts`, its TypeScript declarations.
//! Long-cacheable: an `ETag` of the content, revalidated after an hour.

use std::sync::OnceLock;

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::idempotency::short_hash;

/// The helper's source, compiled into the binary.
pub const BROKER_JS: &str = include_str!("../../static/broker.js");
/// The helper's TypeScript declarations.
pub const BROKER_D_TS: &str = include_str!("../../static/broker.d.ts");

fn etag_of(cell: &'static OnceLock<HeaderValue>, content: &str) -> &'static HeaderValue {
    cell.get_or_init(|| {
        HeaderValue::from_str(&format!("\"{}\"", short_hash(content.as_bytes())))
            .expect("hex is a header value")
    })
}

pub async fn broker_js(headers: HeaderMap) -> Response {
    static ETAG: OnceLock<HeaderValue> = OnceLock::new();
    let etag = etag_of(&ETAG, BROKER_JS);
    serve(&headers, etag, "text/javascript; charset=utf-8", BROKER_JS)
}

pub async fn broker_d_ts(headers: HeaderMap) -> Response {
    static ETAG: OnceLock<HeaderValue> = OnceLock::new();
    let etag = etag_of(&ETAG, BROKER_D_TS);
    serve(
        &headers,
        etag,
        "application/typescript; charset=utf-8",
        BROKER_D_TS,
    )
}

fn serve(
    headers: &HeaderMap,
    etag: &HeaderValue,
    content_type: &'static str,
    body: &'static str,
) -> Response {
    let headers_out = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ),
        // Browsers fetch module scripts with CORS. The code is public and sent without
        // credentials, so any page may import it: a page on an origin the session endpoint
        // does not allow then still gets the helper's clear error instead of a failed import.
        // (For allowed origins the CORS layer puts the exact origin in its place.)
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == etag)
    {
        return (StatusCode::NOT_MODIFIED, headers_out).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))];
    (headers_out, content_type, body).into_response()
}
