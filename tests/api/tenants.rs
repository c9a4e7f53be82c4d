//! Many accounts in one broker: each terminal's session uses its own account's token, one
//! account's trouble never reaches another, browsers are bound to their shop's origins,
//! services to their account, and `/status` shows it all without a secret.

use std::time::Duration;

use hosted_fields_broker::fake_payroc::IdentityFault;
use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, TestApp, assert_problem, eventually};
use crate::tenants_helpers::{
    ACME_KEY, ACME_ORIGIN, GLOBEX_KEY, ORDERS_KEY, Scratch, spawn_tenants_app,
};

async fn session(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.session_request(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The API key whose token made the fake's last session request.
fn last_key(app: &TestApp) -> Option<String> {
    app.fake
        .session_requests()
        .last()
        .and_then(|r| r.api_key.clone())
}

#[tokio::test]
async fn each_terminal_uses_its_own_accounts_token() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let cases = [
        (
            json!({"processingTerminalId": "2234002"}),
            ACME_ORIGIN,
            ACME_KEY,
            "2234002",
        ),
        (Value::Null, ACME_ORIGIN, ACME_KEY, "2234001"),
        (
            json!({"processingTerminalId": "3234001"}),
            "https://any.example",
            GLOBEX_KEY,
            "3234001",
        ),
        (
            Value::Null,
            "https://any.example",
            "demo-api-key",
            "1234001",
        ),
    ];
    for (body, origin, key, terminal) in cases {
        let response = session(&app, body, &[("origin", origin)]).await;
        assert_eq!(response.status(), 201);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["processingTerminalId"], terminal);
        assert_eq!(last_key(&app).as_deref(), Some(key), "{terminal}");
    }
}

#[tokio::test]
async fn browsers_are_bound_to_their_shops_origins_and_nothing_reaches_payroc() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let body = json!({"processingTerminalId": "2234001"});
    for headers in [&[("origin", "https://evil.example")][..], &[]] {
        let problem = assert_problem(session(&app, body.clone(), headers).await, 403).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("origin"),
            "{problem}"
        );
    }
    assert_eq!(app.fake.session_calls(), 0);
    // CORS answers the shop's origin, not others.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/hosted-fields/session"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight(ACME_ORIGIN).await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], ACME_ORIGIN);
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn services_mint_only_for_their_account_operators_for_any() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let service = format!("Bearer {ORDERS_KEY}");
    let operator = format!("Bearer {CALLER_KEY}");
    let own = session(&app, Value::Null, &[("authorization", &service)]).await;
    assert_eq!(own.status(), 201);
    assert_eq!(last_key(&app).as_deref(), Some(ACME_KEY));
    let with_card = json!({"processingTerminalId": "2234002", "secureTokenId": "MREF_1"});
    assert_eq!(
        session(&app, with_card, &[("authorization", &service)])
            .await
            .status(),
        201
    );
    let calls = app.fake.session_calls();
    for terminal in ["3234001", "1234001"] {
        let body = json!({"processingTerminalId": terminal});
        assert_problem(
            session(&app, body, &[("authorization", &service)]).await,
            403,
        )
        .await;
    }
    assert_eq!(
        app.fake.session_calls(),
        calls,
        "refusals never reach Payroc"
    );
    let body = json!({"processingTerminalId": "3234001"});
    assert_eq!(
        session(&app, body, &[("authorization", &operator)])
            .await
            .status(),
        201
    );
    let wrong = session(
        &app,
        Value::Null,
        &[("authorization", "Bearer orders-service-key-wrong")],
    )
    .await;
    assert_problem(wrong, 401).await;
}

#[tokio::test]
async fn a_rejected_key_leaves_the_other_accounts_serving_and_ready() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, "globex-wrong-key", |_| {}).await;
    app.wait_ready().await;
    let acme = session(
        &app,
        json!({"processingTerminalId": "2234001"}),
        &[("origin", ACME_ORIGIN)],
    )
    .await;
    assert_eq!(acme.status(), 201);
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    let globex = app
        .post_session(json!({"processingTerminalId": "3234001"}))
        .await;
    assert_problem(globex, 503).await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["accounts"]["total"], 3, "{ready}");
    assert_eq!(ready["accounts"]["tokens"]["rejected"], 1, "{ready}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"broker_token_key_rejected{account="globex"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"broker_token_key_rejected{account="acme"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"broker_token_usable{account="acme"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"broker_sessions_total{account="acme",outcome="created",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"broker_sessions_total{account="globex",outcome="failed",status="503"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn one_accounts_identity_outage_is_its_own() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.fake.set_identity_fault_for(
        ACME_KEY,
        IdentityFault::Status {
            status: 503,
            retry_after_secs: None,
        },
    );
    app.wait_ready().await;
    // The fault may have landed after acme's first token: drop it, so acme must refetch.
    app.fake.revoke_tokens_for(ACME_KEY);
    let acme = session(
        &app,
        json!({"processingTerminalId": "2234001"}),
        &[("origin", ACME_ORIGIN)],
    )
    .await;
    assert!(
        matches!(acme.status().as_u16(), 502 | 503),
        "{}",
        acme.status()
    );
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    let globex = app
        .post_session(json!({"processingTerminalId": "3234001"}))
        .await;
    assert_eq!(globex.status(), 201);
    // Identity back: acme heals by itself.
    app.fake
        .set_identity_fault_for(ACME_KEY, IdentityFault::None);
    eventually(Duration::from_secs(5), || async {
        session(&app, Value::Null, &[("origin", ACME_ORIGIN)])
            .await
            .status()
            == 201
    })
    .await;
}

#[tokio::test]
async fn a_401_heals_only_the_account_it_came_from() {
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let before = |key| app.fake.identity_calls_for(key);
    let (acme, globex, default) = (before(ACME_KEY), before(GLOBEX_KEY), before("demo-api-key"));
    app.fake.revoke_tokens_for(ACME_KEY);
    let healed = session(&app, Value::Null, &[("origin", ACME_ORIGIN)]).await;
    assert_eq!(healed.status(), 201);
    assert_eq!(app.fake.identity_calls_for(ACME_KEY), acme + 1);
    assert_eq!(
        app.post_session(json!({"processingTerminalId": "3234001"}))
            .await
            .status(),
        201
    );
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    assert_eq!(app.fake.identity_calls_for(GLOBEX_KEY), globex);
    assert_eq!(app.fake.identity_calls_for("demo-api-key"), default);
}
