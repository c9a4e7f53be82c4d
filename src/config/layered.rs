//! The configuration exactly as layered, before validation: what an operator writes in a
//! TOML file or a `BROKER__…` variable, with the built-in default of each key.

use std::{net::SocketAddr, path::PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use super::PayrocEnvironment;

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// The configuration exactly as layered, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    pub server: RawServer,
    pub payroc: RawPayroc,
    pub callers: RawCallers,
    pub cors: RawCors,
    pub rate_limit: RawRateLimit,
    pub token: RawToken,
    pub log: RawLog,
    pub demo: RawDemo,
    pub tenants: RawTenants,
    pub proxy: RawProxy,
    pub apple_pay: RawApplePay,
}

/// Apple Pay on the web for the `default` account: which page origins may start merchant
/// sessions, and the Payroc `appleDomainId` of each (`ORIGIN=ID`, comma-separated).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawApplePay {
    #[serde(deserialize_with = "comma_list")]
    pub domains: Vec<String>,
}

/// The Payroc API pass-through for named services (`/payroc/v1/...`): its own limits, its own
/// deadlines (a payment may take Payroc 20 s), and its own upstream connections, so backend
/// traffic can never take the browsers' session slots.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawProxy {
    pub body_limit_bytes: usize,
    pub response_limit_bytes: usize,
    /// Unset: 22 s, or the deadline if that is shorter.
    pub request_timeout_ms: Option<u64>,
    /// Unset: 25 s, or `server.shutdown_grace_ms` if that is shorter (a Part 1 configuration
    /// with a short grace keeps starting).
    pub deadline_ms: Option<u64>,
    pub max_attempts: u32,
    pub max_connections: usize,
}

impl Default for RawProxy {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            response_limit_bytes: 16 * 1024 * 1024,
            request_timeout_ms: None,
            deadline_ms: None,
            max_attempts: 3,
            max_connections: 128,
        }
    }
}

/// Where the tenants file is (accounts and services beyond Part 1's `default`), and how often
/// its content is compared with what was last applied.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTenants {
    pub file: Option<PathBuf>,
    pub watch_interval_ms: u64,
}

impl Default for RawTenants {
    fn default() -> Self {
        Self {
            file: None,
            watch_interval_ms: 2_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub shutdown_grace_ms: u64,
    pub pre_drain_delay_ms: u64,
    pub max_in_flight: usize,
    pub metrics_listen: Option<SocketAddr>,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_header_bytes: usize,
    pub max_connections: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            body_limit_bytes: 8 * 1024,
            shutdown_grace_ms: 30_000,
            pre_drain_delay_ms: 0,
            max_in_flight: 4096,
            metrics_listen: None,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            body_timeout_ms: 10_000,
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPayroc {
    pub environment: PayrocEnvironment,
    pub api_key: Option<SecretString>,
    pub api_key_file: Option<PathBuf>,
    pub identity_url: Option<String>,
    pub api_url: Option<String>,
    pub lib_version: Option<String>,
    pub script_url: Option<String>,
    pub script_integrity: Option<String>,
    #[serde(deserialize_with = "comma_list")]
    pub terminals: Vec<String>,
    pub request_timeout_ms: u64,
    pub deadline_ms: u64,
    pub max_attempts: u32,
    pub retry_base_delay_ms: u64,
    pub session_expiry_margin_ms: u64,
    pub max_idle_connections: usize,
    pub max_connections: usize,
}

impl Default for RawPayroc {
    fn default() -> Self {
        Self {
            environment: PayrocEnvironment::Test,
            api_key: None,
            api_key_file: None,
            identity_url: None,
            api_url: None,
            lib_version: None,
            script_url: None,
            script_integrity: None,
            terminals: Vec::new(),
            request_timeout_ms: 4_000,
            deadline_ms: 9_000,
            max_attempts: 3,
            retry_base_delay_ms: 100,
            session_expiry_margin_ms: 30_000,
            max_idle_connections: 64,
            max_connections: 256,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCallers {
    #[serde(deserialize_with = "comma_list")]
    pub keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCors {
    #[serde(deserialize_with = "comma_list")]
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRateLimit {
    pub per_second: u32,
    pub burst: u32,
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<String>,
    pub allow_any_proxy: bool,
    pub max_tracked_clients: usize,
    pub redis_url: Option<String>,
    pub redis_failure: RedisFailure,
    pub redis_timeout_ms: u64,
}

/// What the limit does while Redis cannot answer in time.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedisFailure {
    /// Each replica falls back to its own in-memory limiter.
    #[default]
    Local,
    /// No limit until Redis answers again.
    Open,
    /// Every limited request is refused (429) until Redis answers again.
    Closed,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            per_second: 0,
            burst: 20,
            trusted_proxies: Vec::new(),
            allow_any_proxy: false,
            max_tracked_clients: 100_000,
            redis_url: None,
            redis_failure: RedisFailure::Local,
            redis_timeout_ms: 50,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawToken {
    pub refresh_ratio: f64,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub rejected_retry_ms: u64,
}

impl Default for RawToken {
    fn default() -> Self {
        Self {
            refresh_ratio: 0.75,
            backoff_base_ms: 500,
            backoff_cap_ms: 30_000,
            rejected_retry_ms: 60_000,
        }
    }
}

/// Only read by `demo`: lifetimes of the fake Payroc's tokens and sessions.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDemo {
    pub session_lifetime_secs: u64,
    pub token_lifetime_secs: u64,
}

impl Default for RawDemo {
    fn default() -> Self {
        Self {
            session_lifetime_secs: 120,
            token_lifetime_secs: 3600,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub format: LogFormat,
}

/// Accepts a list, a comma-separated string, or a bare number (the `config` crate turns
/// `TERMINALS=1234001` into an integer), so a single terminal is a list of one.
pub(super) fn comma_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<OneOrMany>),
        Text(String),
        Int(i64),
        Unsigned(u64),
    }
    fn flatten(value: OneOrMany, out: &mut Vec<String>) {
        match value {
            OneOrMany::Many(items) => items.into_iter().for_each(|item| flatten(item, out)),
            OneOrMany::Text(text) => out.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            OneOrMany::Int(n) => out.push(n.to_string()),
            OneOrMany::Unsigned(n) => out.push(n.to_string()),
        }
    }
    let mut out = Vec::new();
    flatten(OneOrMany::deserialize(deserializer)?, &mut out);
    Ok(out)
}
