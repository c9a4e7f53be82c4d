//! Typed, layered configuration: built-in defaults → `config/default.toml` (if present) →
//! `--config FILE` → `BROKER__…` environment. [`load`] deserialises the layers into
//! [`RawSettings`]; [`RawSettings::resolve`] validates them into [`Settings`], filling in the
//! defaults that depend on `payroc.environment` (URLs, `libVersion`, SRI). Every failure names
//! its key and the key's environment variable.
//!
//! Layout: `layered` holds what the operator writes (with its defaults), `settings` the
//! validated types and their redacted view (`redact` the markers), `resolve` the rules between
//! them, `environment` Payroc's published per-environment values, `api_key` where the API key
//! comes from.

mod api_key;
mod environment;
mod layered;
mod redact;
mod resolve;
mod settings;
#[cfg(test)]
mod tests;

pub use api_key::{ApiKeyError, ApiKeySource};
pub(crate) use api_key::{MAX_API_KEY_LEN, is_printable_ascii};
pub use environment::PayrocEnvironment;
pub use layered::{
    LogFormat, RawApplePay, RawCallers, RawCors, RawDemo, RawLog, RawPayroc, RawProxy,
    RawRateLimit, RawServer, RawSettings, RawTenants, RawToken, RedisFailure,
};
pub use resolve::{is_apple_domain_id, is_terminal_id, resolve_origin};
pub use settings::{
    ApplePaySettings, CallerSettings, ConnectionLimits, CorsSettings, LogSettings, PayrocSettings,
    ProxySettings, RateLimitSettings, ServerSettings, Settings, TenantsSettings, TokenSettings,
};

/// Environment variables that override a key: `BROKER__` + the key's path, upper case.
const ENV_PREFIX: &str = "BROKER";
const ENV_SEPARATOR: &str = "__";

/// A configuration problem, rendered as one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration error: {key} ({env}): {reason}", env = env_var(key))]
    Invalid { key: &'static str, reason: String },
}

/// The environment variable that sets `key` (`payroc.deadline_ms` →
/// `BROKER__PAYROC__DEADLINE_MS`): the one place these names are made.
pub fn env_var(key: &str) -> String {
    let path = key.replace('.', ENV_SEPARATOR).to_ascii_uppercase();
    format!("{ENV_PREFIX}{ENV_SEPARATOR}{path}")
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
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
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR),
        )
        .build()?;
    Ok(layered.try_deserialize()?)
}
