//! A budget for log lines that clients can cause: at most so many a second, the rest counted
//! and reported by the next line let through, so a flood of failing requests cannot turn into
//! a flood of log volume.

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    time::{SystemTime, UNIX_EPOCH},
};

/// At most `per_second` lines in each wall-clock second.
#[derive(Debug)]
pub struct LogThrottle {
    per_second: u32,
    second: AtomicU64,
    used: AtomicU32,
    suppressed: AtomicU64,
}

impl LogThrottle {
    pub const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            second: AtomicU64::new(0),
            used: AtomicU32::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were left out since the
    /// last one written; `None` when this one is left out (and counted).
    pub fn admit(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.admit_at(now)
    }

    fn admit_at(&self, second: u64) -> Option<u64> {
        if self.second.swap(second, Relaxed) != second {
            self.used.store(0, Relaxed);
        }
        if self.used.fetch_add(1, Relaxed) < self.per_second {
            Some(self.suppressed.swap(0, Relaxed))
        } else {
            self.suppressed.fetch_add(1, Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_budget_are_counted_and_reported_by_the_next_one_written() {
        let throttle = LogThrottle::new(2);
        assert_eq!(throttle.admit_at(100), Some(0));
        assert_eq!(throttle.admit_at(100), Some(0));
        assert_eq!(throttle.admit_at(100), None);
        assert_eq!(throttle.admit_at(100), None);
        assert_eq!(
            throttle.admit_at(101),
            Some(2),
            "the next second reports two left out"
        );
        assert_eq!(throttle.admit_at(101), Some(0));
        assert_eq!(throttle.admit_at(101), None);
    }
}
