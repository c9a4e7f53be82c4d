//! A session request as read off the wire, and the record kept of it.

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Request;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, StatusCode};

use super::{MAX_BODY_BYTES, RecordedSessionRequest};

/// A session request as read off the wire.
pub(super) struct Incoming {
    /// Percent-decoded path segment.
    pub(super) terminal: String,
    /// Raw request path: part of what an idempotency key is bound to.
    pub(super) path: String,
    /// Absolute request URL, for `instance`.
    pub(super) url: String,
    /// Absolute URL of the path alone: new sessions are located under it.
    pub(super) resource_url: String,
    pub(super) authorization: Option<String>,
    pub(super) idempotency_key: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) accept: Option<String>,
    pub(super) traceparent: Option<String>,
    pub(super) body: Bytes,
}

impl Incoming {
    pub(super) async fn read(
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
            traceparent: header("traceparent"),
            body,
            path,
        }
    }

    pub(super) fn record(
        &self,
        status: StatusCode,
        api_key: Option<String>,
    ) -> RecordedSessionRequest {
        RecordedSessionRequest {
            terminal: self.terminal.clone(),
            authorization: self.authorization.clone(),
            api_key,
            idempotency_key: self.idempotency_key.clone(),
            content_type: self.content_type.clone(),
            accept: self.accept.clone(),
            traceparent: self.traceparent.clone(),
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
pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}
