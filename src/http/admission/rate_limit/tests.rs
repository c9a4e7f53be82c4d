//! The limiter's buckets: burst, wait, bounded memory, and what a full table does.

use std::{net::IpAddr, time::Duration};

use governor::clock::FakeRelativeClock;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn settings(per_second: u32, burst: u32, max_tracked: usize) -> RateLimitSettings {
    RateLimitSettings {
        per_second,
        burst,
        trusted_proxies: Vec::new(),
        allow_any_proxy: false,
        max_tracked_clients: max_tracked,
        redis_url: None,
        redis_failure: crate::config::RedisFailure::Local,
        redis_timeout: std::time::Duration::from_millis(50),
    }
}

fn limiter(per_second: u32, burst: u32, max_tracked: usize) -> RateLimiter {
    RateLimiter::new(&settings(per_second, burst, max_tracked)).unwrap()
}

fn fake_limiter(
    per_second: u32,
    burst: u32,
    max_tracked: usize,
) -> (RateLimiter<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let limiter =
        RateLimiter::with_clock(&settings(per_second, burst, max_tracked), clock.clone()).unwrap();
    (limiter, clock)
}

fn sprayed(n: u32) -> IpAddr {
    IpAddr::V4((0x0a00_0000 + n).into())
}

#[test]
fn ipv6_clients_share_their_64_prefix() {
    assert_eq!(
        bucket_of(ip("2001:db8:1:2:aaaa::1")),
        bucket_of(ip("2001:db8:1:2:bbbb::2"))
    );
    assert_ne!(
        bucket_of(ip("2001:db8:1:2::1")),
        bucket_of(ip("2001:db8:1:3::1"))
    );
    assert_eq!(bucket_of(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
}

#[test]
fn burst_then_limited_with_a_wait() {
    let limiter = limiter(1, 3, 100);
    let client = ip("198.51.100.7");
    for _ in 0..3 {
        assert_eq!(limiter.check(client), Ok(Checked::Tracked));
    }
    let wait = limiter.check(client).unwrap_err();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(1),
        "{wait:?}"
    );
    assert!(
        limiter.check(ip("198.51.100.8")).is_ok(),
        "other clients are unaffected"
    );
}

#[test]
fn memory_stays_bounded_under_an_ip_spraying_flood() {
    let limiter = limiter(1, 1, 1_000);
    for n in 0..20_000_u32 {
        let _ = limiter.check(IpAddr::V4(n.into()));
    }
    assert!(limiter.table.len() <= 1_000, "{}", limiter.table.len());
}

#[test]
fn a_full_table_of_spent_buckets_never_takes_a_new_clients_budget() {
    const N: u32 = 100;
    let (limiter, _clock) = fake_limiter(1, 3, N as usize);
    // N sprayed addresses fill the table and spend their budgets; N more keep spraying.
    for n in 0..2 * N {
        for _ in 0..5 {
            let _ = limiter.check(sprayed(n));
        }
    }

    let newcomer = ip("198.51.100.7");
    for request in 0..3 {
        assert!(
            limiter.check(newcomer).is_ok(),
            "request {request} of the newcomer's burst"
        );
    }
    assert_eq!(limiter.check(newcomer), Ok(Checked::Untracked));
    assert_eq!(limiter.table.len(), N as usize);
    assert!(limiter.check(sprayed(0)).is_err(), "tracked: still limited");
}

#[test]
fn a_full_table_drops_full_buckets_to_make_room_at_most_every_100_ms() {
    const N: u32 = 50;
    // 1 000 per second: a spent bucket of one is full again after 1 ms.
    let (limiter, clock) = fake_limiter(1_000, 1, N as usize);
    let fill = |from: u32| {
        for n in from..from + N {
            assert!(limiter.check(sprayed(n)).is_ok());
        }
    };
    fill(0);
    clock.advance(Duration::from_millis(10));
    assert_eq!(limiter.check(ip("198.51.100.1")), Ok(Checked::Tracked));
    assert_eq!(limiter.table.len(), 1, "the full buckets were dropped");

    fill(1_000);
    clock.advance(Duration::from_millis(10));
    assert_eq!(
        limiter.check(ip("198.51.100.2")),
        Ok(Checked::Untracked),
        "no second sweep within 100 ms"
    );
    clock.advance(SWEEP_EVERY);
    assert_eq!(limiter.check(ip("198.51.100.3")), Ok(Checked::Tracked));
}

#[test]
fn zero_rate_turns_the_limiter_off() {
    assert!(RateLimiter::new(&settings(0, 20, 10)).is_none());
}
