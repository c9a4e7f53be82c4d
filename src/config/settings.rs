//! Validated configuration the application is built from, and its redacted view: the types
//! serialise back to the layered keys (durations in milliseconds, secrets as a marker), so
//! `check-config` prints every setting without a hand-kept list. URLs show without the
//! credentials they may carry ([`super::redact`]).

use std::{net::SocketAddr, time::Duration};

use axum::http::HeaderValue;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::{Serialize, Serializer};
use url::Url;

use super::{ApiKeySource, LogFormat, PayrocEnvironment, RedisFailure, redact};

/// Validated configuration the application is built from.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub payroc: PayrocSettings,
    pub callers: CallerSettings,
    pub cors: CorsSettings,
    pub rate_limit: RateLimitSettings,
    pub token: TokenSettings,
    pub log: LogSettings,
    pub tenants: TenantsSettings,
    pub proxy: ProxySettings,
    pub apple_pay: ApplePaySettings,
}

/// The `default` account's Apple Pay merchant domains.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplePaySettings {
    /// Page origin → Payroc `appleDomainId`.
    #[serde(serialize_with = "origin_pairs")]
    pub domains: Vec<(HeaderValue, String)>,
}

/// The Payroc API pass-through for named services.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProxySettings {
    /// Largest request body forwarded; more is a 413.
    pub body_limit_bytes: usize,
    /// Largest Payroc answer passed back; more is a 502.
    pub response_limit_bytes: usize,
    /// One upstream attempt.
    #[serde(rename = "request_timeout_ms", serialize_with = "millis")]
    pub request_timeout: Duration,
    /// The whole call, every attempt and the wait for a token included.
    #[serde(rename = "deadline_ms", serialize_with = "millis")]
    pub deadline: Duration,
    pub max_attempts: u32,
    /// Concurrent pass-through requests (connections) to Payroc, apart from the sessions'.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantsSettings {
    /// The tenants file (more accounts, and named services), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// How often the file's content is compared with what was last applied.
    #[serde(rename = "watch_interval_ms", serialize_with = "millis")]
    pub watch_interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish once shutdown begins.
    #[serde(rename = "shutdown_grace_ms", serialize_with = "millis")]
    pub shutdown_grace: Duration,
    /// How long the broker keeps serving (unready) after SIGTERM before it stops accepting.
    #[serde(rename = "pre_drain_delay_ms", serialize_with = "millis")]
    pub pre_drain_delay: Duration,
    /// Session requests handled at once; more are shed with 503.
    pub max_in_flight: usize,
    /// Serve `/metrics` on this separate (admin) listener instead of the public one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// A client must finish sending a request body within this.
    #[serde(rename = "body_timeout_ms", serialize_with = "millis")]
    pub body_timeout: Duration,
    #[serde(flatten)]
    pub connections: ConnectionLimits,
}

/// What one client connection may hold: time, header bytes, and a share of the open
/// connections.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ConnectionLimits {
    /// A request's headers must have arrived this long after its first byte.
    #[serde(rename = "header_read_timeout_ms", serialize_with = "millis")]
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request is closed after this.
    #[serde(rename = "idle_timeout_ms", serialize_with = "millis")]
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers); larger is hyper's bare 431.
    pub max_header_bytes: usize,
    /// Connections open at once; past it the longest-idle connection is closed.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PayrocSettings {
    pub environment: PayrocEnvironment,
    /// The `default` account's key; absent when only the tenants file defines accounts.
    #[serde(flatten)]
    pub api_key: Option<ApiKeySource>,
    #[serde(serialize_with = "redact::url")]
    pub identity_url: Url,
    #[serde(serialize_with = "redact::url")]
    pub api_url: Url,
    pub lib_version: String,
    #[serde(serialize_with = "redact::url")]
    pub script_url: Url,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_integrity: Option<String>,
    /// The `default` account's processing terminals (the first is its default); empty when
    /// only the tenants file defines accounts.
    pub terminals: Vec<String>,
    #[serde(rename = "request_timeout_ms", serialize_with = "millis")]
    pub request_timeout: Duration,
    #[serde(rename = "deadline_ms", serialize_with = "millis")]
    pub deadline: Duration,
    pub max_attempts: u32,
    #[serde(rename = "retry_base_delay_ms", serialize_with = "millis")]
    pub retry_base_delay: Duration,
    #[serde(rename = "session_expiry_margin_ms", serialize_with = "millis")]
    pub session_expiry_margin: Duration,
    pub max_idle_connections: usize,
    /// Most concurrent requests (hence HTTP/1.1 connections) to Payroc.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallerSettings {
    /// Secrets of internal callers.
    #[serde(serialize_with = "redact::list")]
    pub keys: Vec<SecretString>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorsSettings {
    /// Exact browser origins (`scheme://host[:port]`) allowed to call the session endpoint.
    #[serde(serialize_with = "header_texts")]
    pub allowed_origins: Vec<HeaderValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateLimitSettings {
    pub per_second: u32,
    pub burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (the load balancer, the ingress).
    pub trusted_proxies: Vec<IpNet>,
    /// `trusted_proxies` may hold a network of every address (`0.0.0.0/0`, `::/0`).
    pub allow_any_proxy: bool,
    /// Most client IPs tracked at once; past it, a new IP is admitted untracked until
    /// entries back to a full bucket make room.
    pub max_tracked_clients: usize,
    /// One limit for the whole fleet, kept in this Redis.
    #[serde(
        serialize_with = "redact::optional_url",
        skip_serializing_if = "Option::is_none"
    )]
    pub redis_url: Option<Url>,
    pub redis_failure: RedisFailure,
    /// Longest a decision may wait for Redis.
    #[serde(rename = "redis_timeout_ms", serialize_with = "millis")]
    pub redis_timeout: Duration,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TokenSettings {
    pub refresh_ratio: f64,
    #[serde(rename = "backoff_base_ms", serialize_with = "millis")]
    pub backoff_base: Duration,
    #[serde(rename = "backoff_cap_ms", serialize_with = "millis")]
    pub backoff_cap: Duration,
    #[serde(rename = "rejected_retry_ms", serialize_with = "millis")]
    pub rejected_retry: Duration,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Settings {
    /// The effective configuration as TOML, secrets replaced by a marker.
    pub fn redacted(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# could not render: {e}"))
    }
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

fn origin_pairs<S: Serializer>(
    pairs: &[(HeaderValue, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(
        pairs
            .iter()
            .map(|(origin, id)| format!("{}={id}", origin.to_str().unwrap_or_default())),
    )
}

fn header_texts<S: Serializer>(values: &[HeaderValue], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(values.iter().filter_map(|v| v.to_str().ok()))
}
