//! A collector that takes 5 s to answer each export: requests stay as fast as ever, and the
//! spans that do not fit the bounded queue meanwhile are dropped and counted. Its own binary:
//! the global subscriber exports to that one slow collector.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "otlp/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "otlp/unreachable.rs"]
mod unreachable;

use std::time::{Duration, Instant};

use helpers::spawn_app;
use receiver::Receiver;
use unreachable::{QUEUE, dropped, sessions_unaffected, tracing_to};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_neither_slows_nor_fails_requests_and_the_overflow_is_counted() {
    let receiver = Receiver::start();
    receiver.answer_after(Duration::from_secs(5));
    tracing_to(receiver.endpoint(), Duration::from_secs(10));
    let app = spawn_app().await;
    app.wait_ready().await;

    let started = Instant::now();
    // Two spans a request (server, attempt): several queues' worth.
    let slowest = sessions_unaffected(&app, 2 * QUEUE).await;
    let took = started.elapsed();
    assert!(
        receiver.requests() >= 1,
        "an export was under way (and stalled) meanwhile"
    );
    assert!(
        took < Duration::from_secs(5),
        "all within the first stalled export: {took:?}"
    );
    let overflow = dropped(&app, "queue_full").await;
    assert!(
        overflow > 0.0,
        "the full queue dropped spans and counted them"
    );
    eprintln!(
        "{} requests in {took:?}, slowest {slowest:?}, {overflow} spans dropped (queue full)",
        2 * QUEUE
    );
}
