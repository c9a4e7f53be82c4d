//! Who the broker holds credentials for: accounts (an API key and its terminals, the browser
//! origins that may mint for them) and named services (a key, the account whose token their
//! Payroc calls use, and the API rules they may call). The Part 1 keys define the account
//! `default`; the tenants file ([`file`]) adds more. [`load`] gives one validated
//! [`TenantsSpec`] or one line naming the file, the entry and the key.

mod file;
pub mod rules;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use axum::http::HeaderValue;
use secrecy::SecretString;

use self::rules::Rule;
use crate::config::{ApiKeySource, Settings};

/// The account Part 1's keys define.
pub const DEFAULT_ACCOUNT: &str = "default";

/// One merchant account.
#[derive(Clone, Debug)]
pub struct AccountSpec {
    pub name: String,
    pub api_key: ApiKeySource,
    /// Unique across accounts; the first is the account's default.
    pub terminals: Vec<String>,
    /// Browser origins that may mint for these terminals; empty: any (Part 1).
    pub origins: Vec<HeaderValue>,
    /// Origin → Payroc `appleDomainId`.
    pub apple_pay_domains: Vec<(HeaderValue, String)>,
}

/// One named internal service.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    pub name: String,
    pub key: SecretString,
    /// The file the key was read from, watched for changes.
    pub key_file: Option<PathBuf>,
    pub account: String,
    pub rules: Vec<Rule>,
}

/// Everything one load produced.
#[derive(Clone, Debug, Default)]
pub struct TenantsSpec {
    pub accounts: Vec<AccountSpec>,
    pub services: Vec<ServiceSpec>,
}

/// Why the accounts could not be loaded: one line naming the file, the entry and the key.
#[derive(Debug, thiserror::Error)]
#[error("tenants file {}: {entry}{reason}", file.display())]
pub struct TenantsError {
    pub file: PathBuf,
    /// `account "acme": terminals: ` and the like; empty for the whole file.
    entry: String,
    reason: String,
}

impl TenantsError {
    fn new(file: &Path, entry: String, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            entry,
            reason: reason.into(),
        }
    }
}

/// The `default` account from Part 1's keys, if they are set.
pub fn default_account(settings: &Settings) -> Option<AccountSpec> {
    let api_key = settings.payroc.api_key.clone()?;
    Some(AccountSpec {
        name: DEFAULT_ACCOUNT.to_owned(),
        api_key,
        terminals: settings.payroc.terminals.clone(),
        origins: Vec::new(),
        apple_pay_domains: settings.apple_pay.domains.clone(),
    })
}

/// The accounts and services `settings` describe: `default` (if set) and the tenants file
/// (if named), validated together. At least one account must exist.
pub fn load(settings: &Settings) -> Result<TenantsSpec, TenantsError> {
    let default = default_account(settings);
    match &settings.tenants.file {
        Some(path) => file::load(path, default, &settings.callers.keys),
        None => Ok(TenantsSpec {
            // Without a tenants file the configuration requires the default account.
            accounts: default.into_iter().collect(),
            services: Vec::new(),
        }),
    }
}

/// One comment line for `check-config`: the accounts and services, by name only.
pub fn summary(spec: &TenantsSpec) -> String {
    let names = |names: Vec<&str>| names.join(", ");
    format!(
        "# accounts ({}): {}; services ({}): {}",
        spec.accounts.len(),
        names(spec.accounts.iter().map(|a| a.name.as_str()).collect()),
        spec.services.len(),
        names(spec.services.iter().map(|s| s.name.as_str()).collect()),
    )
}
