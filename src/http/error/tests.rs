//! Statuses, headers and bodies of the problem answers.

use super::*;
use crate::{mint::MintError, payroc::PayrocError, token::TokenError};

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    assert_eq!(retry_after_secs(Duration::from_millis(1)), "1");
    assert_eq!(retry_after_secs(Duration::from_millis(2500)), "3");
    assert_eq!(retry_after_secs(Duration::ZERO), "1");
}

#[test]
fn token_unavailable_is_503_with_retry_after() {
    let response = ApiError::TokenUnavailable {
        retry_after: Duration::from_secs(4),
    }
    .into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "4");
    assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
}

#[test]
fn timed_out_last_attempt_is_504_other_failures_502() {
    let timed_out = MintError::Upstream(PayrocError::Transient {
        reason: "timed out".into(),
        timed_out: true,
        retry_after: None,
    });
    assert_eq!(ApiError::from(timed_out).problem().status, 504);
    let failed = MintError::Upstream(PayrocError::Transient {
        reason: "status 500".into(),
        timed_out: false,
        retry_after: None,
    });
    assert_eq!(ApiError::from(failed).problem().status, 502);
    assert_eq!(
        ApiError::from(MintError::StillUnauthorized)
            .problem()
            .status,
        502
    );
}

#[test]
fn a_callers_key_conflict_or_expired_replay_is_409_and_a_spent_deadline_504() {
    for error in [MintError::KeyInUse, MintError::SessionExpired] {
        assert_eq!(ApiError::from(error).problem().status, 409);
    }
    for error in [
        MintError::DeadlineExceeded,
        MintError::Token(TokenError::DeadlineExceeded),
    ] {
        assert_eq!(ApiError::from(error).problem().status, 504);
    }
}

#[test]
fn upstream_rejection_passes_on_paycors_detail_but_not_the_cause() {
    let problem = crate::payroc::Problem {
        detail: Some("libVersion is invalid".into()),
        errors: Some(serde_json::json!([{"parameter": "libVersion", "message": "bad"}])),
        ..Default::default()
    };
    let api = ApiError::from(MintError::Upstream(PayrocError::Rejected {
        status: 400,
        problem: Box::new(problem),
    }));
    let p = api.problem();
    assert_eq!(
        (p.status, p.detail.as_str()),
        (502, "libVersion is invalid")
    );
    assert_eq!(p.errors[0].parameter, "libVersion");
    let failed = ApiError::UpstreamFailed("connection to 10.0.0.1 refused".into()).problem();
    assert!(!failed.detail.contains("10.0.0.1"));
}
