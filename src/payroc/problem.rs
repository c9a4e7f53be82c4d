//! RFC 9457 problem documents as Payroc sends them, parsed leniently: every member optional,
//! unknown members kept, so an odd error body never turns into a parse failure.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Payroc's problem `type` for an `Idempotency-Key` reused against a different request.
pub const IDEMPOTENCY_KEY_IN_USE: &str = "#idempotency-key-in-use";

// What of a Payroc problem is passed on to callers is bounded, so a huge `detail` or `errors`
// list cannot become the broker's answer: Payroc's own details run to about a hundred
// characters and a handful of errors. All passed on is at most about 6 500 characters.

/// Most characters of `detail` passed on.
pub const MAX_DETAIL_CHARS: usize = 500;
/// Most validation errors passed on; the rest are left out.
pub const MAX_FIELD_ERRORS: usize = 20;
/// Most characters of an error's `parameter` passed on.
pub const MAX_PARAMETER_CHARS: usize = 100;
/// Most characters of an error's `detail` passed on.
pub const MAX_FIELD_DETAIL_CHARS: usize = 200;

/// `text` if it has at most `max_chars` characters, else its first `max_chars - 1`
/// characters and an ellipsis (`…`): never more than `max_chars` characters, never cut inside
/// a character.
pub fn truncate(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().nth(max_chars).is_none() {
        return Cow::Borrowed(text);
    }
    let Some(kept) = max_chars.checked_sub(1) else {
        return Cow::Borrowed("");
    };
    let end = text
        .char_indices()
        .nth(kept)
        .map_or(text.len(), |(at, _)| at);
    Cow::Owned(format!("{}…", &text[..end]))
}

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

    /// Payroc's `detail` as passed on: at most [`MAX_DETAIL_CHARS`] characters.
    pub fn detail_passed_on(&self) -> Option<String> {
        self.detail
            .as_deref()
            .map(|detail| truncate(detail, MAX_DETAIL_CHARS).into_owned())
    }

    /// Payroc's `errors`, reduced to `{parameter, detail}` (detail falls back to `message`),
    /// as passed on: at most [`MAX_FIELD_ERRORS`], each member truncated.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let Some(Value::Array(items)) = &self.errors else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(Value::as_object)
            .take(MAX_FIELD_ERRORS)
            .map(|item| {
                let text = |name: &str| item.get(name).and_then(Value::as_str);
                let detail = text("detail").or_else(|| text("message"));
                FieldError {
                    parameter: truncate(text("parameter").unwrap_or_default(), MAX_PARAMETER_CHARS)
                        .into_owned(),
                    detail: truncate(detail.unwrap_or_default(), MAX_FIELD_DETAIL_CHARS)
                        .into_owned(),
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

    #[test]
    fn truncate_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert!(matches!(truncate("short", 5), Cow::Borrowed("short")));
        assert_eq!(truncate("", 5), "");
        assert_eq!(truncate("abcdef", 5), "abcd…");
        // Multi-byte characters are counted as characters and never split.
        assert_eq!(truncate("ééééé", 5), "ééééé");
        assert_eq!(truncate("éééééé", 5), "éééé…");
        assert_eq!(truncate("a😀😀😀😀😀", 3), "a😀…");
        assert_eq!(truncate("abc", 1), "…");
        assert_eq!(truncate("abc", 0), "");
        let huge = "x".repeat(2_800_000);
        assert_eq!(
            truncate(&huge, MAX_DETAIL_CHARS).chars().count(),
            MAX_DETAIL_CHARS
        );
    }

    #[test]
    fn what_is_passed_on_is_bounded() {
        let long = "é".repeat(10_000);
        let item = serde_json::json!({"parameter": long, "detail": long});
        let problem = Problem {
            detail: Some(long.clone()),
            errors: Some(Value::Array(vec![item; 1_000])),
            ..Problem::default()
        };
        let detail = problem.detail_passed_on().unwrap();
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
        assert!(detail.ends_with('…'));
        let errors = problem.field_errors();
        assert_eq!(errors.len(), MAX_FIELD_ERRORS);
        assert!(
            errors
                .iter()
                .all(|e| e.parameter.chars().count() == MAX_PARAMETER_CHARS
                    && e.detail.chars().count() == MAX_FIELD_DETAIL_CHARS)
        );
        let passed_on = serde_json::to_string(&(detail, errors)).unwrap();
        assert!(passed_on.len() < 16 * 1024, "{}", passed_on.len());
        let short = Problem {
            detail: Some("libVersion is invalid".into()),
            ..Problem::default()
        };
        assert_eq!(
            short.detail_passed_on().as_deref(),
            Some("libVersion is invalid")
        );
    }
}
