//! When to refresh a token: a pure function of its inputs (randomness is passed in as a
//! sample), so every case is a plain unit test. How long to back off is [`crate::retry`].

use std::time::Duration;

/// Never keep using a token closer than this to its expiry (transit time, slow upstream).
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// The margin is this share of the lifetime, so a 4 s token keeps 3.6 s of use.
const MARGIN_SHARE: f64 = 0.10;
/// Refresh jitter, as a share of the lifetime either side, so replicas spread out.
const JITTER_SHARE: f64 = 0.05;

/// When a freshly fetched token should be refreshed, and how long it may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPlan {
    pub refresh_after: Duration,
    pub usable_for: Duration,
}

/// Plans a token of `lifetime`: usable until a margin before expiry, refreshed at about
/// `ratio` of its lifetime, moved by `sample` (in −1..=1) times the jitter share.
pub fn plan(lifetime: Duration, ratio: f64, sample: f64) -> RefreshPlan {
    let margin = lifetime.mul_f64(MARGIN_SHARE).min(MAX_MARGIN);
    let usable_for = lifetime.saturating_sub(margin);
    let jitter = lifetime.mul_f64(JITTER_SHARE * sample.abs().min(1.0));
    let target = lifetime.mul_f64(ratio);
    let jittered = if sample < 0.0 {
        target.saturating_sub(jitter)
    } else {
        target + jitter
    };
    // Always refresh while the token is still usable, with a little room for the fetch.
    let latest = usable_for.mul_f64(0.95);
    RefreshPlan {
        refresh_after: jittered.min(latest),
        usable_for,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn hour_token_refreshes_at_three_quarters_and_is_usable_until_a_minute_before_expiry() {
        let p = plan(HOUR, 0.75, 0.0);
        assert_eq!(p.refresh_after, Duration::from_secs(2700));
        assert_eq!(p.usable_for, Duration::from_secs(3540));
    }

    #[test]
    fn jitter_moves_refresh_by_at_most_five_percent_of_lifetime() {
        assert_eq!(
            plan(HOUR, 0.75, 1.0).refresh_after,
            Duration::from_secs(2880)
        );
        assert_eq!(
            plan(HOUR, 0.75, -1.0).refresh_after,
            Duration::from_secs(2520)
        );
        assert_eq!(
            plan(HOUR, 0.75, 7.0).refresh_after,
            Duration::from_secs(2880)
        );
    }

    #[test]
    fn four_second_token_keeps_most_of_its_life() {
        let p = plan(Duration::from_secs(4), 0.75, 0.0);
        assert_eq!(p.usable_for, Duration::from_millis(3600));
        assert_eq!(p.refresh_after, Duration::from_secs(3));
        let late = plan(Duration::from_secs(4), 0.75, 1.0);
        assert!(late.refresh_after < late.usable_for);
    }

    #[test]
    fn refresh_always_comes_before_the_token_stops_being_usable() {
        for secs in [1, 2, 4, 60, 3600, 86_400] {
            for sample in [-1.0, 0.0, 1.0] {
                let p = plan(Duration::from_secs(secs), 0.95, sample);
                assert!(p.refresh_after < p.usable_for, "{secs}s {sample}");
            }
        }
    }

    #[test]
    fn a_thousand_accounts_fetched_together_refresh_spread_over_six_minutes() {
        // Warmed up within seconds of each other, 1,000 accounts' hour tokens refresh across
        // 2520..2880 s, uniformly for uniform samples: no minute holds more than a fifth.
        let mut per_minute = std::collections::BTreeMap::new();
        for i in 0..1000 {
            let sample = f64::from(i) / 499.5 - 1.0;
            let after = plan(HOUR, 0.75, sample).refresh_after.as_secs();
            *per_minute.entry(after / 60).or_insert(0) += 1;
        }
        assert!(per_minute.len() >= 6, "{per_minute:?}");
        assert!(per_minute.values().all(|n| *n <= 200), "{per_minute:?}");
    }
}
