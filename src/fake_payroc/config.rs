//! The fake's public start-up settings ([`FakePayrocConfig`], [`FakeAccount`]) and the record
//! of a session request ([`RecordedSessionRequest`]). Every `Debug` here is hand-written so an
//! API key or a Bearer token never reaches a log line.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::time::Duration;

use serde_json::Value;

/// Start-up settings. `api_key` and `terminals` are the first account; `other_accounts` the
/// rest. A terminal belongs to one account only.
#[derive(Clone)]
pub struct FakePayrocConfig {
    /// The first account's `x-api-key`, the one `set_api_key` rotates.
    pub api_key: String,
    /// `expires_in` of issued Bearer tokens (whole seconds on the wire, at least 1). The fake
    /// itself honours the exact duration, so sub-second lifetimes make short expiry tests.
    pub token_lifetime: Duration,
    /// Lifetime of session tokens (Payroc: 10 minutes).
    pub session_lifetime: Duration,
    /// The first account's processing terminals.
    pub terminals: Vec<String>,
    /// Further API keys, each with its own terminals (default: none).
    pub other_accounts: Vec<FakeAccount>,
    /// The first account's Apple Pay merchant domains, by Payroc `appleDomainId`.
    pub apple_domain_ids: Vec<String>,
}

/// One more API key the identity endpoint accepts, and the processing terminals its tokens
/// may create sessions for.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FakeAccount {
    pub api_key: String,
    pub terminals: Vec<String>,
    /// Its Apple Pay merchant domains, by Payroc `appleDomainId` (default: none).
    pub apple_domain_ids: Vec<String>,
}

/// The first account's Apple Pay domain by default: the example of Payroc's spec.
pub const DEFAULT_APPLE_DOMAIN_ID: &str = "DUHDZJHGYY";

impl Default for FakePayrocConfig {
    fn default() -> Self {
        Self {
            api_key: "demo-api-key".to_owned(),
            token_lifetime: Duration::from_secs(3600),
            session_lifetime: Duration::from_secs(600),
            terminals: vec!["1234001".to_owned(), "1234002".to_owned()],
            other_accounts: Vec::new(),
            apple_domain_ids: vec![DEFAULT_APPLE_DOMAIN_ID.to_owned()],
        }
    }
}

impl fmt::Debug for FakePayrocConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakePayrocConfig")
            .field("api_key", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("session_lifetime", &self.session_lifetime)
            .field("terminals", &self.terminals)
            .field("other_accounts", &self.other_accounts)
            .field("apple_domain_ids", &self.apple_domain_ids)
            .finish()
    }
}

impl fmt::Debug for FakeAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeAccount")
            .field("api_key", &"<redacted>")
            .field("terminals", &self.terminals)
            .field("apple_domain_ids", &self.apple_domain_ids)
            .finish()
    }
}

impl FakePayrocConfig {
    /// Every account's key and terminals; the index is the account's identity inside the fake
    /// (0 is the first account, whatever `set_api_key` makes its key).
    pub(super) fn accounts(&self) -> impl Iterator<Item = (&str, &[String])> {
        let first = (self.api_key.as_str(), self.terminals.as_slice());
        let others = self
            .other_accounts
            .iter()
            .map(|account| (account.api_key.as_str(), account.terminals.as_slice()));
        std::iter::once(first).chain(others)
    }

    /// The Apple Pay domains of account `account` (an index as in [`Self::accounts`]).
    pub(super) fn apple_domain_ids(&self, account: usize) -> &[String] {
        match account {
            0 => &self.apple_domain_ids,
            n => self
                .other_accounts
                .get(n - 1)
                .map_or(&[], |a| a.apple_domain_ids.as_slice()),
        }
    }

    /// Refuses two accounts sharing a key (identity would be ambiguous) or a terminal (its
    /// owner would be). The error names the terminal, never a key.
    pub(super) fn validate(&self) -> io::Result<()> {
        let mut owners: HashMap<&str, usize> = HashMap::new();
        for (account, (key, terminals)) in self.accounts().enumerate() {
            if self
                .accounts()
                .take(account)
                .any(|(earlier, _)| earlier == key)
            {
                return Err(invalid(
                    "two fake Payroc accounts share an API key".to_owned(),
                ));
            }
            for terminal in terminals {
                let owner = *owners.entry(terminal).or_insert(account);
                if owner != account {
                    let message = format!("terminal {terminal:?} belongs to two API keys");
                    return Err(invalid(message));
                }
            }
        }
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// One request the session endpoint received (after it was read), for assertions.
#[derive(Clone)]
pub struct RecordedSessionRequest {
    /// Path segment as received (percent-decoded).
    pub terminal: String,
    /// Raw `Authorization` header.
    pub authorization: Option<String>,
    /// The API key the Bearer token was issued for; `None` if the fake never issued that
    /// token (or it was revoked).
    pub api_key: Option<String>,
    /// Raw `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// Raw `Content-Type` header.
    pub content_type: Option<String>,
    /// Raw `Accept` header.
    pub accept: Option<String>,
    /// Raw `traceparent` header (W3C Trace Context).
    pub traceparent: Option<String>,
    /// The body, if it parsed as JSON.
    pub body: Option<Value>,
    /// Status the fake answered (or would have, for a dropped connection).
    pub status: u16,
}

impl fmt::Debug for RecordedSessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("RecordedSessionRequest")
            .field("terminal", &self.terminal)
            .field("authorization", &redacted(&self.authorization))
            .field("api_key", &redacted(&self.api_key))
            .field("idempotency_key", &self.idempotency_key)
            .field("content_type", &self.content_type)
            .field("accept", &self.accept)
            .field("traceparent", &self.traceparent)
            .field("body", &self.body)
            .field("status", &self.status)
            .finish()
    }
}
