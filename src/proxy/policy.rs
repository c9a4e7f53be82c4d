//! What the pass-through does after each attempt, as a pure function: heal a 401 once, retry a
//! transient failure only when replaying the request is safe, otherwise pass Payroc's answer
//! back as it is. "Safe" is the HTTP meaning plus Payroc's idempotency: `GET`, `HEAD`, `PUT`
//! and `DELETE` may be repeated, and so may any request carrying an `Idempotency-Key` (Payroc
//! replays the saved answer); a `POST` or `PATCH` without one is sent once, never twice.

use std::time::Duration;

use reqwest::{Method, StatusCode};

/// May this request be sent more than once?
pub fn replay_safe(method: &Method, has_idempotency_key: bool) -> bool {
    has_idempotency_key
        || matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        )
}

/// How one attempt ended, as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Payroc answered with this status (and maybe a `Retry-After`).
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// No answer: refused, dropped or timed out.
    Lost,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Give the caller Payroc's answer (or, after [`Outcome::Lost`], a 502/504 problem).
    Finish,
    /// Drop the token that was refused and send the same request again with a fresh one.
    Heal,
    /// Send the same request again after at least this long (`Retry-After`, if Payroc said).
    Retry { at_least: Duration },
}

/// The rules, in one place.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The request may be sent again (see [`replay_safe`]).
    pub replay_safe: bool,
    /// Attempts made so far, the healing one after a 401 not counted.
    pub attempts: u32,
    pub max_attempts: u32,
    /// A 401 was already healed once.
    pub healed: bool,
}

impl Policy {
    pub fn next(&self, outcome: Outcome) -> Next {
        let may_retry = self.replay_safe && self.attempts < self.max_attempts;
        match outcome {
            // A 401 means Payroc did nothing: replaying it is always safe, once.
            Outcome::Answered { status, .. } if status == StatusCode::UNAUTHORIZED => {
                if self.healed {
                    Next::Finish
                } else {
                    Next::Heal
                }
            }
            Outcome::Answered {
                status,
                retry_after,
            } if may_retry && is_transient(status, retry_after) => Next::Retry {
                at_least: retry_after.unwrap_or_default(),
            },
            Outcome::Lost if may_retry => Next::Retry {
                at_least: Duration::ZERO,
            },
            _ => Next::Finish,
        }
    }
}

/// 502, 503 and 504 are a gateway's "try again"; a 429 only when Payroc says when. A 500 is
/// Payroc's own failure: passed back, never retried.
fn is_transient(status: StatusCode, retry_after: Option<Duration>) -> bool {
    matches!(status.as_u16(), 502..=504)
        || (status == StatusCode::TOO_MANY_REQUESTS && retry_after.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Outcome {
        Outcome::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
        }
    }

    fn policy(replay_safe: bool) -> Policy {
        Policy {
            replay_safe,
            attempts: 1,
            max_attempts: 3,
            healed: false,
        }
    }

    #[test]
    fn only_idempotent_methods_or_keyed_requests_are_replay_safe() {
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert!(replay_safe(&method, false), "{method}");
        }
        assert!(!replay_safe(&Method::POST, false));
        assert!(!replay_safe(&Method::PATCH, false));
        assert!(replay_safe(&Method::POST, true));
        assert!(replay_safe(&Method::PATCH, true));
    }

    #[test]
    fn a_post_without_a_key_is_never_sent_twice() {
        let once = policy(false);
        for outcome in [answered(502), answered(503), answered(504), Outcome::Lost] {
            assert_eq!(once.next(outcome), Next::Finish, "{outcome:?}");
        }
        let limited = Outcome::Answered {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(once.next(limited), Next::Finish);
    }

    #[test]
    fn replay_safe_requests_retry_gateway_failures_and_lost_answers() {
        let safe = policy(true);
        for outcome in [answered(502), answered(503), answered(504), Outcome::Lost] {
            assert!(
                matches!(safe.next(outcome), Next::Retry { .. }),
                "{outcome:?}"
            );
        }
        let limited = Outcome::Answered {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            safe.next(limited),
            Next::Retry {
                at_least: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn payroc_errors_and_successes_are_passed_back_not_retried() {
        let safe = policy(true);
        for status in [200, 201, 204, 400, 403, 404, 409, 429, 500] {
            assert_eq!(safe.next(answered(status)), Next::Finish, "{status}");
        }
    }

    #[test]
    fn retries_stop_when_the_attempts_run_out() {
        let spent = Policy {
            attempts: 3,
            ..policy(true)
        };
        assert_eq!(spent.next(answered(503)), Next::Finish);
        assert_eq!(spent.next(Outcome::Lost), Next::Finish);
    }

    #[test]
    fn a_401_heals_once_whatever_the_method() {
        assert_eq!(policy(false).next(answered(401)), Next::Heal);
        let spent = Policy {
            attempts: 3,
            ..policy(true)
        };
        assert_eq!(spent.next(answered(401)), Next::Heal);
        let healed = Policy {
            healed: true,
            ..policy(true)
        };
        assert_eq!(healed.next(answered(401)), Next::Finish);
    }
}
