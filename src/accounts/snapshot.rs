//! One applied set of accounts and services, immutable: the lookups a request needs
//! (terminal → account, origin → account, service key → service) and the pure policy of
//! which terminal a request gets and whether its caller may mint for it ([`Snapshot::route`]).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use axum::http::HeaderValue;
use metrics::Counter;
use subtle::ConstantTimeEq;
use url::Url;

use super::identity::AccountToken;
use crate::{
    metrics::RuleSeries,
    payroc::{apple_pay_url, session_url},
    tenants::rules::Rule,
};

/// One allowed processing terminal and its precomputed Payroc URLs.
#[derive(Debug)]
pub struct Terminal {
    pub id: String,
    /// Its Hosted Fields sessions URL.
    pub url: Url,
    /// Its Apple Pay sessions URL.
    pub apple_pay_url: Url,
}

/// One account as a request sees it.
#[derive(Debug)]
pub struct Account {
    pub name: Arc<str>,
    /// The first is the account's default.
    pub terminals: Vec<Terminal>,
    /// Browser origins that may mint for these terminals; empty: any.
    pub origins: Vec<HeaderValue>,
    pub apple_pay_domains: Vec<(HeaderValue, String)>,
    pub token: Arc<AccountToken>,
    /// This account's `created` sessions series, registered once.
    pub sessions_created: Counter,
}

/// One named service, known by its key's digest.
#[derive(Debug)]
pub struct Service {
    pub name: Arc<str>,
    pub digest: [u8; 32],
    /// Index of its account in [`Snapshot::accounts`].
    pub account: usize,
    /// Its `payroc_api` rules, each with its metrics series.
    pub rules: Vec<(Rule, RuleSeries)>,
}

/// Who asks for a session, as far as routing cares.
#[derive(Clone, Copy, Debug)]
pub enum Requester<'a> {
    /// A browser, with the request's `Origin` if it sent one.
    Browser(Option<&'a HeaderValue>),
    /// A `BROKER__CALLERS__KEYS` holder: any terminal.
    Operator,
    /// A named service: its own account's terminals only.
    Service(usize),
}

/// Why a request gets no terminal.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No terminal was named and none is the default for this request.
    #[error("processingTerminalId is required: no account is the default for this origin")]
    NoDefault,
    #[error("{0}")]
    Forbidden(&'static str),
}

/// One applied set of accounts and services.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub accounts: Vec<Arc<Account>>,
    pub services: Vec<Service>,
    /// Terminal ID → (account, terminal) indexes.
    terminals: HashMap<String, (usize, usize)>,
    /// Origin → the account that lists it.
    origins: HashMap<HeaderValue, usize>,
    /// Apple Pay page origin → the account that lists it in `apple_pay_domains`.
    apple_pay_origins: HashMap<HeaderValue, usize>,
    default: Option<usize>,
    /// Every origin a browser may call from (CORS).
    cors: HashSet<HeaderValue>,
}

impl Snapshot {
    /// `cors` is the Part 1 list (`BROKER__CORS__ALLOWED_ORIGINS`); the accounts' origins join it.
    pub fn new(accounts: Vec<Arc<Account>>, services: Vec<Service>, cors: &[HeaderValue]) -> Self {
        let mut snapshot = Self {
            cors: cors.iter().cloned().collect(),
            ..Self::default()
        };
        for (index, account) in accounts.iter().enumerate() {
            if &*account.name == crate::tenants::DEFAULT_ACCOUNT {
                snapshot.default = Some(index);
            }
            for (t, terminal) in account.terminals.iter().enumerate() {
                snapshot.terminals.insert(terminal.id.clone(), (index, t));
            }
            for origin in &account.origins {
                snapshot.origins.insert(origin.clone(), index);
                snapshot.cors.insert(origin.clone());
            }
            for (origin, _) in &account.apple_pay_domains {
                snapshot.apple_pay_origins.insert(origin.clone(), index);
                snapshot.cors.insert(origin.clone());
            }
        }
        snapshot.accounts = accounts;
        snapshot.services = services;
        snapshot
    }

    /// Whether a browser at `origin` may call at all (CORS).
    pub fn allows_origin(&self, origin: &HeaderValue) -> bool {
        self.cors.contains(origin)
    }

    pub fn has_cors_origins(&self) -> bool {
        !self.cors.is_empty()
    }

    /// The service whose key has this SHA-256 `digest`, compared in constant time against
    /// every service.
    pub fn service_for(&self, digest: &[u8; 32]) -> Option<usize> {
        let mut found = None;
        for (index, service) in self.services.iter().enumerate() {
            if bool::from(service.digest.ct_eq(digest)) {
                found = Some(index);
            }
        }
        found
    }

    /// The account and terminal a session request gets. Unnamed: a service's own account's
    /// first terminal, else the first terminal of the account listing the browser's
    /// `Origin`, else `default`'s. Named: it must exist, a service only its own account's,
    /// and a browser only with one of the account's origins when the account lists any.
    pub fn route(
        &self,
        requested: Option<&str>,
        who: Requester<'_>,
    ) -> Result<(&Arc<Account>, &Terminal), RouteError> {
        const NOT_ALLOWED: &str = "processingTerminalId is not a terminal this broker may use.";
        let Some(id) = requested else {
            let account = match who {
                Requester::Service(service) => Some(self.services[service].account),
                Requester::Browser(Some(origin)) => {
                    self.origins.get(origin).copied().or(self.default)
                }
                Requester::Browser(None) | Requester::Operator => self.default,
            }
            .ok_or(RouteError::NoDefault)?;
            let account = &self.accounts[account];
            return Ok((account, &account.terminals[0]));
        };
        let &(index, terminal) = self
            .terminals
            .get(id)
            .ok_or(RouteError::Forbidden(NOT_ALLOWED))?;
        let account = &self.accounts[index];
        match who {
            Requester::Operator => {}
            Requester::Service(service) if self.services[service].account == index => {}
            Requester::Service(_) => {
                return Err(RouteError::Forbidden(
                    "processingTerminalId belongs to another account than this service's.",
                ));
            }
            Requester::Browser(origin) => {
                let allowed = account.origins.is_empty()
                    || origin.is_some_and(|o| account.origins.contains(o));
                if !allowed {
                    return Err(RouteError::Forbidden(
                        "This origin may not create sessions for processingTerminalId.",
                    ));
                }
            }
        }
        Ok((account, &account.terminals[terminal]))
    }
}

impl Snapshot {
    /// The account, terminal and `appleDomainId` an Apple Pay merchant session is started
    /// for. Unnamed: the first terminal of the account listing the page's `Origin` in
    /// `apple_pay_domains`, else as for sessions. Either way the `Origin` must be one of the
    /// terminal's account's Apple Pay domains.
    pub fn route_apple_pay(
        &self,
        requested: Option<&str>,
        origin: Option<&HeaderValue>,
    ) -> Result<(&Arc<Account>, &Terminal, &str), RouteError> {
        let listed = origin.and_then(|o| self.apple_pay_origins.get(o));
        let (account, terminal) = match (requested, listed) {
            (None, Some(&index)) => {
                let account = &self.accounts[index];
                (account, &account.terminals[0])
            }
            _ => self.route(requested, Requester::Browser(origin))?,
        };
        let domain = origin
            .and_then(|o| {
                account
                    .apple_pay_domains
                    .iter()
                    .find(|(known, _)| known == o)
            })
            .ok_or(RouteError::Forbidden(
                "This page's Origin is not an Apple Pay domain of processingTerminalId's account.",
            ))?;
        Ok((account, terminal, &domain.1))
    }
}

impl Account {
    pub fn new(
        name: Arc<str>,
        terminals: &[String],
        api_url: &Url,
        origins: Vec<HeaderValue>,
        apple_pay_domains: Vec<(HeaderValue, String)>,
        token: Arc<AccountToken>,
        sessions_created: Counter,
    ) -> Self {
        Self {
            name,
            terminals: terminals
                .iter()
                .map(|id| Terminal {
                    id: id.clone(),
                    url: session_url(api_url, id),
                    apple_pay_url: apple_pay_url(api_url, id),
                })
                .collect(),
            origins,
            apple_pay_domains,
            token,
            sessions_created,
        }
    }
}
