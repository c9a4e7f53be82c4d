//! A broker with the tenants file of [`crate::tenants_helpers`] plus two services for the
//! Payroc API pass-through (`payments` of acme, `globex-reader` of globex), and a client that
//! behaves as Payroc's SDKs do: authorize, cache the token until `expires_in` minus the SDKs'
//! two-minute buffer, re-authorize after, send its own `Idempotency-Key` on POSTs.

use std::time::{Duration, Instant};

use hosted_fields_broker::config::RawSettings;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::TestApp;
use crate::tenants_helpers::{Scratch, Tenants, spawn_tenants_app_with};

pub const PAYMENTS_KEY: &str = "payments-service-key-0123456789";
pub const READER_KEY: &str = "globex-reader-key-0123456789";

/// The services, appended to the tenants file.
pub fn services_toml() -> String {
    format!(
        r#"
[[service]]
name = "payments"
key = "{PAYMENTS_KEY}"
account = "acme"
payroc_api = ["POST /payments", "GET /payments", "GET /payments/*", "POST /payments/*/refund"]

[[service]]
name = "globex-reader"
key = "{READER_KEY}"
account = "globex"
payroc_api = ["GET /payments/**"]
"#
    )
}

/// The broker with both services; `tweak` adjusts the settings further.
pub async fn spawn_proxy_app(
    scratch: &Scratch,
    tweak: impl FnOnce(&mut RawSettings) + Send + 'static,
) -> TestApp {
    let tenants = Tenants {
        extra_toml: services_toml(),
        ..Tenants::default()
    };
    let app = spawn_tenants_app_with(scratch, tenants, tweak).await;
    app.wait_ready().await;
    app
}

/// A Payroc payment request for acme's terminal.
pub fn payment(order_id: &str) -> Value {
    payment_for("2234001", order_id)
}

pub fn payment_for(terminal: &str, order_id: &str) -> Value {
    json!({
        "channel": "web",
        "processingTerminalId": terminal,
        "order": {"orderId": order_id, "amount": 4999, "currency": "USD"},
        "paymentMethod": {"type": "singleUseToken", "token": "296753123456"},
    })
}

pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `METHOD /payroc/v1{path}` with a service key.
pub fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(&format!("/payroc/v1{path}")))
        .bearer_auth(key)
}

/// `POST /payments` of `body` under a fresh `Idempotency-Key`, as the `payments` service.
pub async fn post_payment(app: &TestApp, body: &Value) -> reqwest::Response {
    call(app, reqwest::Method::POST, "/payments", PAYMENTS_KEY)
        .header("idempotency-key", new_key())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Sends `request` byte for byte (no client normalises its path) and returns the answer's
/// status and body.
pub async fn raw(app: &TestApp, request: &str) -> (u16, String) {
    let mut socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().expect("a status line");
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Token handling as in Payroc's SDKs, pointed at the broker.
pub struct SdkClient<'a> {
    app: &'a TestApp,
    api_key: &'a str,
    token: Option<(String, Instant)>,
    /// `POST /payroc/authorize` calls made.
    pub authorizations: u32,
}

/// The SDKs stop using a token this long before `expires_in` runs out.
const SDK_BUFFER: Duration = Duration::from_secs(120);

impl<'a> SdkClient<'a> {
    pub fn new(app: &'a TestApp, api_key: &'a str) -> Self {
        Self {
            app,
            api_key,
            token: None,
            authorizations: 0,
        }
    }

    /// Makes the held token look `by` older, as if that much time had passed.
    pub fn age(&mut self, by: Duration) {
        if let Some((_, until)) = &mut self.token {
            *until = until.checked_sub(by).unwrap_or_else(Instant::now);
        }
    }

    async fn token(&mut self) -> String {
        if let Some((token, until)) = &self.token
            && Instant::now() < *until
        {
            return token.clone();
        }
        let answer: Value = self
            .app
            .client
            .post(self.app.url("/payroc/authorize"))
            .header("x-api-key", self.api_key)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .expect("the broker authorizes the service key")
            .json()
            .await
            .unwrap();
        self.authorizations += 1;
        let token = answer["access_token"].as_str().unwrap().to_owned();
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap());
        self.token = Some((
            token.clone(),
            Instant::now() + lifetime.saturating_sub(SDK_BUFFER),
        ));
        token
    }

    /// `method path` with a JSON body; POSTs carry a fresh `Idempotency-Key` as the SDKs ask
    /// their callers to.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let token = self.token().await;
        let mut request = self
            .app
            .client
            .request(method.clone(), self.app.url(&format!("/payroc/v1{path}")))
            .bearer_auth(token)
            .header("accept", "application/json");
        if method == reqwest::Method::POST {
            request = request.header("idempotency-key", new_key());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}
