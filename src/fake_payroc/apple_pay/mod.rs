//! `POST /v1/processing-terminals/{id}/apple-pay-sessions`, as Payroc's spec slice describes it:
//! Bearer checked and account-scoped, `appleDomainId` and `appleValidationUrl` required, an
//! `appleDomainId` the fake does not know for the terminal's account a 400 problem, and 200
//! `{"startSessionResponse": "<Apple's merchant session, a JSON object as a string>"}`.
//! No Idempotency-Key is declared for it. Faults work as on the session endpoint: a number of
//! failures, dropped answers, latency, and an answer whose string is no JSON object.

mod knobs;

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

pub use knobs::RecordedApplePayRequest;

use super::checks::{check_accept, check_content_type, missing, not_a_string, parse_object};
use super::incoming::Incoming;
use super::lost::abort_after_head;
use super::problem::{Problem, field_error, problem_for_status, validation_failed};
use super::state::{FakeState, Shared};

pub(super) const APPLE_PAY_ROUTE: &str =
    "/v1/processing-terminals/{processingTerminalId}/apple-pay-sessions";

/// The Apple Pay endpoint's knobs and log, under the fake's one lock.
#[derive(Default)]
pub(super) struct ApplePayState {
    pub(super) calls: u64,
    pub(super) failures_left: u32,
    pub(super) failure_status: u16,
    pub(super) drops_left: u32,
    pub(super) latency: std::time::Duration,
    /// Answer 200 with a `startSessionResponse` that is not a JSON object.
    pub(super) not_an_object: bool,
    pub(super) requests: Vec<RecordedApplePayRequest>,
}

pub(super) async fn start_session(
    State(shared): State<Arc<Shared>>,
    terminal: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let incoming = Incoming::read(&shared.origin, terminal, request).await;
    let latency = {
        let mut state = shared.lock();
        state.apple_pay.calls += 1;
        state.apple_pay.latency
    };
    tokio::time::sleep(latency).await;
    let mut state = shared.lock();
    let api_key = state.token_api_key(incoming.authorization.as_deref());
    let (status, body) = match state.decide_apple_pay(&incoming) {
        Ok(body) => (StatusCode::OK, Ok(body)),
        Err(problem) => (problem.status, Err(problem)),
    };
    let dropped = body.is_ok() && state.apple_pay.drops_left > 0;
    if dropped {
        state.apple_pay.drops_left -= 1;
    }
    state
        .apple_pay
        .requests
        .push(RecordedApplePayRequest::new(&incoming, api_key, status));
    drop(state);
    match body {
        Err(problem) => problem.into_response(),
        Ok(_) if dropped => (status, abort_after_head()).into_response(),
        Ok(body) => (
            status,
            [(CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    }
}

impl FakeState {
    /// Payroc's checks, in the session endpoint's order, then the answer's body.
    fn decide_apple_pay(&mut self, incoming: &Incoming) -> Result<Value, Problem> {
        if self.apple_pay.failures_left > 0 {
            self.apple_pay.failures_left -= 1;
            return Err(problem_for_status(self.apple_pay.failure_status));
        }
        let account = self.check_bearer(incoming.authorization.as_deref())?;
        check_content_type(incoming.content_type.as_deref())?;
        check_accept(incoming.accept.as_deref())?;
        let domain_id = validate(&incoming.body)?;
        self.check_terminal(&incoming.terminal, &incoming.url, account)?;
        if !self.config.apple_domain_ids(account).contains(&domain_id) {
            let message = format!("No Apple Pay domain {domain_id} for this merchant");
            let error = field_error("appleDomainId", "unknown appleDomainId", &message);
            return Err(validation_failed(vec![error]));
        }
        let session = if self.apple_pay.not_an_object {
            Value::from("[]").to_string()
        } else {
            merchant_session(&domain_id).to_string()
        };
        Ok(json!({ "startSessionResponse": session }))
    }
}

/// Both members, strings, required; others are ignored as Payroc's schema allows. The
/// `appleDomainId`.
fn validate(body: &[u8]) -> Result<String, Problem> {
    let object: Map<String, Value> = parse_object(body)?;
    let mut errors = Vec::new();
    let mut text = |name: &str| match object.get(name) {
        None | Some(Value::Null) => {
            errors.push(missing(name));
            None
        }
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(value) => {
            errors.push(not_a_string(name, value));
            None
        }
    };
    let domain = text("appleDomainId");
    let url = text("appleValidationUrl");
    match (domain, url) {
        (Some(domain), Some(_)) if errors.is_empty() => Ok(domain),
        _ => Err(validation_failed(errors)),
    }
}

/// An object shaped like the one Apple returns (the spec's example), fresh each time.
fn merchant_session(domain_id: &str) -> Value {
    let now = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut rng = rand::rng();
    // Upper-case hex of `bytes` random bytes.
    let hex = |rng: &mut rand::rngs::ThreadRng, bytes: usize| -> String {
        let random: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
        random
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .concat()
    };
    json!({
        "epochTimestamp": now,
        "expiresAt": now + 3_600_000,
        "merchantSessionIdentifier": format!("SSH{}_{}", hex(&mut rng, 16), hex(&mut rng, 32)),
        "nonce": hex(&mut rng, 4).to_lowercase(),
        "merchantIdentifier": hex(&mut rng, 32),
        "domainName": format!("{}.shop.example", domain_id.to_lowercase()),
        "displayName": "Fake Payroc Shop",
        "signature": hex(&mut rng, 64).to_lowercase(),
        "operationalAnalyticsIdentifier": format!("Fake Payroc Shop:{}", hex(&mut rng, 32)),
        "retries": 0,
        "pspId": hex(&mut rng, 32),
    })
}
