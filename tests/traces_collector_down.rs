//! A collector that is down (nothing listens on its port): requests stay as fast as ever, and
//! the spans lost are counted. Its own binary: the global subscriber exports to that one
//! address.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "otlp/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "otlp/unreachable.rs"]
mod unreachable;

use std::time::Duration;

use helpers::{eventually, spawn_app};
use unreachable::{QUEUE, dropped, sessions_unaffected, tracing_to};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_neither_slows_nor_fails_requests_and_the_lost_spans_are_counted()
{
    // A port that was just free: connections to it are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{closed}/v1/traces").parse().unwrap();
    tracing_to(endpoint, Duration::from_secs(2));
    let app = spawn_app().await;
    app.wait_ready().await;

    let slowest = sessions_unaffected(&app, 2 * QUEUE).await;
    eventually(Duration::from_secs(10), || async {
        dropped(&app, "export_failed").await > 0.0
    })
    .await;
    let lost = dropped(&app, "export_failed").await + dropped(&app, "queue_full").await;
    assert!(lost > 0.0);
    eprintln!("slowest request {slowest:?}; {lost} spans lost");
}
