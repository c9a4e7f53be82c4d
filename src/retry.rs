//! Backoff maths shared by the token refresher and request retries: pure functions of their
//! inputs (randomness is passed in as a sample), so every case is a plain unit test.

use std::time::Duration;

/// Capped exponential backoff with full jitter: uniform in `[0, min(cap, base·2^(n−1))]`
/// for the `failures`-th consecutive failure; `sample` is in 0..=1.
pub fn backoff(failures: u32, base: Duration, cap: Duration, sample: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    // A floor keeps a burst of failures from spinning on a zero sleep.
    ceiling
        .mul_f64(sample.clamp(0.0, 1.0))
        .max(Duration::from_millis(10))
}

/// `delay` moved by up to ±20 % (for slow, fixed-interval retries).
pub fn jittered(delay: Duration, sample: f64) -> Duration {
    delay.mul_f64(1.0 + 0.2 * sample.clamp(-1.0, 1.0))
}

/// A uniform sample in −1..=1.
pub fn sample() -> f64 {
    rand::random::<f64>() * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(2, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, base, cap, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(20, base, cap, 1.0), cap);
        assert_eq!(backoff(u32::MAX, base, cap, 1.0), cap);
    }

    #[test]
    fn backoff_is_full_jitter_with_a_small_floor() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(30);
        assert_eq!(backoff(4, base, cap, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(4, base, cap, 0.0), Duration::from_millis(10));
    }

    #[test]
    fn fixed_retries_are_jittered_by_a_fifth() {
        let minute = Duration::from_secs(60);
        assert_eq!(jittered(minute, 1.0), Duration::from_secs(72));
        assert_eq!(jittered(minute, -1.0), Duration::from_secs(48));
    }
}
