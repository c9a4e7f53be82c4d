//! The ceiling for the broker's architecture: an axum server that forwards each
//! `POST /hosted-fields/session` as one upstream call (same reqwest client set-up as the
//! broker: rustls, pooled, no redirects, none of reqwest's own retries) with a fixed Bearer
//! header and a fresh UUID v4 `Idempotency-Key`, and returns the upstream answer as is. No
//! validation, no token cache, no retries, no metrics, no logging.
//!
//! Usage: `bench-reference LISTEN UPSTREAM_SESSIONS_URL`

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::post,
};

#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    url: String,
}

async fn forward(State(upstream): State<Upstream>) -> impl IntoResponse {
    let answer = upstream
        .client
        .post(&upstream.url)
        .header(header::AUTHORIZATION, "Bearer reference-token")
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .body(r#"{"libVersion":"1.7.0.261457","scenario":"payment"}"#)
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = response.bytes().await.unwrap_or_default();
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                Bytes::from(body),
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args
        .next()
        .expect("usage: bench-reference LISTEN UPSTREAM_SESSIONS_URL");
    let url = args
        .next()
        .expect("usage: bench-reference LISTEN UPSTREAM_SESSIONS_URL");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .expect("client builds");
    let app = Router::new()
        .route("/hosted-fields/session", post(forward))
        .with_state(Upstream { client, url });
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("binds");
    axum::serve(listener, app).await.expect("serves");
}
