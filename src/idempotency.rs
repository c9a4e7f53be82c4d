//! Idempotency keys: a caller's own (a hyphenated UUID v4, any case) or one the broker makes.
//! A key lets its holder replay a live session, so it only ever prints as a short hash.

use std::fmt;

use axum::http::HeaderName;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Why a caller's `Idempotency-Key` header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Idempotency-Key must be a UUID v4 in its 36-character hyphenated form")]
pub struct InvalidIdempotencyKey;

/// The header carrying the key, from callers and to Payroc.
pub const HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// An upstream `Idempotency-Key`, held in its lower-case hyphenated form.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    text: String,
    caller_supplied: bool,
}

impl IdempotencyKey {
    /// A fresh key for a request that brought none.
    pub fn generate() -> Self {
        Self {
            text: Uuid::new_v4()
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .to_owned(),
            caller_supplied: false,
        }
    }

    /// Parses a caller's header: only the hyphenated form, only version 4 (RFC 4122 variant).
    pub fn from_caller(header: &[u8]) -> Result<Self, InvalidIdempotencyKey> {
        let text = std::str::from_utf8(header).map_err(|_| InvalidIdempotencyKey)?;
        // `Uuid::parse_str` also takes braced, URN and simple forms; the length pins hyphenated.
        if text.len() != 36 {
            return Err(InvalidIdempotencyKey);
        }
        let uuid = Uuid::try_parse(text).map_err(|_| InvalidIdempotencyKey)?;
        if uuid.get_version_num() != 4 || uuid.get_variant() != uuid::Variant::RFC4122 {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self {
            text: uuid.hyphenated().to_string(),
            caller_supplied: true,
        })
    }

    /// The header value sent upstream (lower case).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the caller chose this key (and may therefore replay an old session with it).
    pub fn is_caller_supplied(&self) -> bool {
        self.caller_supplied
    }

    /// First 12 hex digits of SHA-256: enough to correlate log lines, useless for replay.
    pub fn short_hash(&self) -> String {
        short_hash(self.text.as_bytes())
    }
}

/// A short, non-reversible fingerprint of a secret for log correlation.
pub fn short_hash(secret: &[u8]) -> String {
    use std::fmt::Write;
    Sha256::digest(secret)[..6]
        .iter()
        .fold(String::with_capacity(12), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey(#{})", self.short_hash())
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short_hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hyphenated_v4_in_any_case_and_lowercases_it() {
        let key = IdempotencyKey::from_caller(b"8E03978E-40D5-43E8-BC93-6894A57F9324").unwrap();
        assert_eq!(key.as_str(), "8e03978e-40d5-43e8-bc93-6894a57f9324");
        assert!(key.is_caller_supplied());
        assert!(!IdempotencyKey::generate().is_caller_supplied());
    }

    #[test]
    fn refuses_other_forms_versions_and_non_uuids() {
        for bad in [
            "{8e03978e-40d5-43e8-bc93-6894a57f9324}",
            "urn:uuid:8e03978e-40d5-43e8-bc93-6894a57f9324",
            "8e03978e40d543e8bc936894a57f9324",
            "8e03978e-40d5-13e8-bc93-6894a57f9324", // version 1
            "8e03978e-40d5-43e8-7c93-6894a57f9324", // NCS variant
            "not-a-uuid-at-all-not-a-uuid-at-all!",
            "",
        ] {
            assert_eq!(
                IdempotencyKey::from_caller(bad.as_bytes()),
                Err(InvalidIdempotencyKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_and_display_show_only_a_short_hash() {
        let key = IdempotencyKey::from_caller(b"8e03978e-40d5-43e8-bc93-6894a57f9324").unwrap();
        for shown in [format!("{key:?}"), format!("{key}")] {
            assert!(!shown.contains("8e03978e"), "{shown}");
            assert!(shown.contains(&key.short_hash()));
        }
        assert_eq!(key.short_hash().len(), 12);
    }
}
