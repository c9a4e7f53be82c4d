//! The `payroc` section: the API key, Payroc's URLs, `libVersion`, the script and the
//! terminals, with the defaults that depend on `payroc.environment`.

use std::{collections::HashSet, path::PathBuf, time::Duration};

use secrecy::SecretString;
use url::Url;

use super::positive_count;
use crate::config::{ApiKeySource, ConfigError, PayrocSettings, RawPayroc, invalid};

impl RawPayroc {
    pub(super) fn resolve(self, require_api_key: bool) -> Result<PayrocSettings, ConfigError> {
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
        let terminals = resolve_terminals(self.terminals, require_api_key || api_key.is_some())?;
        if api_key.is_none() && !terminals.is_empty() {
            return Err(invalid(
                "payroc.api_key",
                "is required with payroc.terminals (the default account needs both): set BROKER__PAYROC__API_KEY or BROKER__PAYROC__API_KEY_FILE, or move the terminals into the tenants file",
            ));
        }
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

fn resolve_api_key(
    inline: Option<SecretString>,
    file: Option<PathBuf>,
    required: bool,
) -> Result<Option<ApiKeySource>, ConfigError> {
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
        // No `default` account: the tenants file defines them all.
        (None, None) => return Ok(None),
    };
    // `read` trims and checks the key (not empty, printable ASCII), for both sources, here
    // and on every fetch. Its error never shows the key.
    source.read().map_err(|e| invalid(key, e.to_string()))?;
    Ok(Some(source))
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
fn resolve_terminals(terminals: Vec<String>, required: bool) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "payroc.terminals";
    if terminals.is_empty() && required {
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
    let mut seen = HashSet::new();
    if let Some(twice) = terminals.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(invalid(KEY, format!("{twice:?} is listed more than once")));
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
pub(in crate::config) fn is_lib_version(version: &str) -> bool {
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
