//! No secret in any log line, at any level: a full request cycle under a TRACE subscriber.
//! Its own test binary, because it installs the global subscriber (a thread-local one misses
//! events whose callsite interest other tests' threads cached first).

#[path = "support/capture.rs"]
mod capture;
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/proxy_helpers.rs"]
#[allow(dead_code)]
mod proxy_helpers;
#[path = "api/tenants_helpers.rs"]
#[allow(dead_code)]
mod tenants_helpers;

use serde_json::Value;
use tracing_subscriber::EnvFilter;

use hosted_fields_broker::fake_payroc::IdentityFault;

use capture::Capture;
use helpers::{CALLER_KEY, Options, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_even_at_trace() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("trace"))
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first and only subscriber");
    let app = spawn_app().await;
    let key = "8e03978e-40d5-43e8-bc93-6894a57f9324";

    let response = app
        .session_request(serde_json::json!({"scenario": "tokenization", "secureTokenId": "MREF_1"}))
        .bearer_auth(CALLER_KEY)
        .header("idempotency-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let session_token = response.json::<Value>().await.unwrap()["sessionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.fake.revoke_all_tokens(); // a 401 and a refresh are logged too
    assert_eq!(app.post_session(Value::Null).await.status(), 201);
    app.fake.fail_next_sessions(3, 500); // a 502, logged once with its route and request id
    let failed = app
        .session_request(Value::Null)
        .header("x-request-id", "req-failing-502")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    let bad = app
        .session_request(Value::Null)
        .bearer_auth("wrong-caller-key-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let bearers: Vec<String> = app
        .fake
        .session_requests()
        .iter()
        .filter_map(|r| r.authorization.clone())
        .map(|a| a.trim_start_matches("Bearer ").to_owned())
        .collect();
    assert!(
        logs.contains("session created") && logs.contains("Bearer token refreshed"),
        "the capture works: {}",
        &logs[..logs.len().min(3000)]
    );
    assert!(logs.lines().count() > 50, "TRACE really is on");
    let failure_lines: Vec<_> = logs
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(
        failure_lines.len(),
        1,
        "a 5xx is logged exactly once: {failure_lines:?}"
    );
    assert!(
        failure_lines[0].contains("req-failing-502")
            && failure_lines[0].contains("/hosted-fields/session")
    );
    let mut secrets = vec![
        app.fake.api_key(),
        session_token,
        CALLER_KEY.to_owned(),
        "wrong-caller-key-123456".into(),
        key.to_owned(),
    ];
    secrets.extend(bearers);
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret leaked into the logs: {secret:.6}…"
        );
    }
    logs_cannot_be_amplified(&capture).await;
    tenants_secrets_stay_out(&capture).await;
    proxy_secrets_stay_out(&capture).await;
}

/// The pass-through: one audit line per call naming service, rule, status and attempts, and
/// never the service key, the account's key or tokens, an Idempotency-Key, a query or a body.
async fn proxy_secrets_stay_out(capture: &Capture) {
    use proxy_helpers::{PAYMENTS_KEY, SdkClient, call, spawn_proxy_app};
    use reqwest::Method;
    use tenants_helpers::{ACME_KEY, Scratch};
    let from = capture.0.lock().unwrap().len();
    let scratch = Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let mut sdk = SdkClient::new(&app, PAYMENTS_KEY);
    let body = proxy_helpers::payment("ORD-SECRET-BODY");
    assert_eq!(
        sdk.send(Method::POST, "/payments", Some(body.clone()))
            .await
            .status(),
        201
    );
    let query = "/payments?cardholderName=Secret%20Holder&limit=5";
    assert_eq!(sdk.send(Method::GET, query, None).await.status(), 200);
    app.fake.revoke_tokens_for(ACME_KEY); // a 401 healed with a fresh token
    let healed = sdk
        .send(Method::POST, "/payments", Some(body.clone()))
        .await;
    assert_eq!(healed.status(), 201);
    app.fake.drop_next_api_calls(1); // a keyless POST whose answer is lost: once, 502
    let lost = call(&app, Method::POST, "/payments", PAYMENTS_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 502);

    app.fake.set_api_latency(std::time::Duration::from_secs(2)); // the caller hangs up
    let hung_up = call(&app, Method::GET, "/payments", PAYMENTS_KEY)
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(hung_up.is_err());
    helpers::eventually(std::time::Duration::from_secs(3), || {
        let capture = capture.clone();
        async move {
            String::from_utf8_lossy(&capture.0.lock().unwrap()[from..]).contains("status=499")
        }
    })
    .await;

    let logs = String::from_utf8(capture.0.lock().unwrap()[from..].to_vec()).unwrap();
    let audit: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("payroc api call"))
        .collect();
    assert_eq!(audit.len(), 5, "one audit line per call: {audit:?}");
    assert!(
        audit[0].contains("service=\"payments\"") && audit[0].contains("rule=\"POST /payments\""),
        "{}",
        audit[0]
    );
    assert!(
        audit[2].contains("status=201") && audit[2].contains("attempts=2"),
        "{}",
        audit[2]
    );
    assert!(
        audit[3].contains("status=502") && audit[3].contains("attempts=1"),
        "{}",
        audit[3]
    );
    assert!(
        audit[4].contains("status=499") && audit[4].contains("attempts=1"),
        "a call whose caller hung up is on record: {}",
        audit[4]
    );
    let requests = app.fake.api_requests();
    let mut secrets: Vec<String> = vec![
        PAYMENTS_KEY.into(),
        ACME_KEY.into(),
        "ORD-SECRET-BODY".into(),
        "Secret%20Holder".into(),
        "Secret Holder".into(),
    ];
    secrets.extend(requests.iter().filter_map(|r| r.idempotency_key.clone()));
    secrets.extend(
        requests
            .iter()
            .filter_map(|r| r.authorization.clone())
            .map(|a| a.trim_start_matches("Bearer ").to_owned()),
    );
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret leaked into the logs: {secret:.6}…"
        );
    }
}

/// Many accounts: their API keys, the service key, their tokens, and a key in a tenants file
/// that fails to load never reach a line.
async fn tenants_secrets_stay_out(capture: &Capture) {
    use tenants_helpers::{ACME_KEY, ACME_ORIGIN, GLOBEX_KEY, ORDERS_KEY, Scratch};
    let from = capture.0.lock().unwrap().len();
    let scratch = Scratch::new();
    let app = tenants_helpers::spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let mut tokens = Vec::new();
    for request in [
        app.session_request(Value::Null).bearer_auth(ORDERS_KEY),
        app.session_request(Value::Null)
            .header("origin", ACME_ORIGIN),
        app.session_request(serde_json::json!({"processingTerminalId": "3234001"})),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 201);
        tokens.push(
            response.json::<Value>().await.unwrap()["sessionToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // An Apple Pay merchant session is a credential too.
    let apple = tenants_helpers::acme_apple_pay(&app).send().await.unwrap();
    assert_eq!(apple.status(), 200);
    let merchant_session = apple.json::<Value>().await.unwrap()["merchantSession"].clone();
    for member in [
        "merchantSessionIdentifier",
        "nonce",
        "signature",
        "merchantIdentifier",
    ] {
        tokens.push(merchant_session[member].as_str().unwrap().to_owned());
    }
    app.fake.revoke_tokens_for(ACME_KEY);
    let healed = app
        .session_request(Value::Null)
        .header("origin", ACME_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(healed.status(), 201);
    let leaky = "sk_live_tenants_file_secret_0123";
    let broken = tenants_helpers::tenants_toml(&scratch).replace(
        "api_key = \"acme-api-key\"",
        &format!("api_kee = \"{leaky}\""),
    );
    scratch.write("tenants.toml", &broken);
    helpers::eventually(std::time::Duration::from_secs(5), || {
        let capture = capture.clone();
        async move {
            String::from_utf8_lossy(&capture.0.lock().unwrap()[from..])
                .contains("tenants file rejected")
        }
    })
    .await;
    let logs = String::from_utf8(capture.0.lock().unwrap()[from..].to_vec()).unwrap();
    assert!(
        logs.contains("unknown field `api_kee`"),
        "the line names the problem"
    );
    let bearers = app
        .fake
        .session_requests()
        .into_iter()
        .filter_map(|r| r.authorization);
    let mut secrets: Vec<String> = vec![
        ACME_KEY.into(),
        GLOBEX_KEY.into(),
        ORDERS_KEY.into(),
        leaky.into(),
    ];
    secrets.extend(tokens);
    secrets.extend(bearers.map(|a| a.trim_start_matches("Bearer ").to_owned()));
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a secret leaked into the logs: {secret:.6}…"
        );
    }
}

/// Unready probes are not warnings, over-long request ids are never logged, and a burst of
/// failures writes a bounded number of lines.
async fn logs_cannot_be_amplified(capture: &Capture) {
    let from = capture.0.lock().unwrap().len();
    let unready = spawn_app_with(Options {
        prepare: Box::new(|fake| fake.set_identity_fault(IdentityFault::RejectKey)),
        ..Options::default()
    })
    .await;
    let long_id = "x".repeat(10_000);
    for _ in 0..50 {
        let probe = unready
            .client
            .get(unready.url("/readyz"))
            .header("x-request-id", &long_id)
            .send()
            .await
            .unwrap();
        assert_eq!(probe.status(), 503);
        assert_ne!(probe.headers()["x-request-id"], long_id.as_str());
    }
    for _ in 0..100 {
        assert_eq!(unready.post_session(Value::Null).await.status(), 503);
    }
    let logs = String::from_utf8(capture.0.lock().unwrap()[from..].to_vec()).unwrap();
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(
        !warnings.iter().any(|l| l.contains("/readyz")),
        "an unready probe is not a warning: {warnings:?}"
    );
    assert!(
        !logs.contains(&long_id[..200]),
        "an over-long id is never logged"
    );
    let failed = warnings
        .iter()
        .filter(|l| l.contains("request failed"))
        .count();
    assert!(
        (1..=40).contains(&failed),
        "100 failures in about a second write at most 20 lines a second: {failed}"
    );
}
