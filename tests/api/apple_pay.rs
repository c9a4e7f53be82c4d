//! `POST /apple-pay/session`: a page on an Apple Pay domain gets Apple's merchant session
//! through the broker; anything but Apple's validation URL, a browser, and a configured
//! origin is refused before Payroc; retries, 401 healing, the deadline and the rate limit work
//! as for sessions.

use std::time::Duration;

use hosted_fields_broker::{config::RawSettings, fake_payroc::DEFAULT_APPLE_DOMAIN_ID};
use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, Options, TestApp, assert_problem, spawn_app_with};
use crate::tenants_helpers::{
    ACME_APPLE_DOMAIN, ACME_KEY, ACME_ORIGIN, Scratch, acme_apple_pay, spawn_tenants_app,
};

const SHOP: &str = "https://shop.example.com";
const GLOBAL: &str = "https://apple-pay-gateway.apple.com/paymentservices/startSession";

async fn app_with(tweak: impl FnOnce(&mut RawSettings) + Send + 'static) -> TestApp {
    let app = spawn_app_with(Options {
        settings: Box::new(move |raw| {
            raw.apple_pay.domains = vec![format!("{SHOP}={DEFAULT_APPLE_DOMAIN_ID}")];
            tweak(raw);
        }),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app
}

fn start(app: &TestApp, origin: &str, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/apple-pay/session"))
        .header("origin", origin)
        .json(body)
}

async fn started(app: &TestApp, origin: &str, body: &Value) -> reqwest::Response {
    start(app, origin, body).send().await.unwrap()
}

#[tokio::test]
async fn a_page_on_an_apple_pay_domain_gets_apples_merchant_session() {
    let app = app_with(|_| {}).await;

    let response = started(&app, SHOP, &json!({"validationUrl": GLOBAL})).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
    let body: Value = response.json().await.unwrap();
    let session = body["merchantSession"]
        .as_object()
        .expect("an object, not a string");
    for member in [
        "merchantSessionIdentifier",
        "nonce",
        "signature",
        "epochTimestamp",
    ] {
        assert!(session.contains_key(member), "{member}: {body}");
    }
    let sent = &app.fake.apple_pay_requests()[0];
    assert_eq!(sent.terminal, "1234001");
    assert_eq!(sent.api_key.as_deref(), Some(app.fake.api_key().as_str()));
    assert_eq!(
        sent.body,
        Some(json!({"appleDomainId": DEFAULT_APPLE_DOMAIN_ID, "appleValidationUrl": GLOBAL}))
    );
    // An explicit :443 is forwarded as written; a named terminal is used.
    let explicit = "https://apple-pay-gateway-cert.apple.com:443/paymentservices/startSession";
    let named = json!({"validationUrl": explicit, "processingTerminalId": "1234002"});
    assert_eq!(started(&app, SHOP, &named).await.status(), 200);
    let sent = &app.fake.apple_pay_requests()[1];
    assert_eq!(sent.terminal, "1234002");
    assert_eq!(sent.body.as_ref().unwrap()["appleValidationUrl"], explicit);
}

#[tokio::test]
async fn validation_urls_that_are_not_apples_never_reach_payroc() {
    let app = app_with(|_| {}).await;
    let long = format!("{GLOBAL}?{}", "a".repeat(2048));
    for url in [
        "https://evil.example/paymentservices/startSession",
        "https://apple-pay-gateway.apple.com.evil.example/paymentservices/startSession",
        "http://apple-pay-gateway.apple.com/paymentservices/startSession",
        "https://user@apple-pay-gateway.apple.com/paymentservices/startSession",
        "https://apple-pay-gateway.apple.com:8443/paymentservices/startSession",
        long.as_str(),
    ] {
        let response = started(&app, SHOP, &json!({"validationUrl": url})).await;
        let problem = assert_problem(response, 400).await;
        assert_eq!(
            problem["errors"][0]["parameter"], "validationUrl",
            "{url:.80}"
        );
    }
    for body in [json!({}), json!({"validationUrl": GLOBAL, "amount": 1})] {
        assert_problem(started(&app, SHOP, &body).await, 400).await;
    }
    assert_eq!(app.fake.apple_pay_calls(), 0);
}

#[tokio::test]
async fn only_browsers_on_a_configured_apple_pay_domain_may_start_one() {
    let app = app_with(|_| {}).await;
    let body = json!({"validationUrl": GLOBAL});

    let internal = start(&app, SHOP, &body)
        .bearer_auth(CALLER_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(internal, 403).await;
    let elsewhere = started(&app, "https://other.example.com", &body).await;
    assert_problem(elsewhere, 403).await;
    let no_origin = app
        .client
        .post(app.url("/apple-pay/session"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(no_origin, 403).await;
    let unknown_terminal = json!({"validationUrl": GLOBAL, "processingTerminalId": "9999001"});
    assert_problem(started(&app, SHOP, &unknown_terminal).await, 403).await;
    assert_eq!(app.fake.apple_pay_calls(), 0);
}

#[tokio::test]
async fn each_account_starts_sessions_for_its_own_domain_and_terminals() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, crate::tenants_helpers::GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;

    let acme = acme_apple_pay(&app).send().await.unwrap();

    assert_eq!(acme.status(), 200);
    let sent = &app.fake.apple_pay_requests()[0];
    assert_eq!(
        (sent.terminal.as_str(), sent.api_key.as_deref()),
        ("2234001", Some(ACME_KEY))
    );
    assert_eq!(
        sent.body.as_ref().unwrap()["appleDomainId"],
        ACME_APPLE_DOMAIN
    );
    // acme's page asking for globex's terminal: globex lists no Apple Pay domain for it.
    let foreign = json!({"validationUrl": GLOBAL, "processingTerminalId": "3234001"});
    assert_problem(started(&app, ACME_ORIGIN, &foreign).await, 403).await;
    assert_eq!(app.fake.apple_pay_calls(), 1);
}

#[tokio::test]
async fn payroc_trouble_is_retried_healed_and_answered_as_for_sessions() {
    let app = app_with(|raw| raw.payroc.deadline_ms = 2_000).await;
    let body = json!({"validationUrl": GLOBAL});

    app.fake.fail_next_apple_pay(2, 503);
    assert_eq!(started(&app, SHOP, &body).await.status(), 200);
    assert_eq!(app.fake.apple_pay_calls(), 3);

    app.fake.revoke_all_tokens();
    assert_eq!(
        started(&app, SHOP, &body).await.status(),
        200,
        "a 401 heals"
    );
    app.fake.drop_next_apple_pay(1);
    assert_eq!(
        started(&app, SHOP, &body).await.status(),
        200,
        "a lost answer is retried"
    );

    app.fake.set_apple_pay_not_an_object(true);
    assert_problem(started(&app, SHOP, &body).await, 502).await;
    app.fake.set_apple_pay_not_an_object(false);

    app.fake.set_apple_pay_latency(Duration::from_secs(3));
    assert_problem(started(&app, SHOP, &body).await, 504).await;
}

#[tokio::test]
async fn payrocs_refusal_of_the_domain_is_a_502_with_its_errors() {
    let app = app_with(|raw| raw.apple_pay.domains = vec![format!("{SHOP}=NOTATFAKE")]).await;

    let response = started(&app, SHOP, &json!({"validationUrl": GLOBAL})).await;

    let problem = assert_problem(response, 502).await;
    assert_eq!(
        problem["errors"][0]["parameter"], "appleDomainId",
        "{problem}"
    );
    assert_eq!(app.fake.apple_pay_calls(), 1, "a rejection is not retried");
}

#[tokio::test]
async fn apple_pay_requests_are_rate_limited_per_client_like_sessions() {
    let app = app_with(|raw| {
        raw.rate_limit.per_second = 1;
        raw.rate_limit.burst = 2;
    })
    .await;
    let body = json!({"validationUrl": GLOBAL});
    for _ in 0..2 {
        assert_eq!(started(&app, SHOP, &body).await.status(), 200);
    }
    let limited = started(&app, SHOP, &body).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429).await;

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"broker_apple_pay_sessions_total{account="default",outcome="created",status="200"} 2"#
        ),
        "{metrics}"
    );
}
