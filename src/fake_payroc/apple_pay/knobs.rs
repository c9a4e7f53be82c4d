//! The Apple Pay endpoint's public knobs on [`FakePayroc`] and the record of each request.

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::fake_payroc::FakePayroc;
use crate::fake_payroc::incoming::Incoming;

/// One request the Apple Pay endpoint received.
#[derive(Clone)]
pub struct RecordedApplePayRequest {
    /// The path's processing terminal (percent-decoded).
    pub terminal: String,
    /// The API key the Bearer token was issued for; `None` for no, unknown or revoked tokens.
    pub api_key: Option<String>,
    /// The body, if it parsed as JSON.
    pub body: Option<Value>,
    /// Raw `traceparent` header (W3C Trace Context).
    pub traceparent: Option<String>,
    /// What the fake answered (or would have, for a dropped answer).
    pub status: u16,
}

impl fmt::Debug for RecordedApplePayRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedApplePayRequest")
            .field("terminal", &self.terminal)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("body", &self.body)
            .field("traceparent", &self.traceparent)
            .field("status", &self.status)
            .finish()
    }
}

impl RecordedApplePayRequest {
    pub(super) fn new(incoming: &Incoming, api_key: Option<String>, status: StatusCode) -> Self {
        Self {
            terminal: incoming.terminal.clone(),
            api_key,
            body: serde_json::from_slice(&incoming.body).ok(),
            traceparent: incoming.traceparent.clone(),
            status: status.as_u16(),
        }
    }
}

impl FakePayroc {
    /// Every request the Apple Pay endpoint received, faulted ones included.
    pub fn apple_pay_calls(&self) -> u64 {
        self.state().apple_pay.calls
    }

    /// The requests the Apple Pay endpoint answered, oldest first.
    pub fn apple_pay_requests(&self) -> Vec<RecordedApplePayRequest> {
        self.state().apple_pay.requests.clone()
    }

    /// The next `n` Apple Pay requests answer `status` with a problem, before any check.
    pub fn fail_next_apple_pay(&self, n: u32, status: u16) {
        let mut state = self.state();
        state.apple_pay.failures_left = n;
        state.apple_pay.failure_status = status;
    }

    /// The next `n` Apple Pay requests that earn a 200 lose their answer after its head.
    pub fn drop_next_apple_pay(&self, n: u32) {
        self.state().apple_pay.drops_left = n;
    }

    /// Delay before answering Apple Pay requests.
    pub fn set_apple_pay_latency(&self, latency: Duration) {
        self.state().apple_pay.latency = latency;
    }

    /// From now on, 200s carry a `startSessionResponse` that is not a JSON object.
    pub fn set_apple_pay_not_an_object(&self, on: bool) {
        self.state().apple_pay.not_an_object = on;
    }
}
