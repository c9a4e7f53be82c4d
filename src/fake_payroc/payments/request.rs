//! A payments-endpoint request as read off the wire, which of the three resources it names,
//! and the record kept of it.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Uri};

use super::super::MAX_BODY_BYTES;
use super::super::incoming::header_text;
use super::RecordedApiRequest;

/// The collection every payments path hangs off.
pub(super) const PAYMENTS_PATH: &str = "/v1/payments";

/// A payments-endpoint request as read off the wire.
pub(super) struct ApiRequest {
    pub(super) method: Method,
    pub(super) uri: Uri,
    /// Raw request path: part of what an idempotency key is bound to.
    pub(super) path: String,
    pub(super) query: Option<String>,
    /// Absolute request URL, for `instance`.
    pub(super) url: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// Which resource a path names; ids are raw path segments (Payroc's are alphanumeric, so
/// anything needing decoding names no payment and earns the 404).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resource<'a> {
    /// `/v1/payments`
    Payments,
    /// `/v1/payments/{paymentId}`
    Payment(&'a str),
    /// `/v1/payments/{paymentId}/refund`
    Refund(&'a str),
    /// Anything else under `/v1/payments/`.
    Unknown,
}

impl ApiRequest {
    pub(super) async fn read(origin: &str, request: Request) -> Self {
        let (parts, body) = request.into_parts();
        // An oversized body reads as empty, which then fails JSON parsing (→ 400).
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .unwrap_or_default();
        Self {
            url: format!("{origin}{}", parts.uri),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        }
    }

    pub(super) fn resource(&self) -> Resource<'_> {
        let Some(rest) = self.path.strip_prefix(PAYMENTS_PATH) else {
            return Resource::Unknown;
        };
        if rest.is_empty() {
            return Resource::Payments;
        }
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        match segments.as_slice() {
            [id] if !id.is_empty() => Resource::Payment(id),
            [id, "refund"] if !id.is_empty() => Resource::Refund(id),
            _ => Resource::Unknown,
        }
    }

    /// All values of a header, joined as HTTP allows.
    pub(super) fn header(&self, name: &str) -> Option<String> {
        header_text(&self.headers, name)
    }

    pub(super) fn record(&self, status: u16, api_key: Option<String>) -> RecordedApiRequest {
        RecordedApiRequest {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            api_key,
            authorization: self.header("authorization"),
            x_api_key: self.header("x-api-key"),
            cookie: self.header("cookie"),
            idempotency_key: self.header("idempotency-key"),
            content_type: self.header("content-type"),
            accept: self.header("accept"),
            traceparent: self.header("traceparent"),
            tracestate: self.header("tracestate"),
            // `keys` yields each name once, however many values it had.
            header_names: self.headers.keys().map(|n| n.as_str().to_owned()).collect(),
            body: serde_json::from_slice(&self.body).ok(),
            status,
        }
    }
}
