//! `GET /v1/payments` and `GET /v1/payments/{paymentId}`: one payment, or a page of the
//! caller's own payments in Payroc's cursor pagination (`limit`, `count`, `hasMore`, `links`,
//! `data`), filtered by `processingTerminalId` and `orderId`.

use std::ops::RangeInclusive;

use serde_json::{Value, json};
use url::form_urlencoded;

use super::super::checks::check_accept;
use super::super::problem::{Problem, field_error, validation_failed};
use super::super::state::FakeState;
use super::refund::payment_not_found;
use super::request::{ApiRequest, PAYMENTS_PATH};
use super::store::StoredPayment;

/// The spec's `limit`: default 10, at most 100 (below 1 is refused, a guess).
const LIMITS: RangeInclusive<usize> = 1..=100;
const DEFAULT_LIMIT: usize = 10;

/// The query parameters the fake honours; any others are ignored (the log keeps them raw).
/// The first of repeated parameters wins.
#[derive(Default)]
struct ListQuery {
    terminal: Option<String>,
    order_id: Option<String>,
    limit: Option<usize>,
    before: Option<String>,
    after: Option<String>,
}

impl FakeState {
    pub(super) fn retrieve_payment(
        &self,
        incoming: &ApiRequest,
        payment_id: &str,
        origin: &str,
    ) -> Result<Value, Problem> {
        let account = self.check_bearer(incoming.header("authorization").as_deref())?;
        check_accept(incoming.header("accept").as_deref())?;
        let payment = self.payments.find(account, payment_id);
        payment
            .map(|payment| payment.to_json(origin))
            .ok_or_else(payment_not_found)
    }

    pub(super) fn list_payments(
        &self,
        incoming: &ApiRequest,
        origin: &str,
    ) -> Result<Value, Problem> {
        let account = self.check_bearer(incoming.header("authorization").as_deref())?;
        check_accept(incoming.header("accept").as_deref())?;
        let query = ListQuery::parse(incoming.query.as_deref())?;
        // Positions in creation order; cursors name payments, filtered out or not.
        let mine: Vec<(usize, &StoredPayment)> = (self.payments.payments.iter().enumerate())
            .filter(|(_, payment)| payment.account == account)
            .collect();
        let position = |id: &str, parameter: &str| {
            let found = mine.iter().find(|(_, payment)| payment.id == id);
            found
                .map(|(at, _)| *at)
                .ok_or_else(|| unknown_cursor(parameter, id))
        };
        let before = query
            .before
            .as_deref()
            .map(|id| position(id, "before"))
            .transpose()?;
        let after = query
            .after
            .as_deref()
            .map(|id| position(id, "after"))
            .transpose()?;
        let matching: Vec<(usize, &StoredPayment)> = (mine.iter().copied())
            .filter(|(_, payment)| query.matches(payment))
            .collect();
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
        let positions: Vec<usize> = matching.iter().map(|(at, _)| *at).collect();
        let (start, end) = window(&positions, before, after, limit);
        let page = &matching[start..end];
        let (more_before, more_after) = (start > 0, end < matching.len());
        let mut links = Vec::new();
        if let (Some((_, first)), Some((_, last))) = (page.first(), page.last()) {
            if more_before {
                links.push(query.link("previous", ("before", &first.id), limit, origin));
            }
            if more_after {
                links.push(query.link("next", ("after", &last.id), limit, origin));
            }
        }
        // `hasMore` looks the way the caller is paging: backwards after a `before`.
        let has_more = if before.is_some() {
            more_before
        } else {
            more_after
        };
        let data: Vec<Value> = page.iter().map(|(_, p)| p.to_json(origin)).collect();
        Ok(json!({
            "limit": limit,
            "count": data.len(),
            "hasMore": has_more,
            "links": links,
            "data": data,
        }))
    }
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut parsed = Self::default();
        let mut errors = Vec::new();
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        for (name, value) in pairs {
            let slot = match name.as_ref() {
                "processingTerminalId" => &mut parsed.terminal,
                "orderId" => &mut parsed.order_id,
                "before" => &mut parsed.before,
                "after" => &mut parsed.after,
                "limit" => {
                    match value.parse::<usize>() {
                        Ok(limit) if LIMITS.contains(&limit) => {
                            parsed.limit.get_or_insert(limit);
                        }
                        _ => errors.push(bad_limit(&value)),
                    }
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert_with(|| value.into_owned());
        }
        if parsed.before.is_some() && parsed.after.is_some() {
            let message =
                "You can't send the before parameter in the same request as the after parameter";
            errors.push(field_error("before", "conflicts with after", message));
        }
        if errors.is_empty() {
            Ok(parsed)
        } else {
            Err(validation_failed(errors))
        }
    }

    fn matches(&self, payment: &StoredPayment) -> bool {
        let terminal = self.terminal.as_deref();
        let order_id = self.order_id.as_deref();
        terminal.is_none_or(|t| t == payment.terminal())
            && order_id.is_none_or(|o| o == payment.order_id())
    }

    /// A link to the next or previous page, keeping the filters (a guess: the spec's examples
    /// show only the cursor and `limit`).
    fn link(&self, rel: &str, cursor: (&str, &str), limit: usize, origin: &str) -> Value {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(terminal) = &self.terminal {
            query.append_pair("processingTerminalId", terminal);
        }
        if let Some(order_id) = &self.order_id {
            query.append_pair("orderId", order_id);
        }
        query.append_pair(cursor.0, cursor.1);
        query.append_pair("limit", &limit.to_string());
        let href = format!("{origin}{PAYMENTS_PATH}?{}", query.finish());
        json!({"rel": rel, "method": "get", "href": href})
    }
}

/// The page's slice of the matching payments (given by their creation positions): up to
/// `limit` right after the `after` cursor, right before the `before` one, or from the start.
fn window(
    positions: &[usize],
    before: Option<usize>,
    after: Option<usize>,
    limit: usize,
) -> (usize, usize) {
    let count_before = |cursor: usize| positions.iter().filter(|at| **at < cursor).count();
    match (before, after) {
        (Some(cursor), _) => {
            let end = count_before(cursor);
            (end.saturating_sub(limit), end)
        }
        (None, Some(cursor)) => {
            let start = count_before(cursor + 1);
            (start, (start + limit).min(positions.len()))
        }
        (None, None) => (0, limit.min(positions.len())),
    }
}

fn bad_limit(value: &str) -> Value {
    let message = format!("Expected an integer from 1 to 100, got '{value}' for limit");
    field_error("limit", "out of range", &message)
}

/// A cursor naming no payment of the caller's (another account's included) is refused; what
/// Payroc does then is a guess.
fn unknown_cursor(parameter: &str, id: &str) -> Problem {
    let message = format!("No payment '{id}' to page {parameter}");
    validation_failed(vec![field_error(parameter, "unknown cursor", &message)])
}
