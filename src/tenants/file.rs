//! The tenants file: TOML `[[account]]` and `[[service]]` tables, read and validated as one
//! unit together with the `default` account. Secret files it names are read here (an
//! unreadable one makes the file invalid); API key files are read again at each token fetch.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
};

use axum::http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{AccountSpec, DEFAULT_ACCOUNT, ServiceSpec, TenantsError, TenantsSpec, rules::Rule};
use crate::config::{
    ApiKeySource, MAX_API_KEY_LEN, is_apple_domain_id, is_printable_ascii, is_terminal_id,
    resolve_origin,
};

/// Service keys are generated secrets; a short one is guessable.
const MIN_SERVICE_KEY_LEN: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    account: Vec<RawAccount>,
    #[serde(default)]
    service: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    api_key: Option<SecretString>,
    api_key_file: Option<PathBuf>,
    #[serde(default)]
    terminals: Vec<String>,
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    apple_pay_domains: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    key: Option<SecretString>,
    key_file: Option<PathBuf>,
    account: Option<String>,
    #[serde(default)]
    payroc_api: Vec<String>,
}

/// Reads `path` and validates it with `default` (Part 1's account) and the operator caller
/// keys (a service key may not be one of them).
pub(super) fn load(
    path: &Path,
    default: Option<AccountSpec>,
    caller_keys: &[SecretString],
) -> Result<TenantsSpec, TenantsError> {
    let whole = |reason: String| TenantsError::new(path, String::new(), reason);
    let text = std::fs::read_to_string(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    // Not toml's own rendering: it quotes the offending line, which may hold a key.
    let raw: RawFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        whole(match line {
            Some(line) => format!("line {line}: {}", e.message()),
            None => e.message().to_owned(),
        })
    })?;
    let mut accounts: Vec<AccountSpec> = default.into_iter().collect();
    for (index, raw) in raw.account.into_iter().enumerate() {
        let entry = format!("account #{} {:?}: ", index + 1, raw.name);
        let fail = |reason: String| TenantsError::new(path, entry.clone(), reason);
        let account = account(raw).map_err(fail)?;
        check_against(&accounts, &account).map_err(fail)?;
        accounts.push(account);
    }
    if accounts.is_empty() {
        return Err(whole(
            "no account: add an [[account]] (or set BROKER__PAYROC__API_KEY[_FILE] and BROKER__PAYROC__TERMINALS for the default account)".into(),
        ));
    }
    let mut services: Vec<ServiceSpec> = Vec::new();
    for (index, raw) in raw.service.into_iter().enumerate() {
        let entry = format!("service #{} {:?}: ", index + 1, raw.name);
        let fail = |reason: String| TenantsError::new(path, entry.clone(), reason);
        let service = service(raw, &accounts).map_err(fail)?;
        if services.iter().any(|s| s.name == service.name) {
            return Err(fail("name: another service has this name".into()));
        }
        let key = service.key.expose_secret();
        if services.iter().any(|s| s.key.expose_secret() == key)
            || caller_keys.iter().any(|k| k.expose_secret() == key)
        {
            return Err(fail(
                "key: another service or a BROKER__CALLERS__KEYS key is the same secret".into(),
            ));
        }
        services.push(service);
    }
    Ok(TenantsSpec { accounts, services })
}

/// An account name, or a service name: 1-64 of `a-z 0-9 - _`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("name: must be 1-64 of a-z, 0-9, - and _".into())
    }
}

fn account(raw: RawAccount) -> Result<AccountSpec, String> {
    check_name(&raw.name)?;
    let api_key = match (raw.api_key, raw.api_key_file) {
        (Some(key), None) => ApiKeySource::Inline(key),
        (None, Some(file)) => ApiKeySource::File(file),
        _ => return Err("api_key / api_key_file: set exactly one of the two".into()),
    };
    let key_name = if api_key.file().is_some() {
        "api_key_file"
    } else {
        "api_key"
    };
    api_key.read().map_err(|e| format!("{key_name}: {e}"))?;
    if raw.terminals.is_empty() {
        return Err("terminals: at least one processing terminal ID is required".into());
    }
    let mut seen = HashSet::new();
    for terminal in &raw.terminals {
        if !is_terminal_id(terminal) {
            return Err(format!(
                "terminals: {terminal:?} is not a terminal ID (4-50 letters, digits, '-' or '_')"
            ));
        }
        if !seen.insert(terminal) {
            return Err(format!("terminals: {terminal:?} is listed more than once"));
        }
    }
    let origins = raw
        .origins
        .iter()
        .map(|o| resolve_origin(o).map_err(|e| format!("origins: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let apple_pay_domains = raw
        .apple_pay_domains
        .into_iter()
        .map(|(origin, id)| {
            let origin = resolve_origin(&origin).map_err(|e| format!("apple_pay_domains: {e}"))?;
            if is_apple_domain_id(&id) {
                Ok((origin, id))
            } else {
                Err(format!(
                    "apple_pay_domains: {id:?} is not an appleDomainId (like DUHDZJHGYY)"
                ))
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    // A bound account's pages are its origins: an Apple Pay page elsewhere could never mint.
    if let Some((origin, _)) = apple_pay_domains
        .iter()
        .find(|(o, _)| !origins.is_empty() && !origins.contains(o))
    {
        return Err(format!(
            "apple_pay_domains: {:?} is not one of this account's origins",
            origin.to_str().unwrap_or_default()
        ));
    }
    Ok(AccountSpec {
        name: raw.name,
        api_key,
        terminals: raw.terminals,
        origins,
        apple_pay_domains,
    })
}

/// What may not be shared between accounts: the name, a terminal, an origin.
fn check_against(accounts: &[AccountSpec], new: &AccountSpec) -> Result<(), String> {
    let owner_of: HashMap<&str, &str> = accounts
        .iter()
        .flat_map(|a| {
            a.terminals
                .iter()
                .map(move |t| (t.as_str(), a.name.as_str()))
        })
        .collect();
    if accounts.iter().any(|a| a.name == new.name) {
        return Err("name: another account has this name".into());
    }
    if let Some((terminal, owner)) = new
        .terminals
        .iter()
        .find_map(|t| owner_of.get(t.as_str()).map(|owner| (t, owner)))
    {
        return Err(format!(
            "terminals: {terminal:?} is already a terminal of account {owner:?}"
        ));
    }
    let claimed = |a: &AccountSpec, o: &HeaderValue| {
        a.origins.contains(o) || a.apple_pay_domains.iter().any(|(d, _)| d == o)
    };
    let new_origins = new.origins.iter().map(|o| ("origins", o)).chain(
        new.apple_pay_domains
            .iter()
            .map(|(o, _)| ("apple_pay_domains", o)),
    );
    for (key, origin) in new_origins {
        if let Some(owner) = accounts.iter().find(|a| claimed(a, origin)) {
            return Err(format!(
                "{key}: {:?} is already an origin of account {:?} (an origin picks one account's terminals)",
                origin.to_str().unwrap_or_default(),
                owner.name
            ));
        }
    }
    Ok(())
}

fn service(raw: RawService, accounts: &[AccountSpec]) -> Result<ServiceSpec, String> {
    check_name(&raw.name)?;
    let (key, key_file) = match (raw.key, raw.key_file) {
        (Some(key), None) => (key, None),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("key_file: {} cannot be read ({e})", file.display()))?;
            (SecretString::from(text.trim().to_owned()), Some(file))
        }
        _ => return Err("key / key_file: set exactly one of the two".into()),
    };
    let text = key.expose_secret();
    if !(MIN_SERVICE_KEY_LEN..=MAX_API_KEY_LEN).contains(&text.len()) || !is_printable_ascii(text) {
        return Err(format!(
            "key: must be {MIN_SERVICE_KEY_LEN} to {MAX_API_KEY_LEN} printable ASCII characters"
        ));
    }
    let account = match raw.account {
        Some(name) if accounts.iter().any(|a| a.name == name) => name,
        Some(name) => return Err(format!("account: there is no account {name:?}")),
        None => match accounts {
            [only] => only.name.clone(),
            _ if accounts.iter().any(|a| a.name == DEFAULT_ACCOUNT) => DEFAULT_ACCOUNT.to_owned(),
            _ => return Err("account: required when there are several accounts".into()),
        },
    };
    let rules = raw
        .payroc_api
        .iter()
        .map(|r| Rule::parse(r).map_err(|e| format!("payroc_api: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceSpec {
        name: raw.name,
        key,
        key_file,
        account,
        rules,
    })
}
