//! The public record of one request the payments endpoints received ([`RecordedApiRequest`]),
//! with a hand-written `Debug` so keys, tokens and cookies never reach a log line.

use std::fmt;

use serde_json::Value;

/// One request the payments endpoints received.
#[derive(Clone)]
pub struct RecordedApiRequest {
    /// `"POST"`, `"GET"`, ...
    pub method: String,
    /// Raw path as received, e.g. `/v1/payments/ABC/refund`.
    pub path: String,
    /// Raw query string, unchanged, if any.
    pub query: Option<String>,
    /// The API key the Bearer token was issued for; `None` if there was no token or the fake
    /// never issued it (or revoked it). An expired token still names its key.
    pub api_key: Option<String>,
    /// Raw `Authorization` header.
    pub authorization: Option<String>,
    /// Raw `x-api-key` header: a proxy in front should never forward one.
    pub x_api_key: Option<String>,
    /// Raw `Cookie` header.
    pub cookie: Option<String>,
    /// Raw `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Raw `Content-Type` header.
    pub content_type: Option<String>,
    /// Raw `Accept` header.
    pub accept: Option<String>,
    /// Raw `traceparent` header (W3C Trace Context).
    pub traceparent: Option<String>,
    /// Raw `tracestate` header.
    pub tracestate: Option<String>,
    /// Lower-case names of every header received, so tests can assert what else arrived; each
    /// name once, in no particular order.
    pub header_names: Vec<String>,
    /// The body, if it parsed as JSON.
    pub body: Option<Value>,
    /// What the fake answered (or would have, for a dropped one); 0 for a refused one, which
    /// got no answer at all.
    pub status: u16,
}

impl fmt::Debug for RecordedApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("RecordedApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("api_key", &redacted(&self.api_key))
            .field("authorization", &redacted(&self.authorization))
            .field("x_api_key", &redacted(&self.x_api_key))
            .field("cookie", &redacted(&self.cookie))
            .field("idempotency_key", &self.idempotency_key)
            .field("content_type", &self.content_type)
            .field("accept", &self.accept)
            .field("traceparent", &self.traceparent)
            .field("tracestate", &self.tracestate)
            .field("header_names", &self.header_names)
            .field("body", &self.body)
            .field("status", &self.status)
            .finish()
    }
}
