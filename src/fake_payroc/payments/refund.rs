//! `POST /v1/payments/{paymentId}/refund`: a referenced refund. Payroc answers 200 with the
//! payment, its `refunds` now listing the new one; more than what is left to refund is a 400.

use time::OffsetDateTime;

use super::super::problem::{Problem, field_error, resource_not_found, validation_failed};
use super::super::state::FakeState;
use super::create::check_keyed_post;
use super::request::ApiRequest;
use super::store::{SavedAnswer, StoredRefund};
use super::validate::validate_refund;

impl FakeState {
    /// The shared POST checks, the body, the payment (404 if not the caller's), then a replay,
    /// or the refund if the payment still has that much left.
    pub(super) fn refund_payment(
        &mut self,
        incoming: &ApiRequest,
        payment_id: &str,
        origin: &str,
    ) -> Result<SavedAnswer, Problem> {
        let (account, key) = check_keyed_post(self, incoming)?;
        let body = validate_refund(&incoming.body)?;
        let payments = &mut self.payments;
        if payments.find(account, payment_id).is_none() {
            return Err(payment_not_found());
        }
        // A replay comes before the amount check: once refunded in full, the payment has
        // nothing left, yet the retry must still get its 200.
        if let Some(saved) = payments.replay(account, &key, incoming, &body)? {
            return Ok(saved);
        }
        let amount = body["amount"].as_i64().unwrap_or_default();
        let refund_id = payments.new_id();
        let Some(payment) = payments.find_mut(account, payment_id) else {
            return Err(payment_not_found());
        };
        let left = payment.refundable();
        if amount > left {
            return Err(exceeds_refundable(payment_id, amount, left));
        }
        payment.refunds.push(StoredRefund {
            id: refund_id,
            created_at: OffsetDateTime::now_utc(),
            amount,
        });
        let saved = SavedAnswer {
            path: incoming.path.clone(),
            body,
            status: 200,
            answer: payment.to_json(origin),
            location: None,
        };
        payments.refunds_created += 1;
        payments.answers.insert((account, key), saved.clone());
        Ok(saved)
    }
}

/// The same 404 for another account's payment as for one that never existed.
pub(super) fn payment_not_found() -> Problem {
    resource_not_found("payment")
}

/// Payroc's exact words for an over-refund are unknown; this follows its validation shape.
fn exceeds_refundable(payment_id: &str, amount: i64, left: i64) -> Problem {
    let message = format!(
        "The refund amount {amount} is more than the {left} left to refund on payment {payment_id}"
    );
    let error = field_error("amount", "exceeds the amount left to refund", &message);
    validation_failed(vec![error])
}
