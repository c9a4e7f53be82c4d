//! Payroc's card payments, in the slice a proxy in front of the API meets: `POST /v1/payments`,
//! `GET /v1/payments`, `GET /v1/payments/{paymentId}` and
//! `POST /v1/payments/{paymentId}/refund`, shaped after Payroc's `OpenAPI` spec and SDK models,
//! with the session endpoint's checks and idempotent replay. Every request is counted and
//! logged, can be failed, dropped, refused or delayed, and every answer carries headers a
//! proxy must strip (`Set-Cookie`, `Keep-Alive`, `X-Payroc-Trace`).
//!
//! Layout: this file routes a request to its endpoint and applies the faults; `request` a
//! request as read and its record; `recorded` the public record type; `store` the payments,
//! saved answers, counters and fault budgets; `validate` the request schemas; `create`,
//! `refund` and `list` the endpoints; `render` the payment body; `reply` the answer on the
//! wire; `knobs` the public methods on [`FakePayroc`](super::FakePayroc).

mod create;
mod knobs;
mod list;
mod recorded;
mod refund;
mod render;
mod reply;
mod request;
mod store;
mod validate;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

pub use recorded::RecordedApiRequest;
pub(super) use store::PaymentsState;

use super::problem::{method_not_allowed_for, not_found};
use super::state::{FakeState, Shared};
use reply::{ApiReply, json_response, respond};
use request::{ApiRequest, PAYMENTS_PATH, Resource};
use store::Fault;

/// Every method on every path under `/v1/payments` comes here, so each is counted, logged and
/// open to faults, and a wrong method or an unknown sub-resource gets the fake's own 405/404.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(PAYMENTS_PATH, any(serve))
        .route(&format!("{PAYMENTS_PATH}/{{*rest}}"), any(serve))
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    // Counted on arrival, before the body is read, so a refused call counts too.
    let latency = {
        let mut state = shared.lock();
        state.payments.calls += 1;
        state.payments.faults.latency
    };
    let incoming = ApiRequest::read(&shared.origin, request).await;
    tokio::time::sleep(latency).await;
    let reply = shared.answer_api(&incoming);
    tracing::debug!(
        status = reply.recorded_status(),
        "fake payroc answered a payments request"
    );
    reply.into_response()
}

impl Shared {
    /// Applies a fault or answers, and records the request, all under one lock.
    fn answer_api(&self, incoming: &ApiRequest) -> ApiReply {
        let mut state = self.lock();
        let api_key = state.token_api_key(incoming.header("authorization").as_deref());
        let reply = match state.payments.faults.take() {
            Fault::Refuse => ApiReply::Refused,
            Fault::Fail {
                status,
                retry_after,
            } => ApiReply::failure(status, retry_after),
            Fault::Process { dropped } => {
                let response = state.route(incoming, &self.origin);
                ApiReply::Answer { response, dropped }
            }
        };
        let record = incoming.record(reply.recorded_status(), api_key);
        state.payments.log.push(record);
        reply
    }
}

impl FakeState {
    fn route(&mut self, incoming: &ApiRequest, origin: &str) -> Response {
        let method = &incoming.method;
        match incoming.resource() {
            Resource::Payments if method == Method::POST => {
                let created = self.create_payment(incoming, origin);
                respond(created, |saved| saved.to_response())
            }
            Resource::Payments if method == Method::GET => {
                let page = self.list_payments(incoming, origin);
                respond(page, |page| json_response(StatusCode::OK, &page))
            }
            Resource::Payments => method_not_allowed_for("GET, POST"),
            Resource::Payment(id) if method == Method::GET => {
                let payment = self.retrieve_payment(incoming, id, origin);
                respond(payment, |payment| json_response(StatusCode::OK, &payment))
            }
            Resource::Payment(_) => method_not_allowed_for("GET"),
            Resource::Refund(id) if method == Method::POST => {
                let refunded = self.refund_payment(incoming, id, origin);
                respond(refunded, |saved| saved.to_response())
            }
            Resource::Refund(_) => method_not_allowed_for("POST"),
            Resource::Unknown => not_found(&incoming.uri),
        }
    }
}
