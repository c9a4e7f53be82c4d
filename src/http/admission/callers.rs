//! Who is calling: an anonymous browser, an internal service holding one of
//! `BROKER__CALLERS__KEYS`, or a named `[[service]]` of the tenants file. Keys are compared
//! as SHA-256 digests in constant time, so neither their content nor their length leaks
//! through timing.

use axum::http::{HeaderMap, header::AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{accounts::Snapshot, http::error::ApiError};

/// The caller of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A browser: may create payment and tokenization sessions.
    Anonymous,
    /// A service that proved it holds a caller key: may also send `secureTokenId`.
    Internal,
    /// A named service (its index in the request's snapshot): an internal caller for its
    /// own account's terminals only.
    Service(usize),
}

impl Caller {
    /// Internal callers (operators' keys and named services) may send `secureTokenId` and
    /// are exempt from the per-IP rate limit.
    pub fn is_internal(self) -> bool {
        !matches!(self, Self::Anonymous)
    }
}

/// The configured caller keys, kept only as digests.
#[derive(Clone, Default)]
pub struct CallerKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for CallerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallerKeys({} configured)", self.digests.len())
    }
}

impl CallerKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        Self {
            digests: keys
                .iter()
                .map(|k| Sha256::digest(k.expose_secret().as_bytes()).into())
                .collect(),
        }
    }

    /// No header is anonymous; a header that is not `Bearer <configured key>` (an operator's
    /// or a service's in `snapshot`) is a 401, never a silent downgrade to anonymous.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        snapshot: &Snapshot,
    ) -> Result<Caller, ApiError> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(Caller::Anonymous);
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|key| !key.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Check every key without stopping early.
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(&digest)
            });
        if bool::from(matched) {
            Ok(Caller::Internal)
        } else {
            snapshot
                .service_for(&digest)
                .map(Caller::Service)
                .ok_or(ApiError::Unauthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn keys() -> CallerKeys {
        CallerKeys::new(&[SecretString::from("internal-key-0123456789".to_owned())])
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn no_header_is_anonymous() {
        assert_eq!(
            keys()
                .authenticate(&HeaderMap::new(), &Snapshot::default())
                .unwrap(),
            Caller::Anonymous
        );
    }

    #[test]
    fn configured_key_is_internal_in_any_scheme_case() {
        assert_eq!(
            keys()
                .authenticate(
                    &with_auth("Bearer internal-key-0123456789"),
                    &Snapshot::default()
                )
                .unwrap(),
            Caller::Internal
        );
        assert_eq!(
            keys()
                .authenticate(
                    &with_auth("bearer internal-key-0123456789"),
                    &Snapshot::default()
                )
                .unwrap(),
            Caller::Internal
        );
    }

    #[test]
    fn wrong_or_malformed_keys_are_refused_not_downgraded() {
        for bad in [
            "Bearer nope",
            "Basic aW50ZXJuYWw=",
            "Bearer",
            "Bearer ",
            "internal-key-0123456789",
        ] {
            assert!(
                matches!(
                    keys().authenticate(&with_auth(bad), &Snapshot::default()),
                    Err(ApiError::Unauthenticated)
                ),
                "{bad}"
            );
        }
        assert!(
            CallerKeys::default()
                .authenticate(&with_auth("Bearer anything"), &Snapshot::default())
                .is_err()
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        assert_eq!(format!("{:?}", keys()), "CallerKeys(1 configured)");
    }
}
