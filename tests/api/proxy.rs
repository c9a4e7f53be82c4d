//! The Payroc API for internal services: an SDK-like client works through the broker with a
//! service key; the broker adds its account's token, passes Payroc's answers back unchanged,
//! and confines every service to its rules, its account and the pass-through.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{CALLER_KEY, TestApp, assert_problem};
use crate::proxy_helpers::{
    PAYMENTS_KEY, READER_KEY, SdkClient, call, new_key, payment, payment_for, post_payment, raw,
    spawn_proxy_app,
};
use crate::tenants_helpers::{ACME_KEY, GLOBEX_KEY, ORDERS_KEY, Scratch};

async fn authorize(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/payroc/authorize"));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn authorize_answers_a_service_key_with_itself_and_nothing_else() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let identity_calls = app.fake.identity_calls();

    let response = authorize(&app, Some(PAYMENTS_KEY)).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"access_token": PAYMENTS_KEY, "expires_in": 3600, "token_type": "Bearer"})
    );
    // An operator's key, Payroc's own API key, a wrong key and none are all 401.
    for key in [Some(CALLER_KEY), Some(ACME_KEY), Some("nope"), None] {
        assert_problem(authorize(&app, key).await, 401).await;
    }
    assert_eq!(
        app.fake.identity_calls(),
        identity_calls,
        "identity never called"
    );
}

#[tokio::test]
async fn an_sdk_like_client_pays_reads_lists_and_refunds_through_the_broker() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let mut sdk = SdkClient::new(&app, PAYMENTS_KEY);

    let created = sdk
        .send(Method::POST, "/payments", Some(payment("ORD-1")))
        .await;
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = created.json().await.unwrap();
    let id = created["paymentId"].as_str().unwrap().to_owned();
    assert!(location.ends_with(&format!("/payments/{id}")), "{location}");

    let read = sdk
        .send(Method::GET, &format!("/payments/{id}"), None)
        .await;
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.json::<Value>().await.unwrap()["paymentId"],
        id.as_str()
    );

    sdk.age(std::time::Duration::from_secs(3600));
    let query = "/payments?processingTerminalId=2234001&orderId=ORD-1&limit=5";
    let listed = sdk.send(Method::GET, query, None).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(sdk.authorizations, 2, "re-authorized after expires_in");
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["data"][0]["paymentId"], id.as_str());

    let refund = json!({"amount": 1000, "description": "damaged"});
    let refunded = sdk
        .send(
            Method::POST,
            &format!("/payments/{id}/refund"),
            Some(refund),
        )
        .await;
    assert_eq!(refunded.status(), 200);
    assert_eq!(app.fake.refunds_created(), 1);

    // Every call reached Payroc with acme's token and only the allowed headers.
    let requests = app.fake.api_requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.api_key.as_deref(), Some(ACME_KEY));
        assert!(
            !request
                .authorization
                .as_deref()
                .unwrap()
                .contains(PAYMENTS_KEY)
        );
        assert_eq!(request.x_api_key, None);
        assert_eq!(request.cookie, None);
    }
    assert_eq!(
        requests[2].query.as_deref(),
        Some(&query["/payments?".len()..])
    );
    assert!(requests[0].idempotency_key.is_some() && requests[3].idempotency_key.is_some());
}

#[tokio::test]
async fn payroc_answers_come_back_unchanged_with_only_the_listed_headers() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;

    // Payroc's own 400, with its errors, reaches the SDK as Payroc wrote it.
    let invalid = post_payment(&app, &json!({"channel": "web"})).await;
    assert_eq!(invalid.status(), 400);
    for dropped in ["set-cookie", "keep-alive", "x-payroc-trace"] {
        assert!(
            !invalid.headers().contains_key(dropped),
            "{dropped} passed back"
        );
    }
    let problem: Value = invalid.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.payroc.com/"),
        "{problem}"
    );
    assert!(
        problem["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{problem}"
    );

    // A 404 of Payroc is Payroc's, not the broker's "no such route".
    let missing = call(&app, Method::GET, "/payments/NOSUCHPAYM", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let problem: Value = missing.json().await.unwrap();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.payroc.com/"),
        "{problem}"
    );

    // The same Idempotency-Key for another body: Payroc's 409, passed back as it is.
    let key = new_key();
    for (order, status) in [("ORD-A", 201), ("ORD-B", 409)] {
        let response = call(&app, Method::POST, "/payments", PAYMENTS_KEY)
            .header("idempotency-key", &key)
            .json(&payment(order))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
}

#[tokio::test]
async fn a_service_cannot_reach_another_accounts_token_or_payments() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let created: Value = post_payment(&app, &payment("ORD-1"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["paymentId"].as_str().unwrap();

    // payments (acme) asking for globex's terminal: sent with acme's token, Payroc refuses it.
    let foreign = post_payment(&app, &payment_for("3234001", "ORD-2")).await;
    assert_eq!(foreign.status(), 403);
    assert_eq!(
        app.fake.api_requests().last().unwrap().api_key.as_deref(),
        Some(ACME_KEY)
    );

    // globex-reader reading acme's payment: globex's token, so Payroc's 404.
    let read = call(&app, Method::GET, &format!("/payments/{id}"), READER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 404);
    assert_eq!(
        app.fake.api_requests().last().unwrap().api_key.as_deref(),
        Some(GLOBEX_KEY)
    );
}

#[tokio::test]
async fn a_service_is_confined_to_its_rules_and_the_pass_through() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;

    for (method, path) in [
        (Method::DELETE, "/payments/M2MJOG6O2Y"),
        (Method::GET, "/secure-tokens"),
        (Method::POST, "/payments/M2MJOG6O2Y/capture"),
        (Method::GET, "/payments/M2MJOG6O2Y/refunds/1"),
    ] {
        let response = call(&app, method.clone(), path, PAYMENTS_KEY)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 403).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("{method} {path}")), "{detail}");
    }
    // Only a service key opens the pass-through: not an operator's, not Payroc's own key.
    for key in [CALLER_KEY, ACME_KEY, "payments-service-key-012345678X"] {
        let response = call(&app, Method::GET, "/payments/X", key)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
    }
    let anonymous = app
        .client
        .get(app.url("/payroc/v1/payments/X"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401).await;
    // ... and a service key opens nothing else: not /status, not another account's sessions.
    let status = app
        .client
        .get(app.url("/status"))
        .bearer_auth(PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(status, 401).await;
    let session = app
        .session_request(json!({"processingTerminalId": "3234001"}))
        .bearer_auth(PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(session, 403).await;
    // A service without rules for the pass-through (orders: GET /payments/* only) gets 403.
    let orders = call(&app, Method::POST, "/payments", ORDERS_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(orders, 403).await;
    assert_eq!(app.fake.api_calls(), 0, "nothing reached Payroc");
}

#[tokio::test]
async fn unsafe_paths_are_400_before_any_rule_is_matched() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    for path in [
        "/payments/../secure-tokens",
        "/payments/./X",
        "/payments//X",
        "/payments/X/",
        "/payments/%2F..%2Fsecure-tokens",
        "/payments/%2f",
        "/payments/%5C",
        "/payments/%2e%2E",
        "/payments/X%00",
        "/payments/X\\Y",
        "/payments/%zz",
    ] {
        let request = format!(
            "GET /payroc/v1{path} HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {READER_KEY}\r\nConnection: close\r\n\r\n"
        );
        let (status, body) = raw(&app, &request).await;
        assert_eq!(status, 400, "{path}: {body}");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["errors"][0]["parameter"], "path", "{path}");
    }
    assert_eq!(app.fake.api_calls(), 0, "nothing reached Payroc");

    // Other escapes are forwarded exactly as written.
    let response = call(&app, Method::GET, "/payments/J%C3%B6rg", READER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(app.fake.api_requests()[0].path, "/v1/payments/J%C3%B6rg");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_and_answers_over_theirs_502() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |raw| {
        raw.proxy.body_limit_bytes = 1024;
        raw.proxy.response_limit_bytes = 600;
    })
    .await;
    let big = json!({"channel": "web", "padding": "x".repeat(2000)});
    let declared = post_payment(&app, &big).await;
    assert_problem(declared, 413).await;
    let chunk = format!("200\r\n{}\r\n", " ".repeat(0x200));
    let chunked = format!(
        "POST /payroc/v1/payments HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer {PAYMENTS_KEY}\r\n\
         Idempotency-Key: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{}0\r\n\r\n",
        new_key(),
        chunk.repeat(4)
    );
    assert_eq!(raw(&app, &chunked).await.0, 413);
    assert_eq!(app.fake.api_calls(), 0);

    for order in ["ORD-1", "ORD-2", "ORD-3"] {
        let response = post_payment(&app, &payment(order)).await;
        assert_eq!(response.status(), 201);
    }
    let listed = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .send()
        .await
        .unwrap();
    assert_problem(listed, 502).await;
}

#[tokio::test]
async fn calls_are_counted_by_service_rule_and_status_class() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let created = post_payment(&app, &payment("ORD-1")).await;
    assert_eq!(created.status(), 201);
    let refused = call(&app, Method::GET, "/payments/X", "wrong-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let metrics = app.get("/metrics").await.text().await.unwrap();

    for line in [
        r#"broker_proxy_requests_total{service="payments",rule="POST /payments",status_class="2xx"} 1"#,
        r#"broker_proxy_requests_total{service="",rule="",status_class="4xx"} 1"#,
        r#"broker_proxy_request_duration_seconds_count{rule="POST /payments"} 1"#,
        r#"broker_upstream_request_duration_seconds_count{endpoint="api",status_class="2xx"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}

#[tokio::test]
async fn only_the_allowed_headers_reach_payroc() {
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    let response = call(&app, Method::GET, "/payments?limit=1", PAYMENTS_KEY)
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=1")
        .header("accept", "application/json")
        .header("cookie", "session=abc")
        .header("x-api-key", PAYMENTS_KEY)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-custom", "1")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let seen = &app.fake.api_requests()[0];
    assert_eq!(seen.traceparent.as_deref(), Some(traceparent));
    assert_eq!(seen.tracestate.as_deref(), Some("vendor=1"));
    assert_eq!(seen.accept.as_deref(), Some("application/json"));
    for name in &seen.header_names {
        assert!(
            [
                "authorization",
                "accept",
                "traceparent",
                "tracestate",
                "host",
                "user-agent"
            ]
            .contains(&name.as_str()),
            "{name} reached Payroc"
        );
    }
}
