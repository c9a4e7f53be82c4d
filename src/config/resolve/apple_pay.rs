//! The `apple_pay` section: the `default` account's Apple Pay merchant domains.

use axum::http::HeaderValue;

use super::resolve_origin;
use crate::config::{ApplePaySettings, ConfigError, RawApplePay, invalid};

/// A Payroc `appleDomainId` as the Self-Care Portal shows it (`DUHDZJHGYY`): 1 to 64 letters,
/// digits, `-` or `_`.
pub fn is_apple_domain_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl RawApplePay {
    /// `ORIGIN=APPLE_DOMAIN_ID` pairs; each origin once.
    pub(in crate::config) fn resolve(self) -> Result<ApplePaySettings, ConfigError> {
        let mut domains: Vec<(HeaderValue, String)> = Vec::new();
        for pair in &self.domains {
            let refuse = |reason: String| invalid("apple_pay.domains", reason);
            let (origin, id) = pair.rsplit_once('=').ok_or_else(|| {
                refuse(format!(
                    "{pair:?} is not ORIGIN=APPLE_DOMAIN_ID (https://shop.example.com=DUHDZJHGYY)"
                ))
            })?;
            let origin = resolve_origin(origin.trim()).map_err(refuse)?;
            let id = id.trim();
            if !is_apple_domain_id(id) {
                return Err(refuse(format!(
                    "{id:?} is not an appleDomainId (like DUHDZJHGYY)"
                )));
            }
            if domains.iter().any(|(known, _)| *known == origin) {
                return Err(refuse(format!(
                    "{:?} is listed twice",
                    origin.to_str().unwrap_or_default()
                )));
            }
            domains.push((origin, id.to_owned()));
        }
        Ok(ApplePaySettings { domains })
    }
}
