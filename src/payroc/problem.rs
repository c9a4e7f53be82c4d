//! RFC 9457 problem documents as Payroc sends them, parsed leniently: every member optional,
//! unknown members kept, so an odd error body never turns into a parse failure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Payroc's problem `type` for an `Idempotency-Key` reused against a different request.
pub const IDEMPOTENCY_KEY_IN_USE: &str = "#idempotency-key-in-use";

/// A problem document from Payroc.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Problem {
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub detail: Option<String>,
    /// Validation errors: `[{parameter, detail, message}]`, any member may be missing.
    #[serde(default)]
    pub errors: Option<Value>,
    /// Everything else (`instance`, `resource`, `link`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One validation error as the broker passes it on: `{parameter, detail}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub parameter: String,
    pub detail: String,
}

impl Problem {
    /// Parses a body leniently; anything that is not a JSON object yields `None`.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// Whether the problem `type` ends with the given fragment (e.g. [`IDEMPOTENCY_KEY_IN_USE`]).
    pub fn has_type(&self, fragment: &str) -> bool {
        self.type_.as_deref().is_some_and(|t| t.ends_with(fragment))
    }

    /// Payroc's `errors`, reduced to `{parameter, detail}` (detail falls back to `message`).
    pub fn field_errors(&self) -> Vec<FieldError> {
        let Some(Value::Array(items)) = &self.errors else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(Value::as_object)
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
                FieldError {
                    parameter: text("parameter").unwrap_or_default(),
                    detail: text("detail")
                        .or_else(|| text("message"))
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_payroc_validation_problem_with_partial_errors() {
        let body =
            br#"{"type":"https://docs.payroc.com/api/errors#bad-request","title":"Bad request",
            "status":400,"detail":"One or more validation errors occurred",
            "errors":[{"parameter":"libVersion","message":"bad"},{"detail":"only detail"}],
            "instance":"x"}"#;
        let problem = Problem::parse(body).unwrap();
        assert_eq!(problem.status, Some(400));
        assert_eq!(problem.extra.get("instance"), Some(&Value::from("x")));
        assert_eq!(
            problem.field_errors(),
            [
                FieldError {
                    parameter: "libVersion".into(),
                    detail: "bad".into()
                },
                FieldError {
                    parameter: String::new(),
                    detail: "only detail".into()
                },
            ]
        );
    }

    #[test]
    fn missing_members_and_odd_errors_still_parse() {
        let problem = Problem::parse(br#"{"errors": "not a list"}"#).unwrap();
        assert!(problem.field_errors().is_empty());
        assert!(Problem::parse(b"<html>").is_none());
    }

    #[test]
    fn idempotency_conflict_is_recognised_by_type() {
        let problem = Problem::parse(
            br#"{"type":"https://docs.payroc.com/api/errors#idempotency-key-in-use","status":400}"#,
        )
        .unwrap();
        assert!(problem.has_type(IDEMPOTENCY_KEY_IN_USE));
        assert!(!Problem::default().has_type(IDEMPOTENCY_KEY_IN_USE));
    }
}
