//! Body parsing and validation, without a server.

use super::body::validate_members;
use super::*;
use serde_json::{Value, json};

use crate::payroc::FieldError;

fn members(value: Value) -> Result<SessionRequest, Vec<FieldError>> {
    let Value::Object(object) = value else {
        unreachable!()
    };
    validate_members(object)
}

#[test]
fn empty_object_and_nulls_mean_defaults() {
    assert_eq!(members(json!({})).unwrap(), SessionRequest::default());
    assert_eq!(
        members(json!({"processingTerminalId": null, "scenario": null, "secureTokenId": null}))
            .unwrap(),
        SessionRequest::default()
    );
}

#[test]
fn unknown_members_are_named_in_errors() {
    let errors = members(json!({"scenerio": "tokenization"})).unwrap_err();
    assert_eq!(errors[0].parameter, "scenerio");
}

#[test]
fn scenario_and_secure_token_id_are_checked() {
    assert_eq!(
        members(json!({"scenario": "refund"})).unwrap_err()[0].parameter,
        "scenario"
    );
    assert_eq!(
        members(json!({"secureTokenId": ""})).unwrap_err()[0].parameter,
        "secureTokenId"
    );
    assert!(members(json!({"secureTokenId": "x".repeat(201)})).is_err());
    assert!(members(json!({"secureTokenId": "é".repeat(200)})).is_ok());
    assert_eq!(
        members(json!({"processingTerminalId": 1_234_001})).unwrap_err()[0].parameter,
        "processingTerminalId"
    );
}

#[test]
fn json_content_types_are_recognised() {
    let with = |ct: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        is_json(&h)
    };
    assert!(with("application/json"));
    assert!(with("Application/JSON; charset=utf-8"));
    assert!(!with("text/plain"));
    assert!(!with("application/x-www-form-urlencoded"));
    assert!(!is_json(&HeaderMap::new()));
}

#[test]
fn expires_in_seconds_rounds_down_and_is_never_negative() {
    let now = OffsetDateTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
    let later = |millis: u64| now + std::time::Duration::from_millis(millis);
    assert_eq!(seconds_until(later(598_999), now), 598);
    assert_eq!(seconds_until(later(600_000), now), 600);
    assert_eq!(seconds_until(later(999), now), 0);
    assert_eq!(
        seconds_until(now - std::time::Duration::from_secs(5), now),
        0
    );
}
