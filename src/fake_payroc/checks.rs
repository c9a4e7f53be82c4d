//! Session request validation, as Payroc's spec words it: the `Authorization`,
//! `Idempotency-Key`, `Content-Type` and `Accept` headers, then the body schema with its
//! `libVersion` pattern. Each check returns the problem Payroc would answer.

use std::ops::RangeInclusive;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::problem::{PROBLEM_JSON, Problem, field_error, validation_failed};

/// `secureTokenId` length bounds from the spec.
const SECURE_TOKEN_ID_CHARS: RangeInclusive<usize> = 1..=200;
/// Media ranges that admit `application/json` or `application/problem+json`.
const ACCEPTABLE_RANGES: [&str; 4] = ["*/*", "application/*", "application/json", PROBLEM_JSON];

/// `Bearer <token>`, scheme case-insensitive as RFC 9110 says.
pub(super) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub(super) fn check_idempotency_key(key: Option<&str>) -> Result<&str, Problem> {
    let Some(key) = key else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "idempotency-key-missing",
            "Idempotency-Key header missing",
            "An 'Idempotency-Key' must be supplied for this request",
        ));
    };
    if is_hyphenated_uuid_v4(key) {
        return Ok(key);
    }
    let example = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let message = format!("Expected a UUID v4 such as {example}, got '{key}' for Idempotency-Key");
    let error = field_error("Idempotency-Key", "must be a UUID v4", &message);
    Err(validation_failed(vec![error]))
}

/// `Uuid::try_parse` also takes braced, URN and simple forms; Payroc asks for the 36-char
/// hyphenated form of a version 4, RFC 4122 variant UUID.
pub(super) fn is_hyphenated_uuid_v4(key: &str) -> bool {
    let shaped = key.len() == 36
        && key.bytes().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        });
    shaped
        && Uuid::try_parse(key)
            .is_ok_and(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122)
}

pub(super) fn check_content_type(content_type: Option<&str>) -> Result<(), Problem> {
    let is_json = content_type.is_some_and(|value| {
        let media = value.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/json")
    });
    if is_json {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
        "You submitted a payload in an unsupported format",
    ))
}

pub(super) fn check_accept(accept: Option<&str>) -> Result<(), Problem> {
    if accept.is_none_or(accepts_json) {
        return Ok(());
    }
    Err(Problem::new(
        StatusCode::NOT_ACCEPTABLE,
        "not-acceptable",
        "Not acceptable",
        "Resource does not support the representation requested",
    ))
}

/// Whether an `Accept` value admits one of our two media types. An empty value is treated as
/// absent; a range with `q=0` is a refusal.
pub(super) fn accepts_json(accept: &str) -> bool {
    accept.trim().is_empty()
        || accept.split(',').any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let refused = parts.any(is_zero_quality);
            !refused
                && ACCEPTABLE_RANGES
                    .iter()
                    .any(|ok| media.eq_ignore_ascii_case(ok))
        })
}

fn is_zero_quality(parameter: &str) -> bool {
    let Some((name, value)) = parameter.split_once('=') else {
        return false;
    };
    let value = value.trim();
    name.trim().eq_ignore_ascii_case("q")
        && value.starts_with('0')
        && value.chars().all(|c| c == '0' || c == '.')
}

/// The request schema: a JSON object with `libVersion`, `scenario` and optional
/// `secureTokenId`. Unknown members pass, as the schema does not forbid them.
pub(super) fn validate_body(bytes: &[u8]) -> Result<Value, Problem> {
    let members = parse_object(bytes)?;
    let errors: Vec<Value> = [
        check_lib_version(members.get("libVersion")),
        check_scenario(members.get("scenario")),
        check_secure_token_id(members.get("secureTokenId")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if errors.is_empty() {
        Ok(Value::Object(members))
    } else {
        Err(validation_failed(errors))
    }
}

/// A request body that must be a JSON object: anything else is a 400 naming `body`.
pub(super) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, Problem> {
    let body: Value = serde_json::from_slice(bytes).map_err(|error| {
        let message = format!("The request body is not valid JSON: {error}");
        validation_failed(vec![field_error("body", "malformed JSON", &message)])
    })?;
    if let Value::Object(members) = body {
        return Ok(members);
    }
    let message = "Expected a JSON object for the request body";
    Err(validation_failed(vec![field_error(
        "body",
        "must be an object",
        message,
    )]))
}

fn check_lib_version(value: Option<&Value>) -> Option<Value> {
    match value {
        None => Some(missing("libVersion")),
        Some(Value::String(version)) if lib_version_matches(version) => None,
        Some(Value::String(version)) => Some(field_error(
            "libVersion",
            "invalid format",
            &format!("Expected a version like 1.7.0.261471, got '{version}' for libVersion"),
        )),
        Some(other) => Some(not_a_string("libVersion", other)),
    }
}

fn check_scenario(value: Option<&Value>) -> Option<Value> {
    match value {
        None => Some(missing("scenario")),
        Some(Value::String(scenario)) if scenario == "payment" || scenario == "tokenization" => {
            None
        }
        Some(Value::String(scenario)) => Some(field_error(
            "scenario",
            "invalid value",
            &format!("Expected one of payment, tokenization, got '{scenario}' for scenario"),
        )),
        Some(other) => Some(not_a_string("scenario", other)),
    }
}

fn check_secure_token_id(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::String(id) if SECURE_TOKEN_ID_CHARS.contains(&id.chars().count()) => None,
        Value::String(id) => Some(field_error(
            "secureTokenId",
            "invalid length",
            &format!(
                "Expected 1 to 200 characters, got {} for secureTokenId",
                id.chars().count()
            ),
        )),
        other => Some(not_a_string("secureTokenId", other)),
    }
}

pub(super) fn missing(parameter: &str) -> Value {
    field_error(parameter, "required", &format!("{parameter} is required"))
}

pub(super) fn not_a_string(parameter: &str, value: &Value) -> Value {
    let message = format!("Expected string, got '{value}' for {parameter}");
    field_error(parameter, "must be a string", &message)
}

/// One element of the `libVersion` pattern `^\d{1,2}.\d{1,2}.\d{1,2}(?:-beta)?.\d+$`.
enum Piece {
    /// `\d{min,max}`: ASCII digits only, as in ECMA-262 regexes.
    Digits { min: usize, max: usize },
    /// `.`: any character but a line terminator (the spec's dots are unescaped).
    AnyChar,
    /// `(?:literal)?`
    Optional(&'static [char]),
}

const LIB_VERSION_PATTERN: [Piece; 8] = [
    Piece::Digits { min: 1, max: 2 },
    Piece::AnyChar,
    Piece::Digits { min: 1, max: 2 },
    Piece::AnyChar,
    Piece::Digits { min: 1, max: 2 },
    Piece::Optional(&['-', 'b', 'e', 't', 'a']),
    Piece::AnyChar,
    Piece::Digits {
        min: 1,
        max: usize::MAX,
    },
];

/// Matches exactly what the spec's regex matches, without a regex engine.
pub(super) fn lib_version_matches(version: &str) -> bool {
    let chars: Vec<char> = version.chars().collect();
    matches_pieces(&LIB_VERSION_PATTERN, &chars)
}

/// Backtracking match of the whole input (`^...$`); the pattern is tiny, so this is cheap.
fn matches_pieces(pieces: &[Piece], input: &[char]) -> bool {
    let Some((piece, rest)) = pieces.split_first() else {
        return input.is_empty();
    };
    match piece {
        Piece::Digits { min, max } => {
            let run = input
                .iter()
                .take(*max)
                .take_while(|c| c.is_ascii_digit())
                .count();
            (*min..=run)
                .rev()
                .any(|taken| matches_pieces(rest, &input[taken..]))
        }
        Piece::AnyChar => {
            input.first().is_some_and(|&c| !is_line_terminator(c))
                && matches_pieces(rest, &input[1..])
        }
        Piece::Optional(literal) => {
            (input.starts_with(literal) && matches_pieces(rest, &input[literal.len()..]))
                || matches_pieces(rest, input)
        }
    }
}

/// ECMA-262's line terminators, which `.` does not match.
fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}
