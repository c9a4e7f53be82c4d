//! Every layer around a test router: panics, request ids, bare error statuses.

use axum::body::{Body, to_bytes};
use tower::ServiceExt as _;

use super::*;
use crate::http::layer::REQUEST_ID;

/// One request through every layer, to a router whose only route panics.
async fn answer(request: axum::http::request::Builder) -> Response {
    let routes = Router::new().route(
        "/boom",
        get(|| async {
            panic!("secret-in-panic-message");
            #[allow(unreachable_code)]
            ""
        }),
    );
    with_layers(routes, None)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_problem_with_a_request_id() {
    let response = answer(Request::get("/boom")).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(response.headers()[REQUEST_ID].len(), 36);
    let body = to_bytes(response.into_body(), 4096).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("\"status\":500") && !body.contains("secret"),
        "{body}"
    );
}

#[tokio::test]
async fn request_ids_are_kept_or_made_and_always_returned() {
    let id_of = |response: Response| {
        assert_eq!(response.status(), 404);
        response.headers()[REQUEST_ID].to_str().unwrap().to_owned()
    };
    let kept = id_of(answer(Request::get("/nowhere").header(REQUEST_ID, "abc-123")).await);
    assert_eq!(kept, "abc-123");
    let longest = "a.b_c-".repeat(21) + "xy";
    let kept = id_of(answer(Request::get("/nowhere").header(REQUEST_ID, &longest)).await);
    assert_eq!(kept, longest, "128 plain characters are kept");
    for unsafe_id in [
        longest.clone() + "z",
        "a b".into(),
        "a/b".into(),
        "ä".into(),
    ] {
        let made = id_of(answer(Request::get("/nowhere").header(REQUEST_ID, &unsafe_id)).await);
        assert_ne!(made, unsafe_id);
        assert_eq!(uuid::Uuid::parse_str(&made).unwrap().get_version_num(), 4);
    }
    let first = id_of(answer(Request::get("/nowhere")).await);
    let second = id_of(answer(Request::get("/nowhere")).await);
    assert_ne!(first, second);
    for made in [first, second] {
        assert_eq!(uuid::Uuid::parse_str(&made).unwrap().get_version_num(), 4);
    }
}

#[tokio::test]
async fn a_bare_error_status_gets_a_problem_body_and_keeps_its_headers() {
    let response = answer(Request::post("/boom")).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
}
