//! The rules between what was layered and what the application runs with: every key is
//! checked here (the `payroc` section in [`payroc`]), and the defaults that depend on
//! `payroc.environment` are applied.

mod apple_pay;
mod payroc;
mod proxy;

use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

pub use apple_pay::is_apple_domain_id;
#[cfg(test)]
pub(super) use payroc::is_lib_version;
pub use payroc::is_terminal_id;

use super::{
    CallerSettings, ConfigError, ConnectionLimits, CorsSettings, LogSettings, RateLimitSettings,
    RawRateLimit, RawServer, RawSettings, RawToken, ServerSettings, Settings, TenantsSettings,
    TokenSettings,
    api_key::{MAX_API_KEY_LEN, is_printable_ascii},
    invalid,
};

impl RawSettings {
    /// Validates every key and applies the environment-derived defaults.
    pub fn resolve(self, require_api_key: bool) -> Result<Settings, ConfigError> {
        let server = self.server.resolve()?;
        let tenants = TenantsSettings {
            file: self.tenants.file,
            watch_interval: positive_millis(
                self.tenants.watch_interval_ms,
                "tenants.watch_interval_ms",
            )?,
        };
        // With a tenants file the `default` account is optional (but whole, if present).
        let payroc = self
            .payroc
            .resolve(require_api_key && tenants.file.is_none())?;
        if payroc.deadline > server.shutdown_grace {
            return Err(invalid(
                "payroc.deadline_ms",
                format!(
                    "{} ms is longer than server.shutdown_grace_ms ({} ms): a request could be cut off mid-flight at shutdown",
                    payroc.deadline.as_millis(),
                    server.shutdown_grace.as_millis()
                ),
            ));
        }
        let proxy = self.proxy.resolve(server.shutdown_grace)?;
        let apple_pay = self.apple_pay.resolve()?;
        if !apple_pay.domains.is_empty() && payroc.api_key.is_none() {
            return Err(invalid(
                "apple_pay.domains",
                "is for the default account, which needs payroc.api_key (or api_key_file) and payroc.terminals; put other accounts' domains in the tenants file",
            ));
        }
        Ok(Settings {
            proxy,
            apple_pay,
            server,
            payroc,
            callers: CallerSettings {
                keys: resolve_callers(self.callers.keys)?,
            },
            cors: CorsSettings {
                allowed_origins: resolve_origins(&self.cors.allowed_origins)?,
            },
            rate_limit: self.rate_limit.resolve()?,
            token: self.token.resolve()?,
            log: LogSettings {
                format: self.log.format,
            },
            tenants,
        })
    }
}

impl RawServer {
    fn resolve(self) -> Result<ServerSettings, ConfigError> {
        if self.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be positive"));
        }
        if let Some(metrics) = self.metrics_listen.filter(|m| conflicts(*m, self.listen)) {
            return Err(invalid(
                "server.metrics_listen",
                format!(
                    "{metrics} takes the port of server.listen ({}): use another port",
                    self.listen
                ),
            ));
        }
        Ok(ServerSettings {
            listen: self.listen,
            body_limit_bytes: self.body_limit_bytes,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            pre_drain_delay: Duration::from_millis(self.pre_drain_delay_ms),
            max_in_flight: positive_count(self.max_in_flight, "server.max_in_flight")?,
            metrics_listen: self.metrics_listen,
            body_timeout: positive_millis(self.body_timeout_ms, "server.body_timeout_ms")?,
            connections: ConnectionLimits {
                header_read_timeout: positive_millis(
                    self.header_read_timeout_ms,
                    "server.header_read_timeout_ms",
                )?,
                idle_timeout: positive_millis(self.idle_timeout_ms, "server.idle_timeout_ms")?,
                max_header_bytes: at_least(
                    self.max_header_bytes,
                    MIN_HEADER_BYTES,
                    "server.max_header_bytes",
                )?,
                max_connections: positive_count(self.max_connections, "server.max_connections")?,
            },
        })
    }
}

impl RawRateLimit {
    fn resolve(self) -> Result<RateLimitSettings, ConfigError> {
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|text| {
                // A bare address is a network of one.
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "rate_limit.trusted_proxies",
                            format!("{text:?} is not an IP address or CIDR network"),
                        )
                    })
            })
            .collect::<Result<Vec<IpNet>, _>>()?;
        if let Some(any) = trusted_proxies.iter().find(|net| net.prefix_len() == 0)
            && !self.allow_any_proxy
        {
            return Err(invalid(
                "rate_limit.trusted_proxies",
                format!(
                    "{any} trusts every peer, so any client could pick its own rate-limit bucket with X-Forwarded-For; list your proxies' networks, or set rate_limit.allow_any_proxy ({}) to true if only proxies can reach the broker",
                    super::env_var("rate_limit.allow_any_proxy")
                ),
            ));
        }
        Ok(RateLimitSettings {
            per_second: self.per_second,
            burst: positive_count(self.burst as usize, "rate_limit.burst")?
                .try_into()
                .unwrap_or(u32::MAX),
            trusted_proxies,
            allow_any_proxy: self.allow_any_proxy,
            max_tracked_clients: positive_count(
                self.max_tracked_clients,
                "rate_limit.max_tracked_clients",
            )?,
            redis_url: self
                .redis_url
                .as_deref()
                .map(resolve_redis_url)
                .transpose()?,
            redis_failure: self.redis_failure,
            redis_timeout: positive_millis(self.redis_timeout_ms, "rate_limit.redis_timeout_ms")?,
        })
    }
}

/// `redis://host[:port][/db]` (a password may be in the URL; it is never printed).
fn resolve_redis_url(text: &str) -> Result<Url, ConfigError> {
    let refuse = |reason: &str| invalid("rate_limit.redis_url", reason.to_owned());
    let url = Url::parse(text).map_err(|_| refuse("is not a URL like redis://redis:6379/0"))?;
    match url.scheme() {
        "redis" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "redis" => Err(refuse("needs a host, like redis://redis:6379/0")),
        "rediss" => Err(refuse(
            "rediss:// (TLS) is not built in: reach Redis over its private network, or through a TLS sidecar on loopback",
        )),
        _ => Err(refuse("must start with redis://")),
    }
}

/// hyper's smallest read buffer.
const MIN_HEADER_BYTES: usize = 8 * 1024;

fn at_least(value: usize, min: usize, key: &'static str) -> Result<usize, ConfigError> {
    if value < min {
        Err(invalid(key, format!("must be at least {min}")))
    } else {
        Ok(value)
    }
}

fn positive_millis(value: u64, key: &'static str) -> Result<Duration, ConfigError> {
    if value == 0 {
        Err(invalid(key, "must be at least 1"))
    } else {
        Ok(Duration::from_millis(value))
    }
}

/// Two listeners cannot both bind `a` and `b`: the same (non-zero) port on the same address,
/// or on any address when either is unspecified (`0.0.0.0`, `::`). Port 0 picks a free port.
fn conflicts(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn positive_count(value: usize, key: &'static str) -> Result<usize, ConfigError> {
    if value == 0 {
        Err(invalid(key, "must be at least 1"))
    } else {
        Ok(value)
    }
}

impl RawToken {
    fn resolve(self) -> Result<TokenSettings, ConfigError> {
        if !(0.1..=0.95).contains(&self.refresh_ratio) {
            return Err(invalid(
                "token.refresh_ratio",
                "must be between 0.1 and 0.95",
            ));
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return Err(invalid(
                "token.backoff_cap_ms",
                "backoff_base_ms must be positive and not above backoff_cap_ms",
            ));
        }
        Ok(TokenSettings {
            refresh_ratio: self.refresh_ratio,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_cap: Duration::from_millis(self.backoff_cap_ms),
            rejected_retry: Duration::from_millis(self.rejected_retry_ms.max(self.backoff_base_ms)),
        })
    }
}

fn resolve_origins(origins: &[String]) -> Result<Vec<HeaderValue>, ConfigError> {
    origins
        .iter()
        .map(|text| resolve_origin(text).map_err(|reason| invalid("cors.allowed_origins", reason)))
        .collect()
}

/// Each origin must be exactly `scheme://host[:port]` as a browser sends it in `Origin`.
pub fn resolve_origin(text: &str) -> Result<HeaderValue, String> {
    let serialized = Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.origin().ascii_serialization());
    match serialized {
        Some(origin) if origin == text.trim_end_matches('/') => {
            Ok(HeaderValue::from_str(&origin).expect("an ASCII origin is a header value"))
        }
        _ => Err(format!(
            "{text:?} is not an origin like https://shop.example.com (scheme, host, optional port; no path; lower case)"
        )),
    }
}

fn resolve_callers(keys: Vec<String>) -> Result<Vec<SecretString>, ConfigError> {
    // A short key is guessable; internal callers should use a generated secret.
    const MIN_LEN: usize = 16;
    if keys
        .iter()
        .any(|k| k.len() < MIN_LEN || k.len() > MAX_API_KEY_LEN)
    {
        return Err(invalid(
            "callers.keys",
            format!("every caller key must be {MIN_LEN} to {MAX_API_KEY_LEN} characters"),
        ));
    }
    if let Some(position) = keys.iter().position(|k| !is_printable_ascii(k)) {
        return Err(invalid(
            "callers.keys",
            format!(
                "caller key #{} must be printable ASCII: it holds a control character (newline, tab, ...) or a non-ASCII one",
                position + 1
            ),
        ));
    }
    Ok(keys.into_iter().map(SecretString::from).collect())
}
