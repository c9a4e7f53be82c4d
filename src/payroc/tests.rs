//! Classifying Payroc's answers and reading `Retry-After`.

use super::*;
use reqwest::header::{HeaderValue, RETRY_AFTER};

#[test]
fn statuses_are_classified_for_callers() {
    let of = |code: u16| PayrocError::from_status(StatusCode::from_u16(code).unwrap(), None, b"");
    assert!(matches!(of(401), PayrocError::Unauthorized));
    for code in [408, 429, 500, 502, 503, 504] {
        assert!(matches!(of(code), PayrocError::Transient { .. }), "{code}");
    }
    for code in [400, 403, 406, 409, 415] {
        assert!(matches!(of(code), PayrocError::Rejected { status, .. } if status == code));
    }
    assert!(matches!(of(302), PayrocError::InvalidResponse(_)));
    assert!(of(403).is_key_rejection());
    assert!(!of(503).is_key_rejection());
    let unreadable = PayrocError::ApiKey {
        error: ApiKeyError::Empty,
        file: Some("/run/secrets/payroc".into()),
    };
    assert!(!unreadable.is_key_rejection(), "identity never saw the key");
    assert!(!unreadable.to_string().contains("/run/secrets"));
}

#[test]
fn retry_after_accepts_seconds_and_dates_and_is_capped() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("999999"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(300)));
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers), None);
}
