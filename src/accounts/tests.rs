//! Routing a request to an account, and reloads that keep, add and remove accounts.

use std::sync::Arc;

use axum::http::HeaderValue;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{
    config::{ApiKeySource, RawSettings},
    payroc::PayrocClient,
    tenants::{AccountSpec, ServiceSpec, rules::Rule},
};

fn origin(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap()
}

fn account(name: &str, terminals: &[&str], origins: &[&str]) -> AccountSpec {
    AccountSpec {
        name: name.into(),
        api_key: ApiKeySource::Inline(SecretString::from(format!("{name}-key"))),
        terminals: terminals.iter().map(|t| (*t).to_owned()).collect(),
        origins: origins.iter().map(|o| origin(o)).collect(),
        apple_pay_domains: Vec::new(),
    }
}

fn service(name: &str, account: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        key: SecretString::from(format!("{name}-service-key-0123456789")),
        key_file: None,
        account: account.into(),
        rules: vec![Rule::parse("GET /payments/*").unwrap()],
    }
}

/// A directory whose tokens never arrive (identity is a closed loopback port): routing and
/// reloads do not need them.
fn directory(spec: &TenantsSpec) -> (Directory, tokio_util::sync::DropGuard) {
    let mut raw = RawSettings::default();
    raw.payroc.api_key = Some(SecretString::from("k".to_owned()));
    raw.payroc.terminals = vec!["1234001".into()];
    raw.payroc.identity_url = Some("http://127.0.0.1:9/authorize".into());
    raw.payroc.api_url = Some("http://127.0.0.1:9/v1".into());
    let settings = raw.resolve(true).unwrap();
    let metrics = Metrics::new();
    let client = PayrocClient::new(&settings.payroc, metrics.clone()).unwrap();
    let stop = CancellationToken::new();
    let factory = TokenFactory::new(client, settings.token, metrics.clone(), stop.clone());
    let directory = Directory::new(
        spec,
        factory,
        metrics,
        settings.payroc.api_url,
        vec![origin("https://legacy.example")],
        None,
    );
    (directory, stop.drop_guard())
}

fn spec() -> TenantsSpec {
    TenantsSpec {
        accounts: vec![
            account("default", &["1234001", "1234002"], &[]),
            account(
                "acme",
                &["2234001", "2234002"],
                &["https://shop.acme.example"],
            ),
            account("globex", &["3234001"], &["https://globex.example"]),
        ],
        services: vec![service("orders", "acme")],
    }
}

/// The (account, terminal) a request gets, or its refusal.
fn routed(
    snapshot: &Snapshot,
    requested: Option<&str>,
    who: Requester<'_>,
) -> Result<(String, String), RouteError> {
    snapshot
        .route(requested, who)
        .map(|(a, t)| (a.name.to_string(), t.id.clone()))
}

#[allow(clippy::unnecessary_wraps)] // compared with `routed`'s result
fn ok(account: &str, terminal: &str) -> Result<(String, String), RouteError> {
    Ok((account.into(), terminal.into()))
}

#[tokio::test]
async fn the_default_terminal_follows_the_origin() {
    let (directory, _stop) = directory(&spec());
    let snapshot = directory.snapshot();
    let acme = origin("https://shop.acme.example");
    let other = origin("https://elsewhere.example");
    assert_eq!(
        routed(&snapshot, None, Requester::Browser(Some(&acme))),
        ok("acme", "2234001")
    );
    assert_eq!(
        routed(&snapshot, None, Requester::Browser(Some(&other))),
        ok("default", "1234001")
    );
    assert_eq!(
        routed(&snapshot, None, Requester::Browser(None)),
        ok("default", "1234001")
    );
    assert_eq!(
        routed(&snapshot, None, Requester::Operator),
        ok("default", "1234001")
    );
    assert_eq!(
        routed(&snapshot, None, Requester::Service(0)),
        ok("acme", "2234001")
    );
}

#[tokio::test]
async fn without_default_an_unknown_origin_must_name_a_terminal() {
    let mut spec = spec();
    spec.accounts.remove(0);
    let (directory, _stop) = directory(&spec);
    let snapshot = directory.snapshot();
    let other = origin("https://elsewhere.example");
    assert_eq!(
        routed(&snapshot, None, Requester::Browser(Some(&other))),
        Err(RouteError::NoDefault)
    );
    assert_eq!(
        routed(&snapshot, None, Requester::Operator),
        Err(RouteError::NoDefault)
    );
}

#[tokio::test]
async fn browsers_mint_only_from_an_origin_of_the_terminals_account() {
    let (directory, _stop) = directory(&spec());
    let snapshot = directory.snapshot();
    let acme = origin("https://shop.acme.example");
    let globex = origin("https://globex.example");
    assert_eq!(
        routed(&snapshot, Some("2234002"), Requester::Browser(Some(&acme))),
        ok("acme", "2234002")
    );
    for who in [Requester::Browser(Some(&globex)), Requester::Browser(None)] {
        assert!(matches!(
            routed(&snapshot, Some("2234002"), who),
            Err(RouteError::Forbidden(_))
        ));
    }
    // An account without origins is Part 1's: any browser.
    assert_eq!(
        routed(
            &snapshot,
            Some("1234002"),
            Requester::Browser(Some(&globex))
        ),
        ok("default", "1234002")
    );
    assert!(matches!(
        routed(&snapshot, Some("9999001"), Requester::Operator),
        Err(RouteError::Forbidden(_))
    ));
}

#[tokio::test]
async fn services_mint_for_their_own_account_operators_for_any() {
    let (directory, _stop) = directory(&spec());
    let snapshot = directory.snapshot();
    assert_eq!(
        routed(&snapshot, Some("2234002"), Requester::Service(0)),
        ok("acme", "2234002")
    );
    assert!(matches!(
        routed(&snapshot, Some("3234001"), Requester::Service(0)),
        Err(RouteError::Forbidden(_))
    ));
    assert!(matches!(
        routed(&snapshot, Some("1234001"), Requester::Service(0)),
        Err(RouteError::Forbidden(_))
    ));
    assert_eq!(
        routed(&snapshot, Some("3234001"), Requester::Operator),
        ok("globex", "3234001")
    );
}

#[tokio::test]
async fn services_are_found_by_their_key_digest_only() {
    let (directory, _stop) = directory(&spec());
    let snapshot = directory.snapshot();
    let digest = |text: &str| -> [u8; 32] { Sha256::digest(text.as_bytes()).into() };
    assert_eq!(
        snapshot.service_for(&digest("orders-service-key-0123456789")),
        Some(0)
    );
    assert_eq!(
        snapshot.service_for(&digest("orders-service-key-012345678")),
        None
    );
}

#[tokio::test]
async fn cors_allows_the_part_one_list_and_every_accounts_origins() {
    let (directory, _stop) = directory(&spec());
    let snapshot = directory.snapshot();
    for allowed in [
        "https://legacy.example",
        "https://shop.acme.example",
        "https://globex.example",
    ] {
        assert!(snapshot.allows_origin(&origin(allowed)), "{allowed}");
    }
    assert!(!snapshot.allows_origin(&origin("https://evil.example")));
}

#[tokio::test]
async fn a_reload_keeps_unchanged_accounts_tokens_and_replaces_the_rest() {
    let (directory, _stop) = directory(&spec());
    let before = directory.snapshot();
    let mut next = spec();
    // acme: same key, new terminal list; globex: new key; default: removed; initech: new.
    next.accounts[1].terminals.push("2234003".into());
    next.accounts[2].api_key = ApiKeySource::Inline(SecretString::from("rotated".to_owned()));
    next.accounts.remove(0);
    next.accounts.push(account("initech", &["4234001"], &[]));
    let applied = directory.apply(&next);
    assert_eq!(
        applied,
        Applied {
            kept: 1,
            added: 2,
            removed: 2
        }
    );
    let after = directory.snapshot();
    let token = |s: &Snapshot, name: &str| {
        Arc::clone(&s.accounts.iter().find(|a| &*a.name == name).unwrap().token)
    };
    assert!(Arc::ptr_eq(&token(&before, "acme"), &token(&after, "acme")));
    assert!(!Arc::ptr_eq(
        &token(&before, "globex"),
        &token(&after, "globex")
    ));
    assert_eq!(
        routed(&after, Some("2234003"), Requester::Operator),
        ok("acme", "2234003")
    );
    assert!(matches!(
        routed(&after, Some("1234001"), Requester::Operator),
        Err(RouteError::Forbidden(_))
    ));
    // The request that took the old snapshot still finishes with it.
    assert_eq!(
        routed(&before, Some("1234001"), Requester::Operator),
        ok("default", "1234001")
    );
    assert_eq!(
        after.services[0].account, 0,
        "orders now points at acme's new index"
    );
}

#[tokio::test]
async fn readiness_waits_for_every_account_to_settle() {
    let (directory, _stop) = directory(&spec());
    // Identity is a closed port: each account's first fetch fails (settled), none has a token.
    let settling = loop {
        let settling = directory.ready().unwrap_err();
        if settling.settled == settling.accounts {
            break settling;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(
        settling,
        Settling {
            accounts: 3,
            settled: 3,
            obtained: 0
        }
    );
}
