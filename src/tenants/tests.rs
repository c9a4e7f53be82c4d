//! The tenants file's rules: each refusal names the file, the entry and the key.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::config::RawSettings;

/// A scratch directory with the tenants file and key files.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("hfb-tenants-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Settings with `tenants.toml` holding `toml` (`{dir}` replaced by this directory) and,
    /// when `default` is set, Part 1's account on terminal 1234001.
    fn settings(&self, toml: &str, default: bool) -> Settings {
        let file = self.write(
            "tenants.toml",
            &toml.replace("{dir}", &self.0.display().to_string()),
        );
        let mut raw = RawSettings::default();
        raw.tenants.file = Some(file);
        if default {
            raw.payroc.api_key = Some(SecretString::from("default-key".to_owned()));
            raw.payroc.terminals = vec!["1234001".into()];
        }
        raw.callers.keys = vec!["operator-key-0123456789".into()];
        raw.resolve(true).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TWO: &str = r#"
[[account]]
name = "acme"
api_key_file = "{dir}/acme.key"
terminals = ["2234001", "2234002"]
origins = ["https://shop.acme.example"]
apple_pay_domains = { "https://shop.acme.example" = "DUHDZJHGYY" }

[[account]]
name = "globex"
api_key = "globex-key"
terminals = ["3234001"]

[[service]]
name = "orders"
key_file = "{dir}/orders.key"
account = "acme"
payroc_api = ["POST /payments", "GET /payments/*"]
"#;

#[test]
fn a_valid_file_adds_accounts_and_services_after_default() {
    let dir = Dir::new();
    dir.write("acme.key", "acme-key\n");
    dir.write("orders.key", "orders-service-key-0123\n");
    let spec = load(&dir.settings(TWO, true)).unwrap();
    let names: Vec<&str> = spec.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["default", "acme", "globex"]);
    let acme = &spec.accounts[1];
    assert_eq!(acme.terminals, ["2234001", "2234002"]);
    assert_eq!(acme.origins, ["https://shop.acme.example"]);
    assert_eq!(acme.apple_pay_domains[0].1, "DUHDZJHGYY");
    let orders = &spec.services[0];
    assert_eq!(orders.account, "acme");
    assert_eq!(orders.key.expose_secret(), "orders-service-key-0123");
    assert_eq!(orders.rules.len(), 2);
    assert_eq!(
        summary(&spec),
        "# accounts (3): default, acme, globex; services (1): orders"
    );
}

#[test]
fn without_default_the_file_alone_defines_the_accounts() {
    let dir = Dir::new();
    dir.write("acme.key", "acme-key");
    dir.write("orders.key", "orders-service-key-0123");
    let spec = load(&dir.settings(TWO, false)).unwrap();
    assert_eq!(spec.accounts.len(), 2);
}

#[test]
fn a_service_without_account_gets_the_only_one_or_default() {
    let dir = Dir::new();
    let only = r#"
[[account]]
name = "solo"
api_key = "k"
terminals = ["2234001"]
[[service]]
name = "svc"
key = "service-key-0123456789"
"#;
    let spec = load(&dir.settings(only, false)).unwrap();
    assert_eq!(spec.services[0].account, "solo");
    let spec = load(&dir.settings(only, true)).unwrap();
    assert_eq!(spec.services[0].account, "default");
}

/// The error line for `toml` (with `default` set), which must name `entry` and `key`.
fn refused(toml: &str) -> String {
    let dir = Dir::new();
    dir.write("acme.key", "acme-key");
    let error = load(&dir.settings(toml, true)).unwrap_err().to_string();
    assert!(error.starts_with("tenants file "), "{error}");
    assert!(error.contains("tenants.toml"), "{error}");
    error
}

fn account(extra: &str) -> String {
    format!("[[account]]\nname = \"acme\"\napi_key = \"k\"\nterminals = [\"2234001\"]\n{extra}")
}

#[test]
fn every_rule_of_the_contract_is_enforced() {
    let cases: Vec<(String, &str)> = vec![
        (account("colour = \"red\""), "unknown field `colour`"),
        ("[[account]]\nname = \"Acme\"\napi_key = \"k\"\nterminals = [\"2234001\"]".into(), "account #1 \"Acme\": name: must be 1-64"),
        (format!("[[account]]\nname = \"{}\"\napi_key = \"k\"\nterminals = [\"2234001\"]", "a".repeat(65)), "name: must be 1-64"),
        ("[[account]]\nname = \"default\"\napi_key = \"k\"\nterminals = [\"2234001\"]".into(), "account #1 \"default\": name: another account has this name"),
        (format!("{}\n{}", account(""), account("").replace("2234001", "2234009")), "account #2 \"acme\": name: another account"),
        ("[[account]]\nname = \"acme\"\napi_key = \"k\"\nterminals = [\"1234001\"]".into(), "terminals: \"1234001\" is already a terminal of account \"default\""),
        ("[[account]]\nname = \"acme\"\napi_key = \"k\"\nterminals = []".into(), "terminals: at least one"),
        ("[[account]]\nname = \"acme\"\napi_key = \"k\"\nterminals = [\"12/4\"]".into(), "is not a terminal ID"),
        ("[[account]]\nname = \"acme\"\napi_key = \"k\"\napi_key_file = \"/x\"\nterminals = [\"2234001\"]".into(), "api_key / api_key_file: set exactly one"),
        ("[[account]]\nname = \"acme\"\nterminals = [\"2234001\"]".into(), "api_key / api_key_file: set exactly one"),
        ("[[account]]\nname = \"acme\"\napi_key_file = \"/nonexistent/hfb/key\"\nterminals = [\"2234001\"]".into(), "api_key_file: the API key file could not be read"),
        (account("origins = [\"https://shop.example/path\"]"), "origins: \"https://shop.example/path\" is not an origin"),
        (account("apple_pay_domains = { \"https://a.example\" = \"no spaces\" }"), "apple_pay_domains: \"no spaces\" is not an appleDomainId"),
        (format!("{}\n[[service]]\nname = \"svc\"\nkey = \"short\"", account("")), "service #1 \"svc\": key: must be 16"),
        (format!("{}\n[[service]]\nname = \"svc\"\nkey = \"operator-key-0123456789\"", account("")), "key: another service or a BROKER__CALLERS__KEYS key"),
        (format!("{}\n[[service]]\nname = \"svc\"\nkey = \"service-key-0123456789\"\naccount = \"nobody\"", account("")), "account: there is no account \"nobody\""),
        (format!("{}\n[[service]]\nname = \"svc\"\nkey = \"service-key-0123456789\"\naccount = \"acme\"\npayroc_api = [\"FETCH /x\"]", account("")), "payroc_api: \"FETCH /x\": the method"),
        (format!("{}\n[[service]]\nname = \"svc\"\nkey_file = \"/nonexistent/hfb/svc\"\naccount = \"acme\"", account("")), "key_file: /nonexistent/hfb/svc cannot be read"),
        (format!("{}{svc}{svc}", account(""), svc = "\n[[service]]\nname = \"svc\"\nkey = \"service-key-0123456789\"\naccount = \"acme\"\n"), "service #2 \"svc\": name: another service"),
        ("account = 3".into(), "line 1: invalid type"),
    ];
    for (toml, expected) in cases {
        let error = refused(&toml);
        assert!(
            error.contains(expected),
            "{toml}\n=> {error}\nexpected: {expected}"
        );
    }
}

#[test]
fn an_origin_belongs_to_one_account() {
    let toml = format!(
        "{}\n[[account]]\nname = \"globex\"\napi_key = \"k\"\nterminals = [\"3234001\"]\norigins = [\"https://shop.example\"]",
        account("origins = [\"https://shop.example\"]")
    );
    assert!(refused(&toml).contains("account #2 \"globex\": origins: \"https://shop.example\" is already an origin of account \"acme\""));
}

#[test]
fn a_parse_error_never_quotes_the_line_holding_a_key() {
    let error = refused(
        "[[account]]\nname = \"acme\"\napi_kee = \"sk_live_SECRET\"\nterminals = [\"2234001\"]",
    );
    assert!(error.contains("line 3: unknown field `api_kee`"), "{error}");
    assert!(!error.contains("SECRET"), "{error}");
}

#[test]
fn no_account_at_all_is_refused() {
    let dir = Dir::new();
    let error = load(&dir.settings("", false)).unwrap_err().to_string();
    assert!(error.contains("no account"), "{error}");
}

#[test]
fn a_missing_file_is_refused() {
    let mut raw = RawSettings::default();
    raw.tenants.file = Some(PathBuf::from("/nonexistent/hfb/tenants.toml"));
    let error = load(&raw.resolve(true).unwrap()).unwrap_err().to_string();
    assert!(
        error.starts_with("tenants file /nonexistent/hfb/tenants.toml: cannot read"),
        "{error}"
    );
}
