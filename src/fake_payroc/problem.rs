//! Problem bodies (RFC 7807, shaped as in Payroc's spec): the [`Problem`] type and one
//! constructor per problem the fake answers, the router's 404 and 405 included.

use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Problem `type` URLs are this plus a fragment, as in Payroc's spec.
pub(super) const ERROR_DOCS: &str = "https://docs.payroc.com/api/errors#";
pub(super) const PROBLEM_JSON: &str = "application/problem+json";
pub(super) const VALIDATION_DETAIL: &str =
    "One or more validation errors occurred, see error section for more info";

/// A problem body: `type`, `title`, `status`, `detail`, plus whatever members the status adds.
#[derive(Debug)]
pub(super) struct Problem {
    pub(super) status: StatusCode,
    body: Map<String, Value>,
}

impl Problem {
    pub(super) fn new(status: StatusCode, kind: &str, title: &str, detail: &str) -> Self {
        let body = [
            ("type", Value::from(format!("{ERROR_DOCS}{kind}"))),
            ("title", Value::from(title)),
            ("status", Value::from(status.as_u16())),
            ("detail", Value::from(detail)),
        ]
        .into_iter()
        .map(|(member, value)| (member.to_owned(), value))
        .collect();
        Self { status, body }
    }

    #[must_use]
    pub(super) fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.body.insert(member.to_owned(), value.into());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Value::Object(self.body).to_string();
        (self.status, [(CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

pub(super) fn not_authorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "not-authorized",
        "Not Authorized",
        "Your identity could not be verified",
    )
}

/// Payroc's 403 for a processing terminal the caller may not use (or that does not exist).
pub(super) fn forbidden_terminal(url: &str) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Forbidden",
        "You do not have the required permissions to perform this action",
    )
    .with("instance", url)
    .with("resource", "processingTerminal")
}

pub(super) fn validation_failed(errors: Vec<Value>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "Bad request",
        VALIDATION_DETAIL,
    )
    .with("errors", errors)
}

pub(super) fn field_error(parameter: &str, detail: &str, message: &str) -> Value {
    json!({"parameter": parameter, "detail": detail, "message": message})
}

pub(super) fn key_in_use(url: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-in-use",
        "Idempotency-Key in use",
        "'Idempotency-Key' is already in use against a different request",
    )
    .with("instance", url)
}

/// An injected failure: Payroc's own shape for 401 and 500, otherwise a type named after the
/// status (`#service-unavailable`, `#too-many-requests`, ...). An invalid status becomes 500.
pub(super) fn problem_for_status(status: u16) -> Problem {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = "We are unable to process your request at this time";
    match status {
        StatusCode::UNAUTHORIZED => not_authorized(),
        StatusCode::INTERNAL_SERVER_ERROR => Problem::new(status, "api-error", "Api error", detail)
            .with("errors", json!([{"message": "Service offline"}])),
        _ => {
            let reason = status.canonical_reason().unwrap_or("Error");
            let kind: String = reason
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == ' ' || *c == '-')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            Problem::new(status, &kind, &sentence_case(reason), detail)
        }
    }
}

/// "Service Unavailable" → "Service unavailable", the way Payroc writes titles.
fn sentence_case(reason: &str) -> String {
    let lower = reason.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}

pub(super) fn method_not_allowed() -> Response {
    method_not_allowed_for("POST")
}

/// The router's 405 for a resource that serves only the methods in `allow` (`"GET, POST"`).
pub(super) fn method_not_allowed_for(allow: &'static str) -> Response {
    let problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        &format!("This resource only supports {allow}"),
    );
    ([(ALLOW, allow)], problem).into_response()
}

pub(super) fn not_found(uri: &Uri) -> Response {
    let problem = Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "The requested resource does not exist",
    );
    problem.with("instance", uri.path()).into_response()
}

/// The spec's 404 for a resource named in the path, as its example words it. It names no id
/// and no URL, so "another account's" and "never existed" read byte for byte the same.
pub(super) fn resource_not_found(resource: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "Resource not found",
    )
    .with("resource", resource)
}
