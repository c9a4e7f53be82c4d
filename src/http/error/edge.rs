//! What the edge needs around the error bodies: the markers an answer carries for the
//! per-request layer (why a 5xx happened, which answers are not failures, which are Payroc's
//! own), the panic answer, and problem+json for a bare error status.

use std::any::Any;

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{PROBLEM_JSON, Problem};

/// Why a request failed with a 5xx, for the log line (never for the body).
#[derive(Clone, Debug)]
pub struct ErrorCause(pub String);

/// Marks a 5xx that reports a state rather than a failure (an unready `/readyz`): not logged.
#[derive(Clone, Copy, Debug)]
pub struct Expected;

/// Marks Payroc's own answer passed back by the pass-through: its body is left as it is (an
/// SDK parses Payroc's errors), and a 5xx is Payroc's, logged by the audit line instead.
#[derive(Clone, Copy, Debug)]
pub struct Relayed;

/// `CatchPanicLayer`'s answer: a problem+json 500 whose logged cause says what happened.
/// The panic's message is left out: it could hold anything.
pub fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    let mut response = Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    response
        .extensions_mut()
        .insert(ErrorCause("a handler panicked".into()));
    response
}

/// Turns a bare error answer (unknown route, wrong method, a layer's own rejection) into
/// problem+json, keeping its status and headers such as `Allow`.
pub fn problem_details(response: Response) -> Response {
    let status = response.status();
    if response.extensions().get::<Relayed>().is_some() {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, _body) = response.into_parts();
    Problem::for_status(status).into_response_with(Response::from_parts(parts, ()))
}
