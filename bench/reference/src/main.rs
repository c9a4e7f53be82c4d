//! The ceiling for the broker's architecture: an axum server that forwards each
//! `POST /hosted-fields/session` as one upstream call (same reqwest client set-up as the
//! broker: rustls, pooled, no redirects, none of reqwest's own retries) with a fixed Bearer
//! header and a fresh UUID v4 `Idempotency-Key`, and returns the upstream answer as is. No
//! validation, no token cache, no retries, no metrics, no logging.
//!
//! The same for the broker's Payroc API pass-through: `GET /payroc/v1/{path}?{query}` is
//! forwarded as `GET {UPSTREAM_API_URL}/{path}?{query}`, written as it came, with a fixed Bearer
//! header, and the upstream's status, body and `Content-Type` come back as they are. No key
//! check, no rules, no path checks, no header filtering beyond that, no retries.
//!
//! Usage: `bench-reference LISTEN UPSTREAM_SESSIONS_URL UPSTREAM_API_URL`

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};

const USAGE: &str = "usage: bench-reference LISTEN UPSTREAM_SESSIONS_URL UPSTREAM_API_URL";

#[derive(Clone)]
struct Upstream {
    client: reqwest::Client,
    url: String,
    api_url: String,
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

async fn pass_through(State(upstream): State<Upstream>, uri: Uri) -> Response {
    let rest = uri
        .path_and_query()
        .map_or("", |pq| pq.as_str())
        .strip_prefix("/payroc/v1")
        .unwrap_or_default();
    let answer = upstream
        .client
        .get(format!("{}{rest}", upstream.api_url))
        .header(header::AUTHORIZATION, "Bearer reference-token")
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status =
                StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let body = response.bytes().await.unwrap_or_default();
            let mut answer = (status, body).into_response();
            match content_type {
                Some(value) => answer.headers_mut().insert(header::CONTENT_TYPE, value),
                None => answer.headers_mut().remove(header::CONTENT_TYPE),
            };
            answer
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().expect(USAGE);
    let url = args.next().expect(USAGE);
    let api_url = args.next().expect(USAGE);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()
        .expect("client builds");
    let app = Router::new()
        .route("/hosted-fields/session", post(forward))
        .route("/payroc/v1/{*path}", get(pass_through))
        .with_state(Upstream {
            client,
            url,
            api_url: api_url.trim_end_matches('/').to_owned(),
        });
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("binds");
    axum::serve(listener, app).await.expect("serves");
}
