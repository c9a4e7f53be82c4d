//! For the collector-down and collector-slow binaries: tracing on with a small queue, and a
//! run of session requests that must neither slow down nor fail whatever the collector does.

use std::time::{Duration, Instant};

use hosted_fields_broker::{
    config::LogFormat,
    telemetry::{self, SamplerChoice, TraceSettings},
};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use crate::helpers::TestApp;

/// Spans waiting for export at most: a few requests' worth.
pub const QUEUE: usize = 64;

/// Tracing on for this process, every span sampled, exporting to `endpoint` through a queue
/// of [`QUEUE`] spans in batches of 16 every 50 ms, each export given `timeout`.
pub fn tracing_to(endpoint: url::Url, timeout: Duration) {
    let mut settings = TraceSettings::new(endpoint);
    settings.sampler = SamplerChoice::AlwaysOn;
    settings.max_queue_size = QUEUE;
    settings.max_export_batch_size = 16;
    settings.schedule_delay = Duration::from_millis(50);
    settings.export_timeout = timeout;
    let telemetry = telemetry::install(
        LogFormat::Json,
        EnvFilter::new("off"),
        std::io::sink,
        Some(&settings),
    )
    .expect("the first and only subscriber");
    std::mem::forget(telemetry);
}

/// Generous: a session against the in-process fake takes milliseconds.
pub const BOUND: Duration = Duration::from_millis(500);

/// `n` session requests, four at a time: each answered 201 within [`BOUND`]. Returns the
/// slowest.
pub async fn sessions_unaffected(app: &TestApp, n: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..n / 4 {
        let runs = (0..4).map(|_| async {
            let started = Instant::now();
            let response = app
                .session_request(Value::Null)
                .header("traceparent", crate::receiver::traceparent().2)
                .send()
                .await
                .unwrap();
            (response.status(), started.elapsed())
        });
        for (status, took) in futures_util::future::join_all(runs).await {
            assert_eq!(status, 201);
            assert!(
                took < BOUND,
                "a request took {took:?} with the collector unusable"
            );
            slowest = slowest.max(took);
        }
    }
    slowest
}

/// `broker_trace_spans_dropped_total{reason}` on `app`'s `/metrics`.
pub async fn dropped(app: &TestApp, reason: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let series = format!("broker_trace_spans_dropped_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .parse()
        .unwrap()
}
