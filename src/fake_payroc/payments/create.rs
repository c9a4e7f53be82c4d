//! `POST /v1/payments`: the session endpoint's checks in its order (token, key, media types,
//! body, terminal), then a new approved sale or the answer saved under the `Idempotency-Key`.

use serde_json::Value;
use time::OffsetDateTime;

use super::super::checks::{check_accept, check_content_type, check_idempotency_key};
use super::super::problem::{Problem, key_in_use};
use super::super::state::FakeState;
use super::render::card_summary;
use super::request::{ApiRequest, PAYMENTS_PATH};
use super::store::{PaymentsState, SavedAnswer, StoredPayment, approval_code};
use super::validate::validate_payment;

/// The checks every keyed POST shares, in Payroc's order: a live token (401), a UUID v4
/// `Idempotency-Key` (400), JSON in (415) and out (406). `Ok` is the account and the key.
pub(super) fn check_keyed_post(
    state: &FakeState,
    incoming: &ApiRequest,
) -> Result<(usize, String), Problem> {
    let account = state.check_bearer(incoming.header("authorization").as_deref())?;
    let key = incoming.header("idempotency-key");
    let key = check_idempotency_key(key.as_deref())?.to_owned();
    check_content_type(incoming.header("content-type").as_deref())?;
    check_accept(incoming.header("accept").as_deref())?;
    Ok((account, key))
}

impl FakeState {
    pub(super) fn create_payment(
        &mut self,
        incoming: &ApiRequest,
        origin: &str,
    ) -> Result<SavedAnswer, Problem> {
        let (account, key) = check_keyed_post(self, incoming)?;
        let body = validate_payment(&incoming.body)?;
        let terminal = body["processingTerminalId"].as_str().unwrap_or_default();
        self.check_terminal(terminal, &incoming.url, account)?;
        let payments = &mut self.payments;
        if let Some(saved) = payments.replay(account, &key, incoming, &body)? {
            return Ok(saved);
        }
        let payment = StoredPayment {
            id: payments.new_id(),
            account,
            created_at: OffsetDateTime::now_utc(),
            approval_code: approval_code(),
            card: card_summary(&body["paymentMethod"]),
            request: body.clone(),
            refunds: Vec::new(),
        };
        let saved = SavedAnswer {
            path: incoming.path.clone(),
            body,
            status: 201,
            answer: payment.to_json(origin),
            location: Some(format!("{origin}{PAYMENTS_PATH}/{}", payment.id)),
        };
        payments.payments.push(payment);
        payments.created += 1;
        payments.answers.insert((account, key), saved.clone());
        Ok(saved)
    }
}

impl PaymentsState {
    /// Payroc binds a key to the request it was first used with: the same path and body
    /// replay that answer verbatim (`Some`), anything else is a 409. Only POSTs are ever
    /// saved, so the method always matches.
    ///
    /// Keys are scoped per account, as for sessions: one API key's token can never replay
    /// another's answer, nor learn (by a 409) which keys another account used. The payments'
    /// keys are kept apart from the sessions' (a simplification: Payroc's one store would
    /// answer 409 to a key reused across the two).
    pub(super) fn replay(
        &self,
        account: usize,
        key: &str,
        incoming: &ApiRequest,
        body: &Value,
    ) -> Result<Option<SavedAnswer>, Problem> {
        match self.answers.get(&(account, key.to_owned())) {
            None => Ok(None),
            Some(saved) if saved.path == incoming.path && saved.body == *body => {
                Ok(Some(saved.clone()))
            }
            Some(_) => Err(key_in_use(&incoming.url)),
        }
    }
}
