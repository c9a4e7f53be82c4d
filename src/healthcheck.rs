//! The `healthcheck` subcommand: a scratch image has no curl, so the binary probes its own
//! `/healthz` over loopback for the container's `HEALTHCHECK`.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

/// A container runtime runs the probe every few seconds; it must never hang.
const TIMEOUT: Duration = Duration::from_secs(2);

/// `Ok` when `GET /healthz` on the listen address answers 200.
pub async fn probe(listen: SocketAddr) -> Result<(), String> {
    if listen.port() == 0 {
        return Err("server.listen has port 0, so there is no known port to probe".into());
    }
    let url = format!("http://{}/healthz", probe_address(listen));
    // No proxy: an HTTP_PROXY in the container must not carry a loopback probe elsewhere.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(response) => Err(format!("{url} answered {}", response.status())),
        Err(error) => Err(format!("{url}: {}", root_cause(&error))),
    }
}

/// reqwest's own message only repeats the URL; the innermost cause says what went wrong.
fn root_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> &'a (dyn std::error::Error + 'static) {
    std::iter::successors(Some(error), |e| e.source())
        .last()
        .unwrap_or(error)
}

/// A wildcard listener (`0.0.0.0`, `::`) is reached through loopback of the same family.
fn probe_address(listen: SocketAddr) -> SocketAddr {
    let mut address = listen;
    if listen.ip().is_unspecified() {
        address.set_ip(match listen {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_probed_on_loopback() {
        assert_eq!(
            probe_address("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address("[::]:8080".parse().unwrap()),
            "[::1]:8080".parse().unwrap()
        );
        assert_eq!(
            probe_address("10.1.2.3:8080".parse().unwrap()),
            "10.1.2.3:8080".parse().unwrap()
        );
    }
}
