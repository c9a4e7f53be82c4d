//! Who the client is: the socket peer, unless that peer is a trusted proxy: then it is the
//! rightmost `X-Forwarded-For` entry that is not itself a trusted proxy. The leftmost entry
//! is whatever the client wrote, so it is never believed.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

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
}
