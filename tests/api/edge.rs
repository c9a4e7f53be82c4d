//! The edge under a hostile or careless client, driven over raw TCP: header-read and idle
//! timeouts, the header-byte and connection caps, bodies refused before they are read, slow
//! bodies (408, the client's fault, holding no in-flight place).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{Options, TestApp, spawn_app_with};

async fn app_with(
    settings: impl FnOnce(&mut hosted_fields_broker::config::RawSettings) + Send + 'static,
) -> TestApp {
    let app = spawn_app_with(Options {
        settings: Box::new(settings),
        ..Options::default()
    })
    .await;
    app.wait_ready().await;
    app
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the broker sends until it closes the connection (or `within` passes: a panic).
async fn read_until_closed(socket: &mut TcpStream, within: Duration) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(within, socket.read_to_end(&mut all))
        .await
        .expect("the broker closed the connection")
        .ok();
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one answer's head and body (as far as one read of its bytes gets it).
async fn read_answer(socket: &mut TcpStream) -> String {
    let mut answer = vec![0; 8192];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

const SESSION_HEAD: &str = "POST /hosted-fields/session HTTP/1.1\r\nHost: broker\r\n\
                            Content-Type: application/json\r\n";

#[tokio::test]
async fn a_head_not_finished_within_the_header_read_timeout_is_closed() {
    let app = app_with(|raw| raw.server.header_read_timeout_ms = 300).await;
    let mut socket = connect(&app).await;
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let started = Instant::now();

    let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;

    assert!(answer.is_empty(), "closed without an answer: {answer}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(app.get("/healthz").await.status(), 200, "others are served");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_lasts_the_idle_timeout_not_the_header_timeout() {
    let app = app_with(|raw| {
        raw.server.header_read_timeout_ms = 200;
        raw.server.idle_timeout_ms = 1_500;
    })
    .await;
    let mut socket = connect(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n";
    socket.write_all(request).await.unwrap();
    assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"));

    // Idle well past the header-read timeout: still open, and serves the next request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    socket.write_all(request).await.unwrap();
    assert!(read_answer(&mut socket).await.starts_with("HTTP/1.1 200"));
    let idle_from = Instant::now();

    let rest = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(rest.is_empty());
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(1_300) && idle < Duration::from_millis(3_500),
        "closed after the idle timeout, not before: {idle:?}"
    );
}

#[tokio::test]
async fn a_head_over_the_byte_cap_is_refused_and_the_connection_closed() {
    let app = app_with(|raw| raw.server.max_header_bytes = 8 * 1024).await;
    let mut socket = connect(&app).await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: broker\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    // The broker may close before all of it is written.
    let _ = socket.write_all(big.as_bytes()).await;

    let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;

    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let app = app_with(|raw| raw.server.max_connections = 4).await;
    // Fill every slot: two idle connections and two trickling heads.
    let mut idle = [connect(&app).await, connect(&app).await];
    let mut trickling = [connect(&app).await, connect(&app).await];
    for socket in &mut trickling {
        socket
            .write_all(b"POST /hosted-fields/session HTTP/1.1\r\nHo")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Legitimate clients still get their sessions, each on a new connection it keeps.
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = reqwest::Client::new();
        let response = client
            .post(app.url("/hosted-fields/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        clients.push(client);
    }

    // The three that had been idle longest made room, oldest first.
    for socket in idle.iter_mut().chain(&mut trickling[..1]) {
        let closed = read_until_closed(socket, Duration::from_secs(2)).await;
        assert!(closed.is_empty());
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let evicted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("broker_connections_evicted_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(evicted >= 3, "{metrics}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body_and_without_100_continue() {
    let app = app_with(|_| {}).await;
    for length in ["1000000000000", "102400"] {
        let mut socket = connect(&app).await;
        let head =
            format!("{SESSION_HEAD}Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n");
        socket.write_all(head.as_bytes()).await.unwrap();

        let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;

        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(!answer.contains("100 Continue"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    assert!(app.fake.session_requests().is_empty());
}

#[tokio::test]
async fn a_trickled_body_is_408_the_clients_fault_and_never_reaches_payroc() {
    let app = app_with(|raw| raw.server.body_timeout_ms = 300).await;
    let mut socket = connect(&app).await;
    // Promises 22 bytes, sends 6, then nothing.
    let head = format!("{SESSION_HEAD}Content-Length: 22\r\n\r\n{{\"scen");
    socket.write_all(head.as_bytes()).await.unwrap();

    let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(app.fake.session_requests().is_empty());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"broker_sessions_total{account="",outcome="refused",status="408"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"outcome="failed""#), "{metrics}");
}

#[tokio::test]
async fn slow_bodies_hold_no_place_among_the_requests_in_flight() {
    let app = app_with(|raw| raw.server.max_in_flight = 2).await;
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut socket = connect(&app).await;
        let head = format!("{SESSION_HEAD}Content-Length: 22\r\n\r\n{{");
        socket.write_all(head.as_bytes()).await.unwrap();
        slow.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let response = app.post_session(Value::Null).await;

    assert_eq!(response.status(), 201);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("broker_load_shed_total 0"), "{metrics}");
}

#[tokio::test]
async fn a_body_within_the_limit_still_gets_100_continue_and_its_session() {
    let app = app_with(|_| {}).await;
    let mut socket = connect(&app).await;
    let head = format!("{SESSION_HEAD}Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
    socket.write_all(head.as_bytes()).await.unwrap();
    assert!(
        read_answer(&mut socket)
            .await
            .starts_with("HTTP/1.1 100 Continue")
    );
    socket.write_all(b"{}").await.unwrap();
    let answer = read_answer(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
}

/// The answers hyper writes itself, before any of the broker's code runs (it offers no hook):
/// a bare status with no body, then the connection is closed. `docs/api.md` lists them.
#[tokio::test]
async fn malformed_requests_get_hyper_bare_statuses_and_never_reach_payroc() {
    let app = app_with(|_| {}).await;
    let many_headers = "X-H: v\r\n".repeat(101);
    let cases = [
        ("POST /hosted-fields/session HTTP/1.1\r\nContent-Length: 2x\r\n\r\n{}".to_owned(), 400),
        ("POST /hosted-fields/session HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".into(), 400),
        ("POST /hosted-fields/session HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(), 400),
        ("POST /hosted-fields/session HTTP/1.1\r\nX-Bad: a\u{1}b\r\n\r\n".into(), 400),
        ("GET /hea lthz HTTP/1.1\r\n\r\n".into(), 400),
        (format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000)), 431),
        (format!("GET /healthz HTTP/1.1\r\n{many_headers}\r\n"), 431),
    ];
    for (request, status) in cases {
        let mut socket = connect(&app).await;
        let _ = socket.write_all(request.as_bytes()).await;
        let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status} for {request:.60?}: {answer}"
        );
    }
    assert!(app.fake.session_requests().is_empty());
    assert_eq!(app.get("/healthz").await.status(), 200);
}
