//! `spawn_app()`: a fake Payroc plus a broker on port 0, talking over real HTTP.

use std::time::Duration;

use hosted_fields_broker::{
    config::RawSettings,
    fake_payroc::{FakePayroc, FakePayrocConfig},
    startup::Application,
};
use secrecy::SecretString;
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

/// A caller key configured in every test app.
pub const CALLER_KEY: &str = "internal-caller-key-0123456789";

pub struct TestApp {
    pub address: String,
    pub fake: FakePayroc,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
}

/// What a test may change before the app starts.
pub struct Options {
    pub fake: FakePayrocConfig,
    pub settings: Box<dyn FnOnce(&mut RawSettings) + Send>,
    /// Runs on the fake before the broker starts (faults seen by the very first fetch).
    pub prepare: Box<dyn FnOnce(&FakePayroc) + Send>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fake: FakePayrocConfig::default(),
            settings: Box::new(|_| {}),
            prepare: Box::new(|_| {}),
        }
    }
}

/// Raw settings pointing at `fake`, with quick test-friendly backoff.
pub fn raw_settings(fake: &FakePayroc) -> RawSettings {
    let mut raw = RawSettings::default();
    raw.server.listen = "127.0.0.1:0".parse().unwrap();
    raw.payroc.identity_url = Some(fake.identity_url().to_string());
    raw.payroc.api_url = Some(fake.api_url().to_string());
    raw.payroc.api_key = Some(SecretString::from(fake.api_key()));
    raw.payroc.terminals = vec!["1234001".into(), "1234002".into()];
    raw.payroc.request_timeout_ms = 2_000;
    raw.payroc.deadline_ms = 5_000;
    raw.payroc.retry_base_delay_ms = 20;
    raw.callers.keys = vec![CALLER_KEY.into()];
    raw.token.backoff_base_ms = 50;
    raw.token.backoff_cap_ms = 200;
    raw.token.rejected_retry_ms = 300;
    raw
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    init_test_logs();
    let fake = FakePayroc::start(options.fake)
        .await
        .expect("fake Payroc starts");
    (options.prepare)(&fake);
    let mut raw = raw_settings(&fake);
    (options.settings)(&mut raw);
    let settings = raw.resolve(true).expect("test settings are valid");
    let app = Application::build(&settings, axum::Router::new())
        .await
        .expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        fake,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stop: Some(stop),
        server: Some(server),
    }
}

/// `TEST_LOG=1` shows the broker's logs; tests are quiet otherwise.
fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_test_writer()
            .try_init();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path` on the broker.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request completes")
    }

    /// `POST /hosted-fields/session` with a JSON body (or none for `Value::Null`).
    pub async fn post_session(&self, body: Value) -> reqwest::Response {
        self.session_request(body)
            .send()
            .await
            .expect("request completes")
    }

    #[allow(clippy::needless_pass_by_value)] // call sites read better with owned `json!` values
    pub fn session_request(&self, body: Value) -> reqwest::RequestBuilder {
        let request = self.client.post(self.url("/hosted-fields/session"));
        if body.is_null() {
            request
        } else {
            request.json(&body)
        }
    }

    /// Waits (bounded) until the broker holds its first token.
    pub async fn wait_ready(&self) {
        eventually(Duration::from_secs(5), || async {
            self.client
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task did not panic"),
            None => Ok(()),
        }
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.trigger_shutdown();
        self.fake.shutdown();
    }
}

/// Polls `check` every 20 ms until it holds; panics after `within`.
pub async fn eventually<F, Fut>(within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let give_up = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < give_up,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts a problem+json error with the given status and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(
        body["status"], status,
        "status member equals the HTTP status: {body}"
    );
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}
