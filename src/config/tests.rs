//! The configuration rules, one test each.

use super::{
    environment::{PRODUCTION_DEFAULTS, TEST_DEFAULTS},
    layered::comma_list,
    resolve::is_lib_version,
    *,
};
use secrecy::SecretString;
use serde::Deserialize;

mod redaction;
mod refusals;

fn raw_with_terminals(terminals: &[&str]) -> RawSettings {
    let mut raw = RawSettings::default();
    raw.payroc.terminals = terminals.iter().map(|t| (*t).to_owned()).collect();
    raw.payroc.api_key = Some(SecretString::from("k".to_owned()));
    raw
}

#[test]
fn test_environment_defaults_to_uat_urls_version_and_sri() {
    let settings = raw_with_terminals(&["1234001"]).resolve(true).unwrap();
    let p = settings.payroc;
    assert_eq!(
        p.identity_url.as_str(),
        "https://identity.uat.payroc.com/authorize"
    );
    assert_eq!(p.api_url.as_str(), "https://api.uat.payroc.com/v1");
    assert_eq!(p.lib_version, "1.7.0.261457");
    assert_eq!(
        p.script_url.as_str(),
        "https://cdn.uat.payroc.com/js/hosted-fields/hosted-fields-1.7.0.261457.js"
    );
    assert_eq!(p.script_integrity.as_deref(), Some(TEST_DEFAULTS.integrity));
}

#[test]
fn production_environment_switches_every_derived_default() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.environment = PayrocEnvironment::Production;
    let p = raw.resolve(true).unwrap().payroc;
    assert_eq!(
        p.identity_url.as_str(),
        "https://identity.payroc.com/authorize"
    );
    assert_eq!(p.api_url.as_str(), "https://api.payroc.com/v1");
    assert_eq!(p.lib_version, "1.7.0.261471");
    assert!(p.script_url.as_str().starts_with("https://cdn.payroc.com/"));
    assert_eq!(
        p.script_integrity.as_deref(),
        Some(PRODUCTION_DEFAULTS.integrity)
    );
}

#[test]
fn unknown_lib_version_has_no_integrity_unless_configured() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.lib_version = Some("1.8.0.300000".into());
    assert_eq!(raw.resolve(true).unwrap().payroc.script_integrity, None);
}

#[test]
fn single_numeric_terminal_is_a_list_of_one() {
    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "comma_list")]
        t: Vec<String>,
    }
    let from_number: T = serde_json::from_str(r#"{"t": 1234001}"#).unwrap();
    assert_eq!(from_number.t, ["1234001"]);
    let from_text: T = serde_json::from_str(r#"{"t": "1234001, 1234002"}"#).unwrap();
    assert_eq!(from_text.t, ["1234001", "1234002"]);
    let from_list: T = serde_json::from_str(r#"{"t": ["1234001", 1234002]}"#).unwrap();
    assert_eq!(from_list.t, ["1234001", "1234002"]);
}

#[test]
fn both_key_sources_are_a_configuration_error() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key_file = Some("/dev/null".into());
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("payroc.api_key"), "{err}");
}

#[test]
fn missing_api_key_is_an_error_only_when_required() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key = None;
    assert!(
        raw.resolve(true)
            .unwrap_err()
            .to_string()
            .contains("BROKER__PAYROC__API_KEY")
    );
    // Terminals without a key are half a default account, required or not.
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key = None;
    assert!(
        raw.resolve(false)
            .unwrap_err()
            .to_string()
            .contains("BROKER__PAYROC__API_KEY")
    );
    let mut raw = RawSettings::default();
    raw.payroc.api_key = None;
    assert!(raw.resolve(false).is_ok());
}

#[test]
fn with_a_tenants_file_the_default_account_is_optional_but_whole() {
    let mut raw = RawSettings::default();
    raw.tenants.file = Some("/etc/broker/tenants.toml".into());
    let settings = raw.resolve(true).unwrap();
    assert!(settings.payroc.api_key.is_none() && settings.payroc.terminals.is_empty());
    let mut raw = RawSettings::default();
    raw.tenants.file = Some("/etc/broker/tenants.toml".into());
    raw.payroc.api_key = Some(SecretString::from("k".to_owned()));
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("BROKER__PAYROC__TERMINALS"), "{err}");
}

#[test]
fn plain_http_is_refused_except_for_loopback() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_url = Some("http://api.example.com/v1".into());
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("payroc.api_url"), "{err}");
    for ok in [
        "http://127.0.0.1:9/v1",
        "http://[::1]:9/v1",
        "http://localhost:9/v1",
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.payroc.api_url = Some(ok.into());
        assert!(raw.resolve(true).is_ok(), "{ok}");
    }
}

#[test]
fn terminals_must_be_plain_ids() {
    for bad in ["12", "../1234001", "1234001/x", "a b c d"] {
        let err = raw_with_terminals(&[bad])
            .resolve(true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("payroc.terminals"), "{bad}: {err}");
    }
    let err = raw_with_terminals(&[])
        .resolve(true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("BROKER__PAYROC__TERMINALS"), "{err}");
}

#[test]
fn deadline_longer_than_shutdown_grace_is_refused() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.deadline_ms = 40_000;
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("payroc.deadline_ms"), "{err}");
}

#[test]
fn default_proxy_timing_lets_a_20_second_payment_finish_even_at_shutdown() {
    let settings = raw_with_terminals(&["1234001"]).resolve(true).unwrap();
    let proxy = settings.proxy;
    let twenty = std::time::Duration::from_secs(20);
    assert!(proxy.request_timeout > twenty, "{proxy:?}");
    assert!(proxy.deadline >= proxy.request_timeout, "{proxy:?}");
    assert!(
        settings.server.shutdown_grace >= proxy.deadline,
        "{proxy:?}"
    );
}

#[test]
fn a_part_1_configuration_with_a_short_grace_still_starts_with_shorter_proxy_deadlines() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.server.shutdown_grace_ms = 9_000;
    let settings = raw.resolve(true).unwrap();
    assert_eq!(settings.proxy.deadline, std::time::Duration::from_secs(9));
    assert_eq!(
        settings.proxy.request_timeout,
        std::time::Duration::from_secs(9)
    );
}

#[test]
fn proxy_timing_that_would_cut_calls_off_is_refused() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.server.shutdown_grace_ms = 10_000;
    raw.proxy.deadline_ms = Some(25_000);
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("BROKER__PROXY__DEADLINE_MS"), "{err}");
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.proxy.request_timeout_ms = Some(26_000);
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("BROKER__PROXY__REQUEST_TIMEOUT_MS"), "{err}");
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.proxy.max_attempts = 0;
    let err = raw.resolve(true).unwrap_err().to_string();
    assert!(err.contains("BROKER__PROXY__MAX_ATTEMPTS"), "{err}");
}

#[test]
fn redacted_output_hides_every_secret() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.payroc.api_key = Some(SecretString::from("sk_live_api_key_value".to_owned()));
    raw.callers.keys = vec!["internal-caller-key-value".into()];
    let shown = raw.resolve(true).unwrap().redacted();
    assert!(!shown.contains("sk_live_api_key_value"), "{shown}");
    assert!(!shown.contains("internal-caller-key-value"), "{shown}");
    assert!(
        shown.contains("[redacted]") && shown.contains("1234001"),
        "{shown}"
    );
    assert!(
        !format!(
            "{:?}",
            raw_with_terminals(&["1234001"]).resolve(true).unwrap()
        )
        .contains("\"k\"")
    );
}

#[test]
fn cors_origins_must_be_exact_origins() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.cors.allowed_origins = vec![
        "https://shop.example.com".into(),
        "http://localhost:3000/".into(),
    ];
    let origins = raw.resolve(true).unwrap().cors.allowed_origins;
    assert_eq!(
        origins,
        ["https://shop.example.com", "http://localhost:3000"]
    );
    for bad in [
        "shop.example.com",
        "https://shop.example.com/checkout",
        "*",
        "https://Shop.example.com",
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.cors.allowed_origins = vec![bad.into()];
        let err = raw.resolve(true).unwrap_err().to_string();
        assert!(
            err.contains("BROKER__CORS__ALLOWED_ORIGINS"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn trusted_proxies_accept_networks_and_addresses() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.rate_limit.trusted_proxies =
        vec!["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()];
    assert_eq!(
        raw.resolve(true).unwrap().rate_limit.trusted_proxies.len(),
        3
    );
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.rate_limit.trusted_proxies = vec!["10.0.0.0/33".into()];
    assert!(
        raw.resolve(true)
            .unwrap_err()
            .to_string()
            .contains("trusted_proxies")
    );
}

#[test]
fn lib_version_follows_payrocs_pattern() {
    for ok in ["1.7.0.261457", "10.1.2-beta.5", "1.1.0.123456"] {
        assert!(is_lib_version(ok), "{ok}");
    }
    for bad in ["1.7.0", "abc", "100.1.1.1", "1.7.0.x", ""] {
        assert!(!is_lib_version(bad), "{bad}");
    }
}

#[test]
fn every_setting_is_documented_under_its_environment_variable() {
    let docs = include_str!("../../docs/configuration.md");
    let defaults = include_str!("../../config/default.toml");
    let shown: toml::Table = toml::from_str(
        &raw_with_terminals(&["1234001"])
            .resolve(true)
            .unwrap()
            .redacted(),
    )
    .unwrap();
    let mut checked = 0;
    for (section, keys) in &shown {
        for name in keys.as_table().unwrap().keys() {
            let key = format!("{section}.{name}");
            assert!(
                docs.contains(&env_var(&key)),
                "{} is not in docs/configuration.md",
                env_var(&key)
            );
            // Every tunable is in the defaults file, set or commented out (the key itself
            // goes in by environment variable only).
            assert!(
                name == "api_key" || defaults.contains(&format!("{name} =")),
                "{key} is not in config/default.toml"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} settings seen");
}

#[test]
fn apple_pay_domains_are_origin_and_domain_id_pairs() {
    let mut raw = raw_with_terminals(&["1234001"]);
    raw.apple_pay.domains = vec!["https://shop.example.com=DUHDZJHGYY".into()];
    let settings = raw.resolve(true).unwrap();
    assert_eq!(settings.apple_pay.domains[0].0, "https://shop.example.com");
    assert_eq!(settings.apple_pay.domains[0].1, "DUHDZJHGYY");
    for bad in [
        "https://shop.example.com",
        "https://shop.example.com/pay=DUHDZJHGYY",
        "https://shop.example.com=not an id",
        "shop.example.com=DUHDZJHGYY",
    ] {
        let mut raw = raw_with_terminals(&["1234001"]);
        raw.apple_pay.domains = vec![bad.into()];
        let err = raw.resolve(true).unwrap_err().to_string();
        assert!(err.contains("BROKER__APPLE_PAY__DOMAINS"), "{bad}: {err}");
    }
    let mut twice = raw_with_terminals(&["1234001"]);
    twice.apple_pay.domains = vec![
        "https://a.example=ONE".into(),
        "https://a.example=TWO".into(),
    ];
    assert!(twice.resolve(true).is_err());
    let mut no_default = RawSettings::default();
    no_default.tenants.file = Some("/etc/tenants.toml".into());
    no_default.apple_pay.domains = vec!["https://a.example=ONE".into()];
    let err = no_default.resolve(true).unwrap_err().to_string();
    assert!(err.contains("default account"), "{err}");
}
