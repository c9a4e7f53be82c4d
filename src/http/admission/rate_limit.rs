//! The per-client-IP rate limit (governor), with bounded memory.
//!
//! The client IP is the socket peer, unless that peer is a trusted proxy: then it is the
//! rightmost `X-Forwarded-For` entry that is not itself a trusted proxy. The leftmost entry
//! is whatever the client wrote, so it is never believed.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    time::Duration,
};

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock};
use ipnet::IpNet;

use crate::config::RateLimitSettings;

/// Past the tracking cap, new clients share this one bucket (an unroutable address).
const OVERFLOW_KEY: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// The per-IP limiter, with bounded memory.
#[derive(Debug)]
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    trusted_proxies: Vec<IpNet>,
    max_tracked: usize,
}

impl RateLimiter {
    /// `None` when `per_second` is 0 (off).
    pub fn new(settings: &RateLimitSettings) -> Option<Self> {
        let per_second = NonZeroU32::new(settings.per_second)?;
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            limiter: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            trusted_proxies: settings.trusted_proxies.clone(),
            max_tracked: settings.max_tracked_clients,
        })
    }

    /// `Err(wait)` when the client must wait before its next request.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let mut key = bucket_of(client);
        if self.limiter.len() >= self.max_tracked {
            // Too many distinct clients right now (an IP-spraying flood): stop growing.
            key = OVERFLOW_KEY;
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }

    /// Drops entries that are back to a full bucket; called every few seconds.
    pub fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(peer, headers, &self.trusted_proxies)
    }
}

/// IPv6 clients get a /64 each (one host usually owns the whole prefix).
fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// The client's address as far as the trusted proxies vouch for it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage: nothing further left can be believed either.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<IpNet> {
        vec![
            "10.0.0.0/8".parse().unwrap(),
            "192.168.1.1/32".parse().unwrap(),
        ]
    }

    use axum::http::HeaderValue;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client_ip(ip("203.0.113.9"), &xff(&["1.1.1.1"]), &trusted()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let headers = xff(&["6.6.6.6, 198.51.100.7, 10.1.2.3"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_forged_leftmost_entry_changes_nothing() {
        let honest = xff(&["198.51.100.7"]);
        let forged = xff(&["1.2.3.4, 198.51.100.7"]);
        let peer = ip("10.0.0.1");
        assert_eq!(
            client_ip(peer, &honest, &trusted()),
            client_ip(peer, &forged, &trusted())
        );
    }

    #[test]
    fn multiple_headers_ports_and_garbage_are_handled() {
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                &xff(&["5.5.5.5", "198.51.100.7:443"]),
                &trusted()
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["[2001:db8::1]:80"]), &trusted()),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &xff(&["5.5.5.5, nonsense"]), &trusted()),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted()),
            ip("10.0.0.1")
        );
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

    fn limiter(per_second: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        RateLimiter::new(&RateLimitSettings {
            per_second,
            burst,
            trusted_proxies: Vec::new(),
            allow_any_proxy: false,
            max_tracked_clients: max_tracked,
        })
        .unwrap()
    }

    #[test]
    fn burst_then_limited_with_a_wait() {
        let limiter = limiter(1, 3, 100);
        let client = ip("198.51.100.7");
        for _ in 0..3 {
            assert!(limiter.check(client).is_ok());
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
        assert!(limiter.limiter.len() <= 1_001, "{}", limiter.limiter.len());
    }

    #[test]
    fn zero_rate_turns_the_limiter_off() {
        assert!(
            RateLimiter::new(&RateLimitSettings {
                per_second: 0,
                burst: 20,
                trusted_proxies: Vec::new(),
                allow_any_proxy: false,
                max_tracked_clients: 10
            })
            .is_none()
        );
    }
}
