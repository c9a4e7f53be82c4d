//! What the payments endpoints keep: the payments with their refunds, the answers saved under
//! each (account, `Idempotency-Key`), the request log, the counters and the injected faults.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use time::OffsetDateTime;

use super::RecordedApiRequest;

/// Payroc's `paymentId` and `refundId`: 10 characters from this alphabet (`M2MJOG6O2Y`).
const ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ID_LEN: usize = 10;

/// Everything the payments endpoints share, kept inside the fake's one lock so a request's
/// checks, its effect and its record happen atomically.
#[derive(Default)]
pub(in crate::fake_payroc) struct PaymentsState {
    /// In creation order, which is also the list order.
    pub(super) payments: Vec<StoredPayment>,
    /// (account, `Idempotency-Key`) → the request it was first used with and its answer.
    pub(super) answers: HashMap<(usize, String), SavedAnswer>,
    pub(super) log: Vec<RecordedApiRequest>,
    /// Every request received, faulted ones included.
    pub(super) calls: u64,
    pub(super) created: u64,
    pub(super) refunds_created: u64,
    pub(super) faults: ApiFaults,
}

/// A payment as created, and what happened to it since.
pub(super) struct StoredPayment {
    pub(super) id: String,
    /// Index into the fake's accounts: only that account's tokens can see it.
    pub(super) account: usize,
    pub(super) created_at: OffsetDateTime,
    pub(super) approval_code: String,
    /// The `card` summary, worked out once from the payment method (never the full number).
    pub(super) card: Value,
    /// The validated request body: the order, operator, customer and custom fields echo it.
    pub(super) request: Value,
    pub(super) refunds: Vec<StoredRefund>,
}

pub(super) struct StoredRefund {
    pub(super) id: String,
    pub(super) created_at: OffsetDateTime,
    pub(super) amount: i64,
}

/// An answer to replay: the request it was bound to and what it earned.
#[derive(Clone)]
pub(super) struct SavedAnswer {
    pub(super) path: String,
    pub(super) body: Value,
    pub(super) status: u16,
    pub(super) answer: Value,
    pub(super) location: Option<String>,
}

/// Injected faults. Budgets are consumed in this order: refuse, then fail, then drop.
#[derive(Default)]
pub(super) struct ApiFaults {
    pub(super) refuse_left: u32,
    pub(super) fail_left: u32,
    pub(super) fail_status: u16,
    pub(super) retry_after: Option<u32>,
    pub(super) drop_left: u32,
    pub(super) latency: Duration,
}

/// What the next request suffers before (or instead of) its normal processing.
pub(super) enum Fault {
    /// The connection closes before any answer.
    Refuse,
    /// An injected problem answer.
    Fail {
        status: u16,
        retry_after: Option<u32>,
    },
    /// Processed normally; `dropped` kills the connection after the answer's head.
    Process { dropped: bool },
}

impl ApiFaults {
    /// The fault for the request being answered now, consuming its budget.
    pub(super) fn take(&mut self) -> Fault {
        if let Some(left) = self.refuse_left.checked_sub(1) {
            self.refuse_left = left;
            return Fault::Refuse;
        }
        if let Some(left) = self.fail_left.checked_sub(1) {
            self.fail_left = left;
            let (status, retry_after) = (self.fail_status, self.retry_after);
            return Fault::Fail {
                status,
                retry_after,
            };
        }
        let dropped = self.drop_left > 0;
        self.drop_left = self.drop_left.saturating_sub(1);
        Fault::Process { dropped }
    }
}

impl PaymentsState {
    /// An account's own payment; another account's is as absent as a made-up id.
    pub(super) fn find(&self, account: usize, id: &str) -> Option<&StoredPayment> {
        self.payments
            .iter()
            .find(|payment| payment.id == id && payment.account == account)
    }

    pub(super) fn find_mut(&mut self, account: usize, id: &str) -> Option<&mut StoredPayment> {
        self.payments
            .iter_mut()
            .find(|payment| payment.id == id && payment.account == account)
    }

    /// A `paymentId` or `refundId` no payment or refund has yet.
    pub(super) fn new_id(&self) -> String {
        let taken = |id: &str| {
            self.payments.iter().any(|payment| {
                payment.id == id || payment.refunds.iter().any(|refund| refund.id == id)
            })
        };
        loop {
            let mut rng = rand::rng();
            let id: String = (0..ID_LEN)
                .map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())]))
                .collect();
            if !taken(&id) {
                return id;
            }
        }
    }
}

impl StoredPayment {
    pub(super) fn amount(&self) -> i64 {
        self.request["order"]["amount"].as_i64().unwrap_or_default()
    }

    /// What is left to refund.
    pub(super) fn refundable(&self) -> i64 {
        let refunded: i64 = self.refunds.iter().map(|refund| refund.amount).sum();
        self.amount() - refunded
    }

    pub(super) fn terminal(&self) -> &str {
        self.request["processingTerminalId"]
            .as_str()
            .unwrap_or_default()
    }

    pub(super) fn order_id(&self) -> &str {
        self.request["order"]["orderId"]
            .as_str()
            .unwrap_or_default()
    }
}

/// A 6-digit approval code; Payroc's examples show short processor codes (`OK3`), real
/// processors send six characters (a guess either way).
pub(super) fn approval_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000))
}
