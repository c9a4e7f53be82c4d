//! A broker with a tenants file: the `default` account (the fake's first key, terminals
//! 1234001-2) plus `acme` (browser origin bound, key inline) and `globex` (key in a file), and
//! a service `orders` of acme. Each account has its own key at the fake, so a token mix-up
//! is a 403 there and fails the test.

use std::{path::PathBuf, time::Duration};

use hosted_fields_broker::{
    config::RawSettings,
    fake_payroc::{FakeAccount, FakePayrocConfig},
};

use crate::helpers::{Options, TestApp, spawn_app_with};

pub const ACME_KEY: &str = "acme-api-key";
pub const GLOBEX_KEY: &str = "globex-api-key";
pub const ACME_ORIGIN: &str = "https://shop.acme.example";
pub const ORDERS_KEY: &str = "orders-service-key-0123456789";
/// acme's Apple Pay domain, at the fake and in the tenants file.
pub const ACME_APPLE_DOMAIN: &str = "ACMEAPPLE1";

/// A scratch directory for a tenants file and key files, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("hfb-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes atomically (a rename), as a deployment tool would.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        let temp = self.path(&format!(".{name}.tmp"));
        std::fs::write(&temp, content).unwrap();
        std::fs::rename(&temp, &path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tenants file of this module's accounts; `globex_key_file` is where globex's key is.
pub fn tenants_toml(scratch: &Scratch) -> String {
    format!(
        r#"
[[account]]
name = "acme"
api_key = "{ACME_KEY}"
terminals = ["2234001", "2234002"]
origins = ["{ACME_ORIGIN}"]
apple_pay_domains = {{ "{ACME_ORIGIN}" = "{ACME_APPLE_DOMAIN}" }}

[[account]]
name = "globex"
api_key_file = "{}"
terminals = ["3234001"]

[[service]]
name = "orders"
key = "{ORDERS_KEY}"
account = "acme"
payroc_api = ["GET /payments/*"]
"#,
        scratch.path("globex.key").display()
    )
}

/// `POST /apple-pay/session` from acme's page with Apple's global validation URL.
pub fn acme_apple_pay(app: &TestApp) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/apple-pay/session"))
        .header("origin", ACME_ORIGIN)
        .json(&serde_json::json!({
            "validationUrl": "https://apple-pay-gateway.apple.com/paymentservices/startSession"
        }))
}

/// The fake's keys: default (first), acme, globex, and `more` further accounts.
pub fn fake_config(more: Vec<FakeAccount>) -> FakePayrocConfig {
    let mut accounts = vec![
        FakeAccount {
            api_key: ACME_KEY.into(),
            terminals: vec!["2234001".into(), "2234002".into()],
            apple_domain_ids: vec![ACME_APPLE_DOMAIN.into()],
        },
        FakeAccount {
            api_key: GLOBEX_KEY.into(),
            terminals: vec!["3234001".into()],
            ..FakeAccount::default()
        },
    ];
    accounts.extend(more);
    FakePayrocConfig {
        other_accounts: accounts,
        ..FakePayrocConfig::default()
    }
}

/// What a tenants test may vary.
#[derive(Default)]
pub struct Tenants {
    /// globex's key file content (default: its right key).
    pub globex_key: Option<&'static str>,
    /// Further accounts the fake knows.
    pub more: Vec<FakeAccount>,
    /// Appended to the tenants file.
    pub extra_toml: String,
    /// Identity latency from the very first fetch.
    pub identity_latency: Duration,
}

/// The broker with this module's tenants file (watched every 50 ms), `globex.key` holding
/// globex's key; `tweak` adjusts the settings further.
pub async fn spawn_tenants_app(
    scratch: &Scratch,
    globex_key: &'static str,
    tweak: impl FnOnce(&mut RawSettings) + Send + 'static,
) -> TestApp {
    let tenants = Tenants {
        globex_key: Some(globex_key),
        ..Tenants::default()
    };
    spawn_tenants_app_with(scratch, tenants, tweak).await
}

pub async fn spawn_tenants_app_with(
    scratch: &Scratch,
    tenants: Tenants,
    tweak: impl FnOnce(&mut RawSettings) + Send + 'static,
) -> TestApp {
    scratch.write("globex.key", tenants.globex_key.unwrap_or(GLOBEX_KEY));
    let toml = format!("{}{}", tenants_toml(scratch), tenants.extra_toml);
    let file = scratch.write("tenants.toml", &toml);
    let latency = tenants.identity_latency;
    spawn_app_with(Options {
        fake: fake_config(tenants.more),
        settings: Box::new(move |raw| {
            raw.tenants.file = Some(file);
            raw.tenants.watch_interval_ms = 50;
            tweak(raw);
        }),
        prepare: Box::new(move |fake| fake.set_identity_latency(latency)),
    })
    .await
}
