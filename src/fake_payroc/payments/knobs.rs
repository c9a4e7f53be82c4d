//! The payments endpoints' public knobs on [`FakePayroc`]: the request log, the counters, and
//! the faults a proxy in front of Payroc must survive.

use std::time::Duration;

use super::super::FakePayroc;
use super::RecordedApiRequest;

impl FakePayroc {
    /// Every payments-endpoint request received, oldest first, faulted ones included.
    pub fn api_requests(&self) -> Vec<RecordedApiRequest> {
        self.state().payments.log.clone()
    }

    /// Every request to `/v1/payments*` received, whatever its method and outcome, faulted
    /// ones included.
    pub fn api_calls(&self) -> u64 {
        self.state().payments.calls
    }

    /// New payments created (not replays, not errors).
    pub fn payments_created(&self) -> u64 {
        self.state().payments.created
    }

    /// New refunds created (not replays, not errors).
    pub fn refunds_created(&self) -> u64 {
        self.state().payments.refunds_created
    }

    /// The next `n` payments-endpoint requests answer `status` (a problem+json body, Payroc-like)
    /// before any other check, storing nothing; with `retry_after` also a `Retry-After: N`
    /// header. An invalid status becomes 500. Replaces any budget left from an earlier call.
    pub fn fail_next_api_calls(&self, n: u32, status: u16, retry_after: Option<u32>) {
        let faults = &mut self.state().payments.faults;
        faults.fail_left = n;
        faults.fail_status = status;
        faults.retry_after = retry_after;
    }

    /// The next `n` requests are processed normally (a payment IS stored under its key), but
    /// the connection dies after the answer's head: "Payroc did it, the answer was lost".
    pub fn drop_next_api_calls(&self, n: u32) {
        self.state().payments.faults.drop_left = n;
    }

    /// The next `n` requests: the connection is closed before any answer, nothing processed or
    /// stored (the request is still counted and logged, with status 0).
    pub fn refuse_next_api_calls(&self, n: u32) {
        self.state().payments.faults.refuse_left = n;
    }

    /// Delay before answering each payments-endpoint request, faulted ones included.
    pub fn set_api_latency(&self, latency: Duration) {
        self.state().payments.faults.latency = latency;
    }
}
