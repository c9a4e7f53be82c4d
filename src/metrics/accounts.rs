//! The per-account series: token state and refreshes, sessions, and the tenants file's
//! reloads. The `account` label is always a configured account name, never request input.

use std::time::Duration;

use metrics::{Counter, Key, Label};

use super::{
    ACCOUNTS, APPLE_PAY_SESSIONS, Metrics, SESSIONS, TENANTS_RELOADS, TOKEN_EXPIRES_IN,
    TOKEN_KEY_REJECTED, TOKEN_REFRESHES, TOKEN_USABLE,
};

/// How one token fetch ended.
#[derive(Clone, Copy, Debug)]
pub enum RefreshOutcome {
    Success,
    Transient,
    Rejected,
    /// The API key could not be read; identity was not called.
    KeyUnavailable,
}

impl RefreshOutcome {
    /// Its `outcome` label (and its refresh span's outcome).
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Transient => "transient_failure",
            Self::Rejected => "rejected",
            Self::KeyUnavailable => "key_unavailable",
        }
    }
}

/// An account's token as the gauges show it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenGauges {
    pub expires_in: Option<Duration>,
    pub usable: bool,
    pub key_rejected: bool,
}

fn account_key(name: &'static str, account: &str, more: Vec<Label>) -> Key {
    let mut labels = vec![Label::new("account", account.to_owned())];
    labels.extend(more);
    Key::from_parts(name, labels)
}

/// Sessions answered for `account` with `status` (`""`: before an account was chosen).
fn session_key(account: &str, status: u16) -> Key {
    answered_key(SESSIONS, account, status)
}

/// `name` (sessions, Apple Pay sessions) by account, outcome and status.
fn answered_key(name: &'static str, account: &str, status: u16) -> Key {
    let outcome = match status {
        200..=299 => "created",
        400..=499 => "refused",
        _ => "failed",
    };
    account_key(
        name,
        account,
        vec![
            Label::from_static_parts("outcome", outcome),
            Label::new("status", status.to_string()),
        ],
    )
}

impl Metrics {
    pub fn token_refresh(&self, account: &str, outcome: RefreshOutcome) {
        let labels = vec![Label::from_static_parts("outcome", outcome.label())];
        self.counter(&account_key(TOKEN_REFRESHES, account, labels))
            .increment(1);
    }

    /// Set for every account just before each scrape, so the values are exact when read.
    pub fn set_account_token(&self, account: &str, gauges: TokenGauges) {
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        self.gauge(&account_key(TOKEN_EXPIRES_IN, account, Vec::new()))
            .set(gauges.expires_in.map_or(0.0, |d| d.as_secs_f64()));
        self.gauge(&account_key(TOKEN_USABLE, account, Vec::new()))
            .set(flag(gauges.usable));
        self.gauge(&account_key(TOKEN_KEY_REJECTED, account, Vec::new()))
            .set(flag(gauges.key_rejected));
    }

    pub fn set_accounts(&self, count: usize) {
        #[allow(clippy::cast_precision_loss)]
        self.gauge(&Key::from_static_name(ACCOUNTS))
            .set(count as f64);
    }

    /// The account's "created" series, registered once per account (the hot path).
    pub fn sessions_created(&self, account: &str) -> Counter {
        self.counter(&session_key(account, 201))
    }

    /// One answered session request that was not a 201 of a known account.
    pub fn session(&self, account: &str, status: u16) {
        self.counter(&session_key(account, status)).increment(1);
    }

    /// One answered Apple Pay merchant session request (`account` `""`: before one was chosen).
    pub fn apple_pay_session(&self, account: &str, status: u16) {
        self.counter(&answered_key(APPLE_PAY_SESSIONS, account, status))
            .increment(1);
    }

    pub fn tenants_reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "rejected" };
        self.counter(&Key::from_parts(
            TENANTS_RELOADS,
            vec![Label::from_static_parts("outcome", outcome)],
        ))
        .increment(1);
    }
}
