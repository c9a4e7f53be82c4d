//! OpenTelemetry traces, end to end: brokers in this process export to an in-test OTLP/HTTP
//! receiver, and the spans it decodes are checked against the requests made and what the fake
//! Payroc saw. Its own test binary, because tracing installs the global subscriber; each test
//! follows its own trace ids, so they may run at once. The binary's own switch (no `OTEL_*`
//! variable, no traces) is tested on the real binary at the end.

#[path = "support/capture.rs"]
mod capture;
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/proxy_helpers.rs"]
#[allow(dead_code)]
mod proxy_helpers;
#[path = "otlp/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "api/tenants_helpers.rs"]
#[allow(dead_code)]
mod tenants_helpers;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use hosted_fields_broker::{
    config::LogFormat,
    telemetry::{self, TraceSettings},
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::Method;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

use capture::Capture;
use helpers::{CALLER_KEY, Options, spawn_app, spawn_app_with};
use receiver::{ExportedSpan, Receiver, parse_traceparent, traceparent};

struct Tracing {
    receiver: Receiver,
    logs: Capture,
}

/// Tracing on for the whole process, once: the receiver, then the global subscriber with
/// the production log filter and the traces layer exporting to it every 50 ms.
fn tracing_on() -> &'static Tracing {
    static TRACING: OnceLock<Tracing> = OnceLock::new();
    TRACING.get_or_init(|| {
        let receiver = Receiver::start();
        let logs = Capture::default();
        let mut settings = TraceSettings::new(receiver.endpoint());
        settings.schedule_delay = Duration::from_millis(50);
        let telemetry = telemetry::install(
            LogFormat::Json,
            EnvFilter::new(telemetry::DEFAULT_FILTER),
            logs.clone(),
            Some(&settings),
        )
        .expect("the first and only subscriber");
        assert!(telemetry::enabled());
        // The provider lives as long as the process.
        std::mem::forget(telemetry);
        Tracing { receiver, logs }
    })
}

fn one<'a>(spans: &'a [ExportedSpan], name: &str) -> &'a ExportedSpan {
    let named: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(named.len(), 1, "one {name:?} span in {spans:#?}");
    named[0]
}

fn attempts<'a>(spans: &'a [ExportedSpan], operation: &str) -> Vec<&'a ExportedSpan> {
    let mut attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.str("payroc.operation") == Some(operation))
        .collect();
    attempts.sort_by_key(|s| s.int("payroc.attempt"));
    attempts
}

const SESSION_ATTEMPT: &str =
    "POST /processing-terminals/{processingTerminalId}/hosted-fields-sessions";

/// The server span of a request made under `parent`, continuing its trace.
fn server_span<'a>(spans: &'a [ExportedSpan], name: &str, parent: &str) -> &'a ExportedSpan {
    let server = one(spans, name);
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(
        server.parent_span_id, parent,
        "the caller's span is the parent"
    );
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_request_continues_the_callers_trace_with_a_token_wait_and_an_attempt_span() {
    let tracing = tracing_on();
    // Identity answers slowly: the request arrives before the first token and waits for it.
    let app = spawn_app_with(Options {
        prepare: Box::new(|fake| fake.set_identity_latency(Duration::from_millis(400))),
        ..Options::default()
    })
    .await;
    let (trace_id, parent, header) = traceparent();
    let response = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 3)
        .await;
    assert_eq!(spans.len(), 3, "server, token wait, attempt: {spans:#?}");
    let server = server_span(&spans, "POST /hosted-fields/session", &parent);
    assert_eq!(server.str("http.route"), Some("/hosted-fields/session"));
    assert_eq!(server.str("http.request.method"), Some("POST"));
    assert_eq!(server.int("http.response.status_code"), Some(201));
    assert!(!server.failed);
    let wait = one(&spans, "token wait");
    assert_eq!(wait.parent_span_id, server.span_id);
    assert_eq!(wait.str("broker.token.outcome"), Some("ready"));
    let attempt = one(&spans, SESSION_ATTEMPT);
    assert_eq!(attempt.kind, SpanKind::Client);
    assert_eq!(attempt.parent_span_id, server.span_id);
    assert_eq!(attempt.str("payroc.operation"), Some("create_session"));
    assert_eq!(attempt.int("payroc.attempt"), Some(1));
    assert_eq!(attempt.int("http.response.status_code"), Some(201));
    assert!(!attempt.failed);
    for span in &spans {
        assert_eq!(
            span.str("service.name"),
            None,
            "a resource attribute, not the span's"
        );
        assert!(
            span.resource.iter().any(|(k, v)| k == "service.name"
                && *v
                    == opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        "hosted-fields-broker".into()
                    )),
            "{:?}",
            span.resource
        );
    }

    let sent = app.fake.session_requests();
    assert_eq!(sent.len(), 1);
    let upstream = sent[0]
        .traceparent
        .as_deref()
        .expect("Payroc gets a traceparent");
    assert_eq!(
        upstream,
        format!("00-{trace_id}-{}-01", attempt.span_id),
        "Payroc's parent is the attempt span, in the caller's trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_session_has_one_attempt_span_per_attempt_each_sent_as_traceparent() {
    let tracing = tracing_on();
    let app = spawn_app().await;
    app.wait_ready().await;
    app.fake.fail_next_sessions(1, 503);
    let (trace_id, parent, header) = traceparent();
    let response = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 3)
        .await;
    let server = server_span(&spans, "POST /hosted-fields/session", &parent);
    assert!(
        spans.iter().all(|s| s.name != "token wait"),
        "a held token is no wait"
    );
    let attempts = attempts(&spans, "create_session");
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    for (number, attempt) in (1..).zip(&attempts) {
        assert_eq!(attempt.int("payroc.attempt"), Some(number));
        assert_eq!(attempt.parent_span_id, server.span_id);
    }
    assert_eq!(attempts[0].int("http.response.status_code"), Some(503));
    assert_eq!(attempts[0].str("error.type"), Some("transient"));
    assert!(attempts[0].failed);
    assert_eq!(attempts[1].int("http.response.status_code"), Some(201));
    assert!(!attempts[1].failed);
    let seen: Vec<_> = app
        .fake
        .session_requests()
        .into_iter()
        .map(|r| parse_traceparent(&r.traceparent.expect("a traceparent each time")))
        .collect();
    assert_eq!(
        seen,
        attempts
            .iter()
            .map(|a| (trace_id.clone(), a.span_id.clone()))
            .collect::<Vec<_>>(),
        "each attempt sent its own span as the parent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_shows_as_a_refused_attempt_a_token_wait_and_the_replay() {
    let tracing = tracing_on();
    let app = spawn_app().await;
    app.wait_ready().await;
    app.fake.revoke_all_tokens();
    let (trace_id, parent, header) = traceparent();
    let response = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 4)
        .await;
    let server = server_span(&spans, "POST /hosted-fields/session", &parent);
    let attempts = attempts(&spans, "create_session");
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    assert_eq!(attempts[0].int("http.response.status_code"), Some(401));
    assert_eq!(attempts[0].str("error.type"), Some("unauthorized"));
    assert_eq!(
        attempts[1].int("payroc.attempt"),
        Some(2),
        "the replay counts"
    );
    assert_eq!(attempts[1].int("http.response.status_code"), Some(201));
    let wait = one(&spans, "token wait");
    assert_eq!(wait.parent_span_id, server.span_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_refreshes_are_traces_of_their_own_and_identity_gets_their_traceparent() {
    let tracing = tracing_on();
    let app = spawn_app().await;
    app.wait_ready().await;
    let sent = app.fake.identity_traceparents();
    assert_eq!(sent.len(), 1, "one fetch, with a traceparent: {sent:?}");
    let (trace_id, parent) = parse_traceparent(&sent[0]);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 2)
        .await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let refresh = one(&spans, "token refresh");
    assert_eq!(refresh.parent_span_id, "", "a root: no request's trace");
    assert_eq!(refresh.kind, SpanKind::Internal);
    assert_eq!(refresh.str("broker.account"), Some("default"));
    assert_eq!(refresh.str("broker.token.refresh.outcome"), Some("success"));
    let call = one(&spans, "POST /authorize");
    assert_eq!(call.kind, SpanKind::Client);
    assert_eq!(call.span_id, parent, "identity's parent is the call's span");
    assert_eq!(call.parent_span_id, refresh.span_id);
    assert_eq!(call.str("payroc.operation"), Some("authorize"));
    assert_eq!(call.int("payroc.attempt"), Some(1));
    assert_eq!(call.int("http.response.status_code"), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_through_sends_its_own_attempt_as_the_child_of_the_callers_trace() {
    use proxy_helpers::{PAYMENTS_KEY, call, spawn_proxy_app};
    let tracing = tracing_on();
    let scratch = tenants_helpers::Scratch::new();
    let app = spawn_proxy_app(&scratch, |_| {}).await;
    let (trace_id, parent, header) = traceparent();
    let response = call(&app, Method::GET, "/payments?limit=5", PAYMENTS_KEY)
        .header("traceparent", &header)
        .header("tracestate", "vendor=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 2)
        .await;
    let server = server_span(&spans, "GET /payroc/v1/{*path}", &parent);
    assert_eq!(server.str("http.route"), Some("/payroc/v1/{*path}"));
    assert_eq!(server.int("http.response.status_code"), Some(200));
    let attempt = one(&spans, "GET");
    assert_eq!(attempt.kind, SpanKind::Client);
    assert_eq!(attempt.parent_span_id, server.span_id);
    assert_eq!(attempt.str("payroc.operation"), Some("api"));
    assert_eq!(attempt.str("http.request.method"), Some("GET"));
    assert_eq!(attempt.int("payroc.attempt"), Some(1));
    assert_eq!(attempt.int("http.response.status_code"), Some(200));

    let sent = app.fake.api_requests();
    let sent = sent.last().unwrap();
    assert_eq!(
        sent.traceparent.as_deref(),
        Some(format!("00-{trace_id}-{}-01", attempt.span_id).as_str()),
        "the broker's attempt, not the caller's header"
    );
    assert_eq!(
        sent.tracestate.as_deref(),
        Some("vendor=abc"),
        "the caller's tracestate goes on with the trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apple_pay_session_is_traced_and_payroc_gets_the_attempts_traceparent() {
    use tenants_helpers::{GLOBEX_KEY, Scratch, spawn_tenants_app};
    let tracing = tracing_on();
    let scratch = Scratch::new();
    let app = spawn_tenants_app(&scratch, GLOBEX_KEY, |_| {}).await;
    app.wait_ready().await;
    let (trace_id, parent, header) = traceparent();
    let response = tenants_helpers::acme_apple_pay(&app)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 2)
        .await;
    let server = server_span(&spans, "POST /apple-pay/session", &parent);
    let attempt = one(
        &spans,
        "POST /processing-terminals/{processingTerminalId}/apple-pay-sessions",
    );
    assert_eq!(attempt.parent_span_id, server.span_id);
    assert_eq!(attempt.str("payroc.operation"), Some("apple_pay_session"));
    assert_eq!(attempt.int("http.response.status_code"), Some(200));
    let sent = app.fake.apple_pay_requests();
    assert_eq!(
        sent.last().unwrap().traceparent.as_deref(),
        Some(format!("00-{trace_id}-{}-01", attempt.span_id).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrouted_request_is_named_after_its_method_alone_and_a_caller_without_traceparent_starts_a_trace()
 {
    let tracing = tracing_on();
    let app = spawn_app().await;
    let marker = "unrouted-M2MJOG6O2Y";
    let response = app
        .client
        .get(app.url(&format!("/no/such/{marker}?q=1")))
        .header("x-request-id", marker)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let server = loop {
        if let Some(span) = tracing
            .receiver
            .spans()
            .into_iter()
            .find(|s| s.str("broker.request_id") == Some(marker))
        {
            break span;
        }
        assert!(std::time::Instant::now() < deadline, "no span for the 404");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(server.name, "GET");
    assert_eq!(server.parent_span_id, "", "a trace of its own");
    assert_eq!(server.str("http.route"), None);
    assert_eq!(server.int("http.response.status_code"), Some(404));
    assert!(
        !server.strings.iter().any(|s| s.contains("/no/such")),
        "never the raw path: {:?}",
        server.strings
    );
}

/// A full request cycle like the log test's: sessions with a caller key, a caller's
/// Idempotency-Key and secureTokenId, a 401 and refresh, a 502, a wrong caller key; many
/// accounts with a browser origin and an Apple Pay merchant session; the pass-through with a
/// body, a query string, an ID in the path and a 401 healed. No string of any exported span
/// (names, attribute keys and values, events, links, resource) contains a secret, a query or
/// an ID from a path or body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario: every kind of secret through one exporter
async fn no_secret_appears_in_any_exported_span() {
    use proxy_helpers::{PAYMENTS_KEY, SdkClient, payment, spawn_proxy_app};
    use tenants_helpers::{ACME_KEY, ACME_ORIGIN, GLOBEX_KEY, ORDERS_KEY, Scratch};
    let tracing = tracing_on();
    let (trace_id, _, header) = traceparent();
    let mut requests = 0;
    let mut secrets: Vec<String> = Vec::new();

    let app = spawn_app().await;
    let key = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    let response = app
        .session_request(json!({"scenario": "tokenization", "secureTokenId": "MREF_SECRET_1"}))
        .bearer_auth(CALLER_KEY)
        .header("idempotency-key", key)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    requests += 1;
    secrets.push(
        response.json::<Value>().await.unwrap()["sessionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    app.fake.revoke_all_tokens();
    let healed = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(healed.status(), 201);
    requests += 1;
    secrets.push(
        healed.json::<Value>().await.unwrap()["sessionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    app.fake.fail_next_sessions(3, 500);
    let failed = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    requests += 1;
    let wrong = app
        .session_request(Value::Null)
        .bearer_auth("wrong-caller-key-123456")
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    requests += 1;
    secrets.extend([
        app.fake.api_key(),
        CALLER_KEY.to_owned(),
        "wrong-caller-key-123456".into(),
        "MREF_SECRET_1".into(),
    ]);
    for sent in app.fake.session_requests() {
        secrets.extend(sent.idempotency_key);
        secrets.extend(
            sent.authorization
                .map(|a| a.trim_start_matches("Bearer ").to_owned()),
        );
    }

    let scratch = Scratch::new();
    let tenants = spawn_proxy_app(&scratch, |_| {}).await;
    let apple = tenants_helpers::acme_apple_pay(&tenants)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(apple.status(), 200);
    requests += 1;
    let merchant_session = apple.json::<Value>().await.unwrap()["merchantSession"].clone();
    for member in [
        "merchantSessionIdentifier",
        "nonce",
        "signature",
        "merchantIdentifier",
    ] {
        secrets.push(merchant_session[member].as_str().unwrap().to_owned());
    }
    let browser = tenants
        .session_request(Value::Null)
        .header("origin", ACME_ORIGIN)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 201);
    requests += 1;
    secrets.push(
        browser.json::<Value>().await.unwrap()["sessionToken"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    let mut sdk = SdkClient::new(&tenants, PAYMENTS_KEY);
    let traced = |request: reqwest::RequestBuilder| request.header("traceparent", &header);
    let paid = traced(
        tenants
            .client
            .post(tenants.url("/payroc/v1/payments"))
            .bearer_auth(PAYMENTS_KEY)
            .header("idempotency-key", proxy_helpers::new_key()),
    )
    .json(&payment("ORD-SECRET-BODY"))
    .send()
    .await
    .unwrap();
    assert_eq!(paid.status(), 201);
    requests += 1;
    let payment_id = paid.json::<Value>().await.unwrap()["paymentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = "/payroc/v1/payments?cardholderName=Secret%20Holder&limit=5";
    let listed = traced(
        tenants
            .client
            .get(tenants.url(query))
            .bearer_auth(PAYMENTS_KEY),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(listed.status(), 200);
    requests += 1;
    tenants.fake.revoke_tokens_for(ACME_KEY);
    let one_payment = traced(
        tenants
            .client
            .get(tenants.url(&format!("/payroc/v1/payments/{payment_id}")))
            .bearer_auth(PAYMENTS_KEY),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(one_payment.status(), 200);
    requests += 1;
    assert_eq!(
        sdk.send(Method::GET, "/payments", None).await.status(),
        200,
        "an SDK's own token call and request (untraced by the caller)"
    );
    secrets.extend([
        ACME_KEY.into(),
        GLOBEX_KEY.into(),
        ORDERS_KEY.into(),
        PAYMENTS_KEY.into(),
        "ORD-SECRET-BODY".into(),
        "cardholderName".into(),
        "Secret%20Holder".into(),
        "Secret Holder".into(),
        payment_id,
        // The terminals are in Payroc's URLs; spans name the URL template.
        "1234001".into(),
        "2234001".into(),
    ]);
    for sent in tenants.fake.api_requests() {
        secrets.extend(sent.idempotency_key);
        secrets.extend(
            sent.authorization
                .map(|a| a.trim_start_matches("Bearer ").to_owned()),
        );
    }
    for sent in tenants.fake.session_requests() {
        secrets.extend(
            sent.authorization
                .map(|a| a.trim_start_matches("Bearer ").to_owned()),
        );
        secrets.extend(sent.idempotency_key);
    }

    let spans = tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| {
            spans.iter().filter(|s| s.kind == SpanKind::Server).count() >= requests
        })
        .await;
    assert!(
        spans.iter().filter(|s| s.kind == SpanKind::Client).count() >= 8,
        "the attempts are there too: {spans:#?}"
    );
    // Let the refreshes set off above (the 401s) arrive as well, then read every span.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = tracing.receiver.spans();
    assert!(all.iter().any(|s| s.name == "token refresh"));
    let strings: Vec<&String> = all.iter().flat_map(|s| &s.strings).collect();
    for secret in &secrets {
        assert!(secret.len() >= 7, "a meaningful secret: {secret:?}");
        assert!(
            !strings.iter().any(|s| s.contains(secret.as_str())),
            "a secret reached an exported span: {secret:.6}…"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_spans_never_show_in_the_log_lines_which_keep_their_level() {
    let tracing = tracing_on();
    let app = spawn_app().await;
    app.wait_ready().await;
    let (trace_id, _, header) = traceparent();
    let response = app
        .session_request(Value::Null)
        .header("traceparent", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    tracing
        .receiver
        .wait_for_trace(&trace_id, |spans| spans.len() >= 2)
        .await;
    let logs = String::from_utf8(tracing.logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Bearer token refreshed"),
        "the capture works: {logs:.2000}"
    );
    assert!(
        !logs.contains("\"level\":\"DEBUG\""),
        "logs stay at info: {logs:.2000}"
    );
    for exported in [
        "\"name\":\"token refresh\"",
        "payroc.attempt",
        "otel.kind",
        &trace_id,
    ] {
        assert!(
            !logs.contains(exported),
            "{exported} is in the logs: {logs:.2000}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dropped_spans_metric_is_exposed() {
    let _ = tracing_on();
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for reason in ["queue_full", "export_failed"] {
        assert!(
            text.contains(&format!(
                "broker_trace_spans_dropped_total{{reason=\"{reason}\"}}"
            )),
            "{text}"
        );
    }
}

// The real binary, in a clean environment: traces are off unless an OTEL_* endpoint is set.

const BIN: &str = env!("CARGO_BIN_EXE_hosted-fields-broker");

fn broker(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(std::env::temp_dir());
    command
}

const CONFIG: [(&str, &str); 2] = [
    ("BROKER__PAYROC__API_KEY", "sk_test_key"),
    ("BROKER__PAYROC__TERMINALS", "1234001"),
];

#[test]
fn check_config_says_whether_traces_are_exported_and_refuses_a_bad_otel_variable() {
    let output = broker(&["check-config"], &CONFIG).output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("# traces: off"));

    let mut env = CONFIG.to_vec();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_SERVICE_NAME", "broker-eu"),
    ]);
    let output = broker(&["check-config"], &env).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "# traces: OTLP/HTTP to http://127.0.0.1:4318/v1/traces, service.name \"broker-eu\", sampler parentbased_always_on"
        ),
        "{stdout}"
    );

    env.push(("OTEL_TRACES_SAMPLER", "sometimes"));
    for command in ["check-config", "serve"] {
        let output = broker(&[command], &env).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("OTEL_TRACES_SAMPLER"), "{stderr}");
    }
}

/// Starts `demo` on a free port; returns it and its URL once it serves.
fn demo(env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut env = env.to_vec();
    env.push(("BROKER__SERVER__LISTEN", "127.0.0.1:0"));
    let mut child = broker(&["demo"], &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("demo prints its URL")
            .expect("stdout is readable");
        if let Some(rest) = line.strip_prefix("demo: open ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stdout so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// The names of the process's threads.
fn threads(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            std::fs::read_to_string(task.ok()?.path().join("comm"))
                .ok()
                .map(|name| name.trim().to_owned())
        })
        .collect()
}

fn stop(child: &mut std::process::Child) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn without_otel_variables_the_binary_starts_no_export_thread_and_with_them_sends_its_spans_before_exiting()
 {
    let (mut child, _) = demo(&[]);
    let names = threads(child.id());
    assert!(names.iter().any(|n| n.starts_with("tokio")), "{names:?}");
    assert!(!names.iter().any(|n| n == "otel-export"), "{names:?}");
    child.kill().unwrap();
    child.wait().unwrap();

    // With an endpoint: the thread is there, and spans still queued at SIGTERM are sent then
    // (the schedule delay is a minute, so only the exit can have sent them).
    let receiver = Receiver::start();
    let endpoint = receiver.endpoint().to_string();
    let (mut child, url) = demo(&[
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ]);
    let names = threads(child.id());
    assert!(names.iter().any(|n| n == "otel-export"), "{names:?}");
    let (trace_id, parent, header) = traceparent();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let created = reqwest::Client::new()
            .post(format!("{url}hosted-fields/session"))
            .header("traceparent", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    });
    assert!(receiver.trace(&trace_id).is_empty(), "not sent yet");
    assert!(stop(&mut child).success());
    let spans = receiver.trace(&trace_id);
    let server = server_span(&spans, "POST /hosted-fields/session", &parent);
    assert_eq!(server.int("http.response.status_code"), Some(201));
    assert!(attempts(&spans, "create_session").len() == 1, "{spans:#?}");
}
