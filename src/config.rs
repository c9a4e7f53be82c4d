//! Typed, layered configuration: built-in defaults → `config/default.toml` (if present) →
//! `--config FILE` → `BROKER__…` environment. [`load`] deserialises the raw layers and
//! [`RawSettings::resolve`] validates them into [`Settings`], filling in the defaults that
//! depend on `payroc.environment` (URLs, `libVersion`, SRI). Every failure names its key.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use axum::http::HeaderValue;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::payroc::ApiKeySource;

/// The API key read from a file is trimmed; a key longer than this is surely the wrong file.
const MAX_API_KEY_LEN: usize = 4096;

/// A configuration problem, rendered as one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration error: {key} ({env}): {reason}")]
    Invalid {
        key: &'static str,
        env: &'static str,
        reason: String,
    },
}

fn invalid(key: &'static str, env: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        env,
        reason: reason.into(),
    }
}

/// Which Payroc environment the broker talks to; picks the default URLs, version and SRI.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PayrocEnvironment {
    /// Payroc's UAT environment.
    #[default]
    Test,
    Production,
}

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
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            body_limit_bytes: 8 * 1024,
            shutdown_grace_ms: 10_000,
            pre_drain_delay_ms: 0,
            max_in_flight: 4096,
            metrics_listen: None,
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
    pub max_tracked_clients: usize,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        Self {
            per_second: 0,
            burst: 20,
            trusted_proxies: Vec::new(),
            max_tracked_clients: 100_000,
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
fn comma_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
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

/// Validated configuration the application is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub payroc: PayrocSettings,
    pub callers: Vec<SecretString>,
    /// Exact browser origins (`scheme://host[:port]`) allowed to call the session endpoint.
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub rate_limit: RateLimitSettings,
    pub token: TokenSettings,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish once shutdown begins.
    pub shutdown_grace: Duration,
    /// How long the broker keeps serving (unready) after SIGTERM before it stops accepting.
    pub pre_drain_delay: Duration,
    /// Session requests handled at once; more are shed with 503.
    pub max_in_flight: usize,
    /// Serve `/metrics` on this separate (admin) listener instead of the public one.
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct PayrocSettings {
    pub environment: PayrocEnvironment,
    pub api_key: ApiKeySource,
    pub identity_url: Url,
    pub api_url: Url,
    pub lib_version: String,
    pub script_url: Url,
    pub script_integrity: Option<String>,
    /// Allow-list of processing terminals; the first is the default.
    pub terminals: Vec<String>,
    pub request_timeout: Duration,
    pub deadline: Duration,
    pub max_attempts: u32,
    pub retry_base_delay: Duration,
    pub session_expiry_margin: Duration,
    pub max_idle_connections: usize,
    /// Most concurrent requests (hence HTTP/1.1 connections) to Payroc.
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub per_second: u32,
    pub burst: u32,
    /// Peers whose `X-Forwarded-For` is believed (the load balancer, the ingress).
    pub trusted_proxies: Vec<IpNet>,
    /// Most client IPs tracked at once; past it, new IPs share one overflow bucket.
    pub max_tracked_clients: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct TokenSettings {
    pub refresh_ratio: f64,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub rejected_retry: Duration,
}

/// Payroc's published defaults for one environment (see `shared/payroc/FACTS.md`).
struct EnvironmentDefaults {
    identity_url: &'static str,
    api_url: &'static str,
    lib_version: &'static str,
    cdn: &'static str,
    integrity: &'static str,
}

const TEST_DEFAULTS: EnvironmentDefaults = EnvironmentDefaults {
    identity_url: "https://identity.uat.payroc.com/authorize",
    api_url: "https://api.uat.payroc.com/v1",
    lib_version: "1.7.0.261457",
    cdn: "https://cdn.uat.payroc.com/js/hosted-fields/",
    integrity: "sha384-m1A0nfFYa8sAfpDN0d60o4ztd/aCPC2xDVaOT31Urrmn4xypfHqgHQMayZeIK1PM",
};

const PRODUCTION_DEFAULTS: EnvironmentDefaults = EnvironmentDefaults {
    identity_url: "https://identity.payroc.com/authorize",
    api_url: "https://api.payroc.com/v1",
    lib_version: "1.7.0.261471",
    cdn: "https://cdn.payroc.com/js/hosted-fields/",
    integrity: "sha384-4KD8EaeEaCR2jLV6vnBwfEAEy/o2bR0GkODVpr8iePLTK5eOOmjoPuDVKJ0wM1oP",
};

impl PayrocEnvironment {
    fn defaults(self) -> &'static EnvironmentDefaults {
        match self {
            Self::Test => &TEST_DEFAULTS,
            Self::Production => &PRODUCTION_DEFAULTS,
        }
    }

    /// The Hosted Fields version Payroc publishes for this environment.
    pub fn default_lib_version(self) -> &'static str {
        self.defaults().lib_version
    }
}

/// Reads the layers. `extra_file` is the `--config FILE` option; `demo` listens on loopback
/// unless a layer says otherwise.
pub fn load(extra_file: Option<&std::path::Path>, demo: bool) -> Result<RawSettings, ConfigError> {
    let mut builder = config::Config::builder();
    if demo {
        builder = builder.set_default("server.listen", "127.0.0.1:8080")?;
    }
    builder = builder.add_source(
        config::File::new("config/default.toml", config::FileFormat::Toml).required(false),
    );
    if let Some(path) = extra_file {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    let layered = builder
        .add_source(
            config::Environment::with_prefix("BROKER")
                .prefix_separator("__")
                .separator("__"),
        )
        .build()?;
    Ok(layered.try_deserialize()?)
}

impl RawSettings {
    /// Validates every key and applies the environment-derived defaults.
    pub fn resolve(self, require_api_key: bool) -> Result<Settings, ConfigError> {
        let server = self.server.resolve()?;
        let payroc = self.payroc.resolve(require_api_key)?;
        if payroc.deadline > server.shutdown_grace {
            return Err(invalid(
                "payroc.deadline_ms",
                "BROKER__PAYROC__DEADLINE_MS",
                format!(
                    "{} ms is longer than server.shutdown_grace_ms ({} ms): a request could be cut off mid-flight at shutdown",
                    payroc.deadline.as_millis(),
                    server.shutdown_grace.as_millis()
                ),
            ));
        }
        let callers = resolve_callers(self.callers.keys)?;
        Ok(Settings {
            server,
            payroc,
            callers,
            cors_allowed_origins: resolve_origins(&self.cors.allowed_origins)?,
            rate_limit: self.rate_limit.resolve()?,
            token: self.token.resolve()?,
            log_format: self.log.format,
        })
    }
}

impl RawServer {
    fn resolve(self) -> Result<ServerSettings, ConfigError> {
        if self.body_limit_bytes == 0 {
            return Err(invalid(
                "server.body_limit_bytes",
                "BROKER__SERVER__BODY_LIMIT_BYTES",
                "must be positive",
            ));
        }
        Ok(ServerSettings {
            listen: self.listen,
            body_limit_bytes: self.body_limit_bytes,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            pre_drain_delay: Duration::from_millis(self.pre_drain_delay_ms),
            max_in_flight: positive_count(
                self.max_in_flight,
                "server.max_in_flight",
                "BROKER__SERVER__MAX_IN_FLIGHT",
            )?,
            metrics_listen: self.metrics_listen,
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
            "BROKER__PAYROC__IDENTITY_URL",
        )?;
        let api_url = payroc_url(
            self.api_url.as_deref().unwrap_or(defaults.api_url),
            "payroc.api_url",
            "BROKER__PAYROC__API_URL",
        )?;
        let lib_version = self
            .lib_version
            .unwrap_or_else(|| defaults.lib_version.to_owned());
        if !is_lib_version(&lib_version) {
            return Err(invalid(
                "payroc.lib_version",
                "BROKER__PAYROC__LIB_VERSION",
                "must look like 1.7.0.261457 (Payroc's libVersion pattern)",
            ));
        }
        let script_url = self
            .script_url
            .unwrap_or_else(|| format!("{}hosted-fields-{lib_version}.js", defaults.cdn));
        let script_url = Url::parse(&script_url).map_err(|e| {
            invalid(
                "payroc.script_url",
                "BROKER__PAYROC__SCRIPT_URL",
                e.to_string(),
            )
        })?;
        // Payroc's published hash is only right for the version it was published for.
        let script_integrity = self.script_integrity.or_else(|| {
            (lib_version == defaults.lib_version).then(|| defaults.integrity.to_owned())
        });
        let terminals = resolve_terminals(self.terminals)?;
        let positive = |value: u64, key: &'static str, env: &'static str| {
            if value == 0 {
                Err(invalid(key, env, "must be positive"))
            } else {
                Ok(Duration::from_millis(value))
            }
        };
        let request_timeout = positive(
            self.request_timeout_ms,
            "payroc.request_timeout_ms",
            "BROKER__PAYROC__REQUEST_TIMEOUT_MS",
        )?;
        let deadline = positive(
            self.deadline_ms,
            "payroc.deadline_ms",
            "BROKER__PAYROC__DEADLINE_MS",
        )?;
        if self.max_attempts == 0 {
            return Err(invalid(
                "payroc.max_attempts",
                "BROKER__PAYROC__MAX_ATTEMPTS",
                "must be at least 1",
            ));
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
            max_connections: positive_count(
                self.max_connections,
                "payroc.max_connections",
                "BROKER__PAYROC__MAX_CONNECTIONS",
            )?,
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
                            "BROKER__RATE_LIMIT__TRUSTED_PROXIES",
                            format!("{text:?} is not an IP address or CIDR network"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(RateLimitSettings {
            per_second: self.per_second,
            burst: positive_count(
                self.burst as usize,
                "rate_limit.burst",
                "BROKER__RATE_LIMIT__BURST",
            )?
            .try_into()
            .unwrap_or(u32::MAX),
            trusted_proxies,
            max_tracked_clients: positive_count(
                self.max_tracked_clients,
                "rate_limit.max_tracked_clients",
                "BROKER__RATE_LIMIT__MAX_TRACKED_CLIENTS",
            )?,
        })
    }
}

fn positive_count(
    value: usize,
    key: &'static str,
    env: &'static str,
) -> Result<usize, ConfigError> {
    if value == 0 {
        Err(invalid(key, env, "must be at least 1"))
    } else {
        Ok(value)
    }
}

impl RawToken {
    fn resolve(self) -> Result<TokenSettings, ConfigError> {
        if !(0.1..=0.95).contains(&self.refresh_ratio) {
            return Err(invalid(
                "token.refresh_ratio",
                "BROKER__TOKEN__REFRESH_RATIO",
                "must be between 0.1 and 0.95",
            ));
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return Err(invalid(
                "token.backoff_cap_ms",
                "BROKER__TOKEN__BACKOFF_CAP_MS",
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
    const KEY: &str = "payroc.api_key";
    const ENV: &str = "BROKER__PAYROC__API_KEY";
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            KEY,
            ENV,
            "set either BROKER__PAYROC__API_KEY or BROKER__PAYROC__API_KEY_FILE, not both",
        )),
        (Some(key), None) => {
            use secrecy::ExposeSecret;
            let trimmed = key.expose_secret().trim();
            if trimmed.is_empty() {
                return Err(invalid(KEY, ENV, "is empty"));
            }
            Ok(ApiKeySource::Inline(SecretString::from(trimmed.to_owned())))
        }
        (None, Some(path)) => {
            // Read once now so a missing file fails at start-up; it is read again on every
            // token fetch so a rotated Secret heals without a restart.
            let source = ApiKeySource::File(path);
            source.read().map_err(|e| {
                invalid(
                    "payroc.api_key_file",
                    "BROKER__PAYROC__API_KEY_FILE",
                    e.to_string(),
                )
            })?;
            Ok(source)
        }
        (None, None) if required => Err(invalid(
            KEY,
            ENV,
            "is required: set BROKER__PAYROC__API_KEY or BROKER__PAYROC__API_KEY_FILE",
        )),
        (None, None) => Ok(ApiKeySource::Inline(SecretString::from(String::new()))),
    }
}

/// Payroc URLs must be `https`, except loopback hosts (tests and `demo`).
fn payroc_url(raw: &str, key: &'static str, env: &'static str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| invalid(key, env, format!("not a URL: {e}")))?;
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
            env,
            "must be an https URL (plain http only for loopback addresses)",
        )),
    }
}

/// Terminal IDs go into a URL path, so only plain IDs are accepted (Payroc: 4–50 characters).
fn resolve_terminals(terminals: Vec<String>) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "payroc.terminals";
    const ENV: &str = "BROKER__PAYROC__TERMINALS";
    if terminals.is_empty() {
        return Err(invalid(
            KEY,
            ENV,
            "is required: at least one processing terminal ID",
        ));
    }
    if let Some(bad) = terminals.iter().find(|t| !is_terminal_id(t)) {
        return Err(invalid(
            KEY,
            ENV,
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
fn is_lib_version(version: &str) -> bool {
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
                _ => Err(invalid(
                    "cors.allowed_origins",
                    "BROKER__CORS__ALLOWED_ORIGINS",
                    format!("{text:?} is not an origin like https://shop.example.com (scheme, host, optional port; no path; lower case)"),
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
            "BROKER__CALLERS__KEYS",
            format!("every caller key must be {MIN_LEN} to {MAX_API_KEY_LEN} characters"),
        ));
    }
    Ok(keys.into_iter().map(SecretString::from).collect())
}

impl Settings {
    /// The effective configuration as TOML, secrets replaced by a marker.
    pub fn redacted(&self) -> String {
        const REDACTED: &str = "[redacted]";
        let p = &self.payroc;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let api_key = match &p.api_key {
            ApiKeySource::Inline(_) => serde_json::json!({"api_key": REDACTED}),
            ApiKeySource::File(path) => serde_json::json!({"api_key_file": path}),
        };
        let mut payroc = serde_json::json!({
            "environment": p.environment,
            "identity_url": p.identity_url,
            "api_url": p.api_url,
            "lib_version": p.lib_version,
            "script_url": p.script_url,
            "terminals": p.terminals,
            "request_timeout_ms": millis(p.request_timeout),
            "deadline_ms": millis(p.deadline),
            "max_attempts": p.max_attempts,
            "retry_base_delay_ms": millis(p.retry_base_delay),
            "session_expiry_margin_ms": millis(p.session_expiry_margin),
            "max_idle_connections": p.max_idle_connections,
            "max_connections": p.max_connections,
        });
        payroc["script_integrity"] = p
            .script_integrity
            .clone()
            .map_or(serde_json::Value::from("(none)"), Into::into);
        payroc
            .as_object_mut()
            .expect("object")
            .extend(api_key.as_object().expect("object").clone());
        let document = serde_json::json!({
            "server": {
                "listen": self.server.listen.to_string(),
                "body_limit_bytes": self.server.body_limit_bytes,
                "shutdown_grace_ms": millis(self.server.shutdown_grace),
                "pre_drain_delay_ms": millis(self.server.pre_drain_delay),
                "max_in_flight": self.server.max_in_flight,
                "metrics_listen": self.server.metrics_listen.map_or_else(|| "(public listener)".to_owned(), |a| a.to_string()),
            },
            "payroc": payroc,
            "callers": { "keys": vec![REDACTED; self.callers.len()] },
            "cors": { "allowed_origins": self.cors_allowed_origins.iter().filter_map(|o| o.to_str().ok()).collect::<Vec<_>>() },
            "rate_limit": {
                "per_second": self.rate_limit.per_second,
                "burst": self.rate_limit.burst,
                "trusted_proxies": self.rate_limit.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "max_tracked_clients": self.rate_limit.max_tracked_clients,
            },
            "token": {
                "refresh_ratio": self.token.refresh_ratio,
                "backoff_base_ms": millis(self.token.backoff_base),
                "backoff_cap_ms": millis(self.token.backoff_cap),
                "rejected_retry_ms": millis(self.token.rejected_retry),
            },
            "log": { "format": self.log_format },
        });
        toml::to_string(&document).unwrap_or_else(|e| format!("# could not render: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_with_terminals(terminals: &[&str]) -> RawSettings {
        let mut raw = RawSettings::default();
        raw.payroc.terminals = terminals.iter().map(|t| (*t).to_owned()).collect();
        raw.payroc.api_key = Some(SecretString::from("k".to_owned()));
        raw
    }

    #[test]
    fn test_environment_defaults_to_uat_urls_version_and_sri() {
        let settings = raw_with_terminals(&["1234001"]).resolve(true).unwrap();
        let p = settings.payroc;
        assert_eq!(
            p.identity_url.as_str(),
            "https://identity.uat.payroc.com/authorize"
        );
        assert_eq!(p.api_url.as_str(), "https://api.uat.payroc.com/v1");
        assert_eq!(p.lib_version, "1.7.0.261457");
        assert_eq!(
            p.script_url.as_str(),
            "https://cdn.uat.payroc.com/js/hosted-fields/hosted-fields-1.7.0.261457.js"
        );
        assert_eq!(p.script_integrity.as_deref(), Some(TEST_DEFAULTS.integrity));
    }

    #[test]
    fn production_environment_switches_every_derived_default() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.environment = PayrocEnvironment::Production;
        let p = raw.resolve(true).unwrap().payroc;
        assert_eq!(
            p.identity_url.as_str(),
            "https://identity.payroc.com/authorize"
        );
        assert_eq!(p.api_url.as_str(), "https://api.payroc.com/v1");
        assert_eq!(p.lib_version, "1.7.0.261471");
        assert!(p.script_url.as_str().starts_with("https://cdn.payroc.com/"));
        assert_eq!(
            p.script_integrity.as_deref(),
            Some(PRODUCTION_DEFAULTS.integrity)
        );
    }

    #[test]
    fn unknown_lib_version_has_no_integrity_unless_configured() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.lib_version = Some("1.8.0.300000".into());
        assert_eq!(raw.resolve(true).unwrap().payroc.script_integrity, None);
    }

    #[test]
    fn single_numeric_terminal_is_a_list_of_one() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "comma_list")]
            t: Vec<String>,
        }
        let from_number: T = serde_json::from_str(r#"{"t": 1234001}"#).unwrap();
        assert_eq!(from_number.t, ["1234001"]);
        let from_text: T = serde_json::from_str(r#"{"t": "1234001, 1234002"}"#).unwrap();
        assert_eq!(from_text.t, ["1234001", "1234002"]);
        let from_list: T = serde_json::from_str(r#"{"t": ["1234001", 1234002]}"#).unwrap();
        assert_eq!(from_list.t, ["1234001", "1234002"]);
    }

    #[test]
    fn both_key_sources_are_a_configuration_error() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_key_file = Some("/dev/null".into());
        let err = raw.resolve(true).unwrap_err().to_string();
        assert!(err.contains("payroc.api_key"), "{err}");
    }

    #[test]
    fn missing_api_key_is_an_error_only_when_required() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_key = None;
        assert!(
            raw.resolve(true)
                .unwrap_err()
                .to_string()
                .contains("BROKER__PAYROC__API_KEY")
        );
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_key = None;
        assert!(raw.resolve(false).is_ok());
    }

    #[test]
    fn plain_http_is_refused_except_for_loopback() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_url = Some("http://api.example.com/v1".into());
        let err = raw.resolve(true).unwrap_err().to_string();
        assert!(err.contains("payroc.api_url"), "{err}");
        for ok in [
            "http://127.0.0.1:9/v1",
            "http://[::1]:9/v1",
            "http://localhost:9/v1",
        ] {
            let mut raw = raw_with_terminals(&["1234001"]);
            raw.payroc.api_url = Some(ok.into());
            assert!(raw.resolve(true).is_ok(), "{ok}");
        }
    }

    #[test]
    fn terminals_must_be_plain_ids() {
        for bad in ["12", "../1234001", "1234001/x", "a b c d"] {
            let err = raw_with_terminals(&[bad])
                .resolve(true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("payroc.terminals"), "{bad}: {err}");
        }
        let err = raw_with_terminals(&[])
            .resolve(true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("BROKER__PAYROC__TERMINALS"), "{err}");
    }

    #[test]
    fn deadline_longer_than_shutdown_grace_is_refused() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.deadline_ms = 20_000;
        let err = raw.resolve(true).unwrap_err().to_string();
        assert!(err.contains("payroc.deadline_ms"), "{err}");
    }

    #[test]
    fn redacted_output_hides_every_secret() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_key = Some(SecretString::from("sk_live_api_key_value".to_owned()));
        raw.callers.keys = vec!["internal-caller-key-value".into()];
        let shown = raw.resolve(true).unwrap().redacted();
        assert!(!shown.contains("sk_live_api_key_value"), "{shown}");
        assert!(!shown.contains("internal-caller-key-value"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("1234001"),
            "{shown}"
        );
        assert!(
            !format!(
                "{:?}",
                raw_with_terminals(&["1234001"]).resolve(true).unwrap()
            )
            .contains("\"k\"")
        );
    }

    #[test]
    fn cors_origins_must_be_exact_origins() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.cors.allowed_origins = vec![
            "https://shop.example.com".into(),
            "http://localhost:3000/".into(),
        ];
        let origins = raw.resolve(true).unwrap().cors_allowed_origins;
        assert_eq!(
            origins,
            ["https://shop.example.com", "http://localhost:3000"]
        );
        for bad in [
            "shop.example.com",
            "https://shop.example.com/checkout",
            "*",
            "https://Shop.example.com",
        ] {
            let mut raw = raw_with_terminals(&["1234001"]);
            raw.cors.allowed_origins = vec![bad.into()];
            let err = raw.resolve(true).unwrap_err().to_string();
            assert!(
                err.contains("BROKER__CORS__ALLOWED_ORIGINS"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn trusted_proxies_accept_networks_and_addresses() {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.rate_limit.trusted_proxies =
            vec!["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()];
        assert_eq!(
            raw.resolve(true).unwrap().rate_limit.trusted_proxies.len(),
            3
        );
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.rate_limit.trusted_proxies = vec!["10.0.0.0/33".into()];
        assert!(
            raw.resolve(true)
                .unwrap_err()
                .to_string()
                .contains("trusted_proxies")
        );
    }

    #[test]
    fn lib_version_follows_payrocs_pattern() {
        for ok in ["1.7.0.261457", "10.1.2-beta.5", "1.1.0.123456"] {
            assert!(is_lib_version(ok), "{ok}");
        }
        for bad in ["1.7.0", "abc", "100.1.1.1", "1.7.0.x", ""] {
            assert!(!is_lib_version(bad), "{bad}");
        }
    }
}
