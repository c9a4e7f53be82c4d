//! `GET /status`: operators only on the public listener, every account and service, and never
//! a secret.

use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, assert_problem};
use crate::tenants_helpers::{ACME_KEY, GLOBEX_KEY, ORDERS_KEY, Scratch, spawn_tenants_app};

#[tokio::test]
async fn status_shows_accounts_and_services_to_operators_only_and_no_secret() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, "globex-wrong-key", |_| {}).await;
    app.wait_ready().await;
    assert_problem(app.get("/status").await, 401).await;
    for refused in [
        format!("Bearer {ORDERS_KEY}"),
        "Bearer nope-nope-nope-nope".into(),
    ] {
        let response = app
            .client
            .get(app.url("/status"))
            .header("authorization", refused)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
    }
    let response = app
        .client
        .get(app.url("/status"))
        .header("authorization", format!("Bearer {CALLER_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for secret in [
        ACME_KEY,
        GLOBEX_KEY,
        "globex-wrong-key",
        ORDERS_KEY,
        "demo-api-key",
        CALLER_KEY,
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let status: Value = serde_json::from_str(&text).unwrap();
    let accounts = status["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "acme", "globex"]);
    assert_eq!(accounts[1]["terminals"], 2);
    assert_eq!(accounts[1]["token"]["state"], "valid");
    assert_eq!(accounts[2]["token"]["state"], "rejected");
    assert_eq!(accounts[2]["token"]["lastError"], "key rejected");
    assert!(
        accounts[2]["token"]["nextAttemptInSeconds"].is_u64(),
        "{status}"
    );
    assert_eq!(
        status["services"],
        json!([{"name": "orders", "account": "acme", "rules": 1}])
    );
    assert!(
        status["tenants"]["file"]
            .as_str()
            .unwrap()
            .ends_with("tenants.toml")
    );
    assert!(status["tenants"]["lastAppliedAt"].is_string());
    assert!(status["tenants"]["lastError"].is_null());
}
