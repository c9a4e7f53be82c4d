//! The browser helper served by the broker, and the fake Payroc's CDN stand-in and controls.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha384};

use crate::helpers::spawn_app;

#[tokio::test]
async fn broker_js_is_served_as_a_module_with_an_etag_and_revalidates_with_304() {
    let app = spawn_app().await;
    let first = app.get("/hosted-fields/broker.js").await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = first.headers()["etag"].clone();
    assert_eq!(
        first.text().await.unwrap(),
        hosted_fields_broker::routes::assets::BROKER_JS
    );

    let again = app
        .client
        .get(app.url("/hosted-fields/broker.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn broker_d_ts_is_served_beside_the_module_with_the_same_caching() {
    let app = spawn_app().await;
    let js = app.get("/hosted-fields/broker.js").await;
    let first = app.get("/hosted-fields/broker.d.ts").await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/typescript")
    );
    for name in [
        "cache-control",
        "access-control-allow-origin",
        "cross-origin-resource-policy",
    ] {
        assert_eq!(first.headers()[name], js.headers()[name], "{name}");
    }
    let etag = first.headers()["etag"].clone();
    assert_ne!(etag, js.headers()["etag"], "each file has its own ETag");
    let body = first.text().await.unwrap();
    assert_eq!(body, hosted_fields_broker::routes::assets::BROKER_D_TS);
    for declaration in [
        "export declare function createCheckout(",
        "export declare function createApplePay(",
        "export declare class CheckoutProblem",
    ] {
        assert!(body.contains(declaration), "{declaration}");
    }

    let again = app
        .client
        .get(app.url("/hosted-fields/broker.d.ts"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test]
async fn broker_js_is_importable_from_any_origin_with_exactly_one_allow_origin() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        settings: Box::new(|raw| {
            raw.cors.allowed_origins = vec!["https://shop.example.com".into()];
        }),
        ..Default::default()
    })
    .await;
    for (origin, expected) in [
        ("https://elsewhere.example.com", "*"),
        ("https://shop.example.com", "https://shop.example.com"),
    ] {
        let response = app
            .client
            .get(app.url("/hosted-fields/broker.js"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        let values: Vec<_> = response
            .headers()
            .get_all("access-control-allow-origin")
            .iter()
            .collect();
        assert_eq!(values, [expected], "{origin}");
    }
}

#[tokio::test]
async fn fake_cdn_serves_the_standin_whose_sri_matches_its_bytes() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.fake.script_url("1.7.0.261457"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let bytes = response.bytes().await.unwrap();
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&bytes))
    );
    assert_eq!(sri, hosted_fields_broker::fake_payroc::standin_integrity());
}

#[tokio::test]
async fn fake_controls_inject_faults_and_report_counters() {
    let app = spawn_app().await;
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    let control = app.fake.control_url();

    let report: Value = app
        .client
        .post(control.clone())
        .json(&json!({"failNextSessions": 1, "failStatus": 500}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["sessionsCreated"], 1);
    assert_eq!(report["idempotencyKeys"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.post_session(Value::Null).await.status(),
        201,
        "retried past the injected 500"
    );
    let report: Value = app
        .client
        .get(control.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["sessionCalls"], 3);
    let bad = app
        .client
        .post(control)
        .json(&json!({"identityFault": "sometimes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
