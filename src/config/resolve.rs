//! The rules between what was layered and what the application runs with: every key is
//! checked here, and the defaults that depend on `payroc.environment` are applied.

use std::{path::PathBuf, time::Duration};

use axum::http::HeaderValue;
use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::{
    ApiKeySource, CallerSettings, ConfigError, ConnectionLimits, CorsSettings, LogSettings,
    PayrocSettings, RateLimitSettings, RawPayroc, RawRateLimit, RawServer, RawSettings, RawToken,
    ServerSettings, Settings, TokenSettings, api_key::MAX_API_KEY_LEN, invalid,
};

impl RawSettings {
    /// Validates every key and applies the environment-derived defaults.
    pub fn resolve(self, require_api_key: bool) -> Result<Settings, ConfigError> {
        let server = self.server.resolve()?;
        let payroc = self.payroc.resolve(require_api_key)?;
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
        Ok(Settings {
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
        })
    }
}

impl RawServer {
    fn resolve(self) -> Result<ServerSettings, ConfigError> {
        if self.body_limit_bytes == 0 {
            return Err(invalid("server.body_limit_bytes", "must be positive"));
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

impl RawPayroc {
    fn resolve(self, require_api_key: bool) -> Result<PayrocSettings, ConfigError> {
        let defaults = self.environment.defaults();
        let api_key = resolve_api_key(self.api_key, self.api_key_file, require_api_key)?;
        let identity_url = payroc_url(
            self.identity_url
                .as_deref()
                .unwrap_or(defaults.identity_url),
            "payroc.identity_url",
        )?;
        let api_url = payroc_url(
            self.api_url.as_deref().unwrap_or(defaults.api_url),
            "payroc.api_url",
        )?;
        let lib_version = self
            .lib_version
            .unwrap_or_else(|| defaults.lib_version.to_owned());
        if !is_lib_version(&lib_version) {
            return Err(invalid(
                "payroc.lib_version",
                "must look like 1.7.0.261457 (Payroc's libVersion pattern)",
            ));
        }
        let script_url = self
            .script_url
            .unwrap_or_else(|| format!("{}hosted-fields-{lib_version}.js", defaults.cdn));
        let script_url =
            Url::parse(&script_url).map_err(|e| invalid("payroc.script_url", e.to_string()))?;
        // Payroc's published hash is only right for the version it was published for.
        let script_integrity = self.script_integrity.or_else(|| {
            (lib_version == defaults.lib_version).then(|| defaults.integrity.to_owned())
        });
        let terminals = resolve_terminals(self.terminals)?;
        let positive = |value: u64, key: &'static str| {
            if value == 0 {
                Err(invalid(key, "must be positive"))
            } else {
                Ok(Duration::from_millis(value))
            }
        };
        let request_timeout = positive(self.request_timeout_ms, "payroc.request_timeout_ms")?;
        let deadline = positive(self.deadline_ms, "payroc.deadline_ms")?;
        if self.max_attempts == 0 {
            return Err(invalid("payroc.max_attempts", "must be at least 1"));
        }
        Ok(PayrocSettings {
            environment: self.environment,
            api_key,
            identity_url,
            api_url,
            lib_version,
            script_url,
            script_integrity,
            terminals,
            request_timeout,
            deadline,
            max_attempts: self.max_attempts,
            retry_base_delay: Duration::from_millis(self.retry_base_delay_ms),
            session_expiry_margin: Duration::from_millis(self.session_expiry_margin_ms),
            max_idle_connections: self.max_idle_connections,
            max_connections: positive_count(self.max_connections, "payroc.max_connections")?,
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
            .collect::<Result<_, _>>()?;
        Ok(RateLimitSettings {
            per_second: self.per_second,
            burst: positive_count(self.burst as usize, "rate_limit.burst")?
                .try_into()
                .unwrap_or(u32::MAX),
            trusted_proxies,
            max_tracked_clients: positive_count(
                self.max_tracked_clients,
                "rate_limit.max_tracked_clients",
            )?,
        })
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

fn resolve_api_key(
    inline: Option<SecretString>,
    file: Option<PathBuf>,
    required: bool,
) -> Result<ApiKeySource, ConfigError> {
    let (key, source) = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "payroc.api_key",
                "set either BROKER__PAYROC__API_KEY or BROKER__PAYROC__API_KEY_FILE, not both",
            ));
        }
        (Some(key), None) => ("payroc.api_key", ApiKeySource::Inline(key)),
        // Read once now so a missing file fails at start-up; it is read again on every
        // token fetch so a rotated Secret heals without a restart.
        (None, Some(path)) => ("payroc.api_key_file", ApiKeySource::File(path)),
        (None, None) if required => {
            return Err(invalid(
                "payroc.api_key",
                "is required: set BROKER__PAYROC__API_KEY or BROKER__PAYROC__API_KEY_FILE",
            ));
        }
        // Only `demo` resolves without requiring a key (it sets the fake's own first).
        (None, None) => return Ok(ApiKeySource::Inline(SecretString::from(String::new()))),
    };
    // `read` trims and refuses an empty key, for both sources, here and on every fetch.
    source.read().map_err(|e| invalid(key, e.to_string()))?;
    Ok(source)
}

/// Payroc URLs must be `https`, except loopback hosts (tests and `demo`).
fn payroc_url(raw: &str, key: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| invalid(key, format!("not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(invalid(
            key,
            "must be an https URL (plain http only for loopback addresses)",
        )),
    }
}

/// Terminal IDs go into a URL path, so only plain IDs are accepted (Payroc: 4–50 characters).
fn resolve_terminals(terminals: Vec<String>) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "payroc.terminals";
    if terminals.is_empty() {
        return Err(invalid(
            KEY,
            "is required: at least one processing terminal ID",
        ));
    }
    if let Some(bad) = terminals.iter().find(|t| !is_terminal_id(t)) {
        return Err(invalid(
            KEY,
            format!("{bad:?} is not a terminal ID (4-50 letters, digits, '-' or '_')"),
        ));
    }
    Ok(terminals)
}

/// A plain processing terminal ID as Payroc issues them.
pub fn is_terminal_id(id: &str) -> bool {
    (4..=50).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Payroc's `libVersion` pattern `^\d{1,2}.\d{1,2}.\d{1,2}(?:-beta)?.\d+$`, read with literal dots.
pub(super) fn is_lib_version(version: &str) -> bool {
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let parts: Vec<&str> = version.split('.').collect();
    match parts.as_slice() {
        [a, b, c, build] => {
            digits(a, 2)
                && digits(b, 2)
                && digits(c.strip_suffix("-beta").unwrap_or(c), 2)
                && digits(build, usize::MAX)
        }
        _ => false,
    }
}

/// Each origin must be exactly `scheme://host[:port]` as a browser sends it in `Origin`.
fn resolve_origins(origins: &[String]) -> Result<Vec<HeaderValue>, ConfigError> {
    origins
        .iter()
        .map(|text| {
            let serialized = Url::parse(text)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.origin().ascii_serialization());
            match serialized {
                Some(origin) if origin == text.trim_end_matches('/') => {
                    Ok(HeaderValue::from_str(&origin).expect("an ASCII origin is a header value"))
                }
                _ => Err(invalid("cors.allowed_origins", format!("{text:?} is not an origin like https://shop.example.com (scheme, host, optional port; no path; lower case)"),
                )),
            }
        })
        .collect()
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
    Ok(keys.into_iter().map(SecretString::from).collect())
}
