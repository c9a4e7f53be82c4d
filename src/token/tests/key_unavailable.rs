//! An API key file that cannot be read is neither a rejection nor an identity outage: it is
//! retried within seconds, so a restored file heals at once.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{ScriptedSource, cache_get_eventually, in_secs, start, token};
use crate::{
    config::ApiKeyError,
    payroc::PayrocError,
    token::{FailureKind, TokenError, refresher::KEY_UNAVAILABLE_CAP},
};

#[allow(clippy::unnecessary_wraps)] // used as a `Fallback`
fn key_file_missing(_: u32) -> super::Outcome {
    Err(PayrocError::ApiKey {
        error: ApiKeyError::Unreadable(std::io::ErrorKind::NotFound.into()),
        file: Some("/run/secrets/payroc-api-key".into()),
    })
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_key_file_is_retried_within_seconds_not_on_the_rejected_schedule() {
    let source = ScriptedSource::new(key_file_missing);
    let (cache, task, _stop) = start(&source);
    sleep(Duration::from_millis(100)).await;

    let failure = cache
        .snapshot()
        .last_failure
        .expect("the first fetch failed");
    assert_eq!(failure.kind, FailureKind::KeyUnavailable);
    let text = key_file_missing(0).unwrap_err().to_string();
    assert!(!text.contains("/run/secrets"), "{text}");
    assert!(matches!(
        cache.get(in_secs(9)).await,
        Err(TokenError::Unavailable {
            key_rejected: false,
            ..
        })
    ));

    // Two minutes of failures: the backoff (500 ms doubling, cap 30 s) would reach 30 s and
    // the rejected schedule is 60 s, but no gap between attempts exceeds the 5 s cap (plus
    // the fetch's own 50 ms and this loop's 100 ms step).
    let mut last = (source.calls(), Instant::now());
    let mut longest = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(120);
    while Instant::now() < until {
        sleep(Duration::from_millis(100)).await;
        if source.calls() != last.0 {
            longest = longest.max(last.1.elapsed());
            last = (source.calls(), Instant::now());
        }
    }
    longest = longest.max(last.1.elapsed());
    let allowed = KEY_UNAVAILABLE_CAP + Duration::from_millis(150);
    assert!(longest <= allowed, "an attempt waited {longest:?}");
    assert!(source.calls() >= 24, "{} attempts", source.calls());
    assert!(!task.is_finished());

    // The file is back: a token within one capped wait.
    source.set_fallback(|n| token(3600, n));
    cache_get_eventually(&cache, allowed).await;
    assert!(cache.snapshot().last_failure.is_none());
}
