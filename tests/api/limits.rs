//! The per-IP rate limit (with forged `X-Forwarded-For`), internal-caller exemption, load
//! shedding, and CORS on successes and errors alike.

use serde_json::Value;

use crate::helpers::{CALLER_KEY, Options, TestApp, assert_problem, spawn_app, spawn_app_with};

/// Rate limit 1/s with a burst of 2; `trusted` lists the proxies whose XFF is believed.
async fn limited_app(trusted: &'static [&'static str]) -> TestApp {
    spawn_app_with(Options {
        settings: Box::new(move |raw| {
            raw.rate_limit.per_second = 1;
            raw.rate_limit.burst = 2;
            raw.rate_limit.trusted_proxies = trusted.iter().map(|s| (*s).to_owned()).collect();
        }),
        ..Options::default()
    })
    .await
}

async fn post_from(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.session_request(Value::Null);
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn over_the_limit_is_429_with_retry_after_and_never_reaches_payroc() {
    let app = limited_app(&[]).await;
    assert_eq!(post_from(&app, None).await.status(), 201);
    assert_eq!(post_from(&app, None).await.status(), 201);

    let response = post_from(&app, None).await;

    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, 429).await;
    assert_eq!(app.fake.session_calls(), 2);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 200, "{path} is never limited");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("broker_rate_limited_total 1"), "{metrics}");
}

#[tokio::test]
async fn forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = limited_app(&[]).await;
    // Each request claims another client; the peer (127.0.0.1) is not a trusted proxy.
    let statuses: Vec<u16> = futures_util::future::join_all(
        ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"].map(|ip| post_from(&app, Some(ip))),
    )
    .await
    .iter()
    .map(|r| r.status().as_u16())
    .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_clients_are_told_apart_by_the_rightmost_entry() {
    let app = limited_app(&["127.0.0.1/32"]).await;
    for _ in 0..2 {
        assert_eq!(post_from(&app, Some("198.51.100.7")).await.status(), 201);
    }
    assert_eq!(post_from(&app, Some("198.51.100.7")).await.status(), 429);
    // A forged leftmost entry does not buy a fresh bucket: the proxy appended the real one.
    assert_eq!(
        post_from(&app, Some("9.9.9.9, 198.51.100.7"))
            .await
            .status(),
        429
    );
    // Another real client is unaffected.
    assert_eq!(post_from(&app, Some("203.0.113.5")).await.status(), 201);
}

#[tokio::test]
async fn internal_callers_are_exempt_but_a_bad_key_is_still_401() {
    let app = limited_app(&[]).await;
    for _ in 0..5 {
        let response = app
            .session_request(Value::Null)
            .bearer_auth(CALLER_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let bad = app
        .session_request(Value::Null)
        .bearer_auth("wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed_with_503() {
    let app = spawn_app_with(Options {
        settings: Box::new(|raw| raw.server.max_in_flight = 2),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app.fake
        .set_session_latency(std::time::Duration::from_millis(500));

    let responses = futures_util::future::join_all((0..5).map(|_| post_from(&app, None))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
    let shed: Vec<_> = responses
        .into_iter()
        .filter(|r| r.status() == 503)
        .collect();
    assert_eq!(shed.len(), 3);
    for response in shed {
        assert!(response.headers().contains_key("retry-after"));
        let body = assert_problem(response, 503).await;
        assert!(body["type"].as_str().unwrap().ends_with("overloaded"));
    }
}

#[tokio::test]
async fn default_limits_serve_a_burst_of_a_thousand() {
    let app = spawn_app_with(Options {
        settings: Box::new(|raw| raw.payroc.deadline_ms = 10_000),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1000)
        .build()
        .unwrap();
    let url = app.url("/hosted-fields/session");
    let responses =
        futures_util::future::join_all((0..1000).map(|_| client.post(&url).send())).await;
    let created = responses
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 201))
        .count();
    assert_eq!(created, 1000);
}

const SHOP: &str = "https://shop.example.com";

async fn cors_app() -> TestApp {
    spawn_app_with(Options {
        settings: Box::new(|raw| {
            raw.cors.allowed_origins = vec![SHOP.into()];
            raw.rate_limit.per_second = 1;
            raw.rate_limit.burst = 1;
        }),
        ..Options::default()
    })
    .await
}

/// With no origin allowed (the default), no cross-origin call could succeed, so answers
/// carry no CORS headers at all (nor `Vary: origin`) and a preflight is refused.
#[tokio::test]
async fn without_allowed_origins_answers_carry_no_cors_headers() {
    let app = spawn_app().await;
    app.wait_ready().await;
    let ok = app
        .session_request(Value::Null)
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    for name in [
        "access-control-allow-origin",
        "access-control-expose-headers",
        "vary",
    ] {
        assert!(
            !ok.headers().contains_key(name),
            "{name}: {:?}",
            ok.headers()
        );
    }
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/hosted-fields/session"))
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_problem(preflight, 405).await;
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_grants_the_session_call() {
    let app = cors_app().await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/hosted-fields/session"))
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("idempotency-key") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
}

#[tokio::test]
async fn successes_and_errors_carry_cors_headers_for_the_allowed_origin_only() {
    let app = cors_app().await;
    app.wait_ready().await;
    let from = |origin: &str| {
        app.session_request(Value::Null)
            .header("origin", origin)
            .send()
    };

    let ok = from(SHOP).await.unwrap();
    assert_eq!(ok.status(), 201);
    assert_eq!(ok.headers()["access-control-allow-origin"], SHOP);
    let exposed = ok.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("date"),
        "{exposed}"
    );

    let limited = from(SHOP).await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(
        limited.headers()["access-control-allow-origin"],
        SHOP,
        "errors are readable by the page"
    );
    let not_found = app
        .client
        .get(app.url("/nope"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.headers()["access-control-allow-origin"], SHOP);

    let evil = from("https://evil.example.com").await.unwrap();
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let evil_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/hosted-fields/session"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        !evil_preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn a_wrong_caller_key_gets_no_free_guesses_past_the_limit() {
    let app = limited_app(&[]).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let guess = app
            .session_request(Value::Null)
            .bearer_auth("guess-0123456789abcdef");
        statuses.push(guess.send().await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 429],
        "a bad key is refused, and rate limited like anyone"
    );
}
