//! What goes to Payroc for a call: the URL (path and query exactly as written) and the
//! caller's headers that may go along.

use axum::http::{HeaderMap, HeaderName, header};
use url::Url;

use crate::idempotency;

/// The caller's headers that reach Payroc; everything else (its `Authorization`, `x-api-key`,
/// cookies, forwarding headers) stays here. The last two, the caller's W3C Trace Context, go
/// only while the broker does not trace: tracing, it continues the caller's trace and sends its
/// own attempt's context instead.
const FORWARDED: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::ACCEPT,
    idempotency::HEADER,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

/// How many of [`FORWARDED`] are not trace context.
const NOT_TRACE_CONTEXT: usize = 3;

/// `{API_URL}{rest}?{query}`, the path and query exactly as the caller wrote them.
pub(super) fn upstream_url(api_url: &Url, rest: &str, query: Option<&str>) -> Url {
    let mut url = api_url.clone();
    let base = api_url.path().trim_end_matches('/');
    url.set_path(&format!("{base}{rest}"));
    url.set_query(query);
    url
}

/// A blank `Idempotency-Key` (Go's SDK sends one when the field is left empty) is none.
pub(super) fn has_idempotency_key(headers: &HeaderMap) -> bool {
    headers
        .get(idempotency::HEADER)
        .is_some_and(|key| !key.as_bytes().trim_ascii().is_empty())
}

/// The allow-listed headers of `incoming`; the caller's trace context only when `trace_context`.
pub(super) fn forwarded_headers(incoming: &HeaderMap, trace_context: bool) -> HeaderMap {
    let names = if trace_context {
        &FORWARDED[..]
    } else {
        &FORWARDED[..NOT_TRACE_CONTEXT]
    };
    let mut kept = HeaderMap::new();
    for name in names {
        for value in incoming.get_all(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_upstream_url_keeps_path_and_query_as_written() {
        let api = Url::parse("https://api.uat.payroc.com/v1").unwrap();
        let url = upstream_url(&api, "/payments/J%C3%B6rg", Some("limit=5&name=a+b%20c"));
        assert_eq!(
            url.as_str(),
            "https://api.uat.payroc.com/v1/payments/J%C3%B6rg?limit=5&name=a+b%20c"
        );
        let url = upstream_url(
            &Url::parse("http://127.0.0.1:9/v1/").unwrap(),
            "/payments",
            None,
        );
        assert_eq!(url.as_str(), "http://127.0.0.1:9/v1/payments");
    }

    #[test]
    fn only_allow_listed_headers_are_forwarded() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer service-key"),
            ("x-api-key", "k"),
            ("cookie", "c=1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "a=b"),
        ] {
            incoming.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        assert!(has_idempotency_key(&incoming));
        let kept = forwarded_headers(&incoming, true);
        assert_eq!(kept.len(), 5);
        for gone in ["authorization", "x-api-key", "cookie", "x-forwarded-for"] {
            assert!(!kept.contains_key(gone), "{gone}");
        }
        // Tracing, the broker sends its own trace context instead of the caller's.
        let kept = forwarded_headers(&incoming, false);
        assert_eq!(kept.len(), 3);
        assert!(!kept.contains_key("traceparent") && !kept.contains_key("tracestate"));
    }

    #[test]
    fn a_blank_idempotency_key_is_no_key() {
        let mut headers = HeaderMap::new();
        assert!(!has_idempotency_key(&headers));
        headers.insert(idempotency::HEADER, HeaderValue::from_static(" "));
        assert!(!has_idempotency_key(&headers));
    }
}
