//! Payroc's `payment` body as the spec's examples show it: the order with its `dateTime`, a
//! masked `card` summary, the `refunds` so far and an approved `transactionResult`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::store::{StoredPayment, StoredRefund};

/// `dateTime` as the spec's examples write it: whole seconds, UTC, `Z`.
const DATE_TIME_FORMAT: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// The card a token or a wallet stands for: the fake has no vault, so every one is the spec's
/// example card.
const STAND_IN_CARD: (&str, &str, &str) = ("Visa", "453985******7062", "1225");

/// Members of the request a payment echoes unchanged.
const ECHOED: [&str; 3] = ["operator", "customer", "customFields"];

pub(super) fn format_date_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(DATE_TIME_FORMAT)
        .expect("a four-digit year always formats")
}

impl StoredPayment {
    /// The payment as Payroc returns it now; `origin` roots the refunds' links.
    pub(super) fn to_json(&self, origin: &str) -> Value {
        let order = &self.request["order"];
        let mut order_json = json!({
            "orderId": order["orderId"],
            "dateTime": format_date_time(self.created_at),
            "amount": order["amount"],
            "currency": order["currency"],
        });
        if let Some(description) = order.get("description") {
            order_json["description"] = description.clone();
        }
        let mut payment = json!({
            "paymentId": self.id,
            "processingTerminalId": self.terminal(),
            "order": order_json,
            "card": self.card,
            // Which follow-on operations Payroc offers is a guess: a refund while money is left.
            "supportedOperations": if self.refundable() > 0 { json!(["refund"]) } else { json!([]) },
            "transactionResult": {
                "type": "sale",
                "status": "ready",
                "approvalCode": self.approval_code,
                "authorizedAmount": self.amount(),
                "currency": order["currency"],
                "responseCode": "A",
                "responseMessage": "APPROVAL",
            },
        });
        for member in ECHOED {
            if let Some(value) = self.request.get(member) {
                payment[member] = value.clone();
            }
        }
        if !self.refunds.is_empty() {
            let currency = &order["currency"];
            let refunds = self.refunds.iter().map(|r| r.to_json(currency, origin));
            payment["refunds"] = refunds.collect();
        }
        payment
    }
}

impl StoredRefund {
    /// A `refundSummary`. The spec's refund example shows a negative amount while its
    /// retrieve example and the schema's wording ("Amount of the refund") show a positive one;
    /// the fake sends the amount refunded, positive.
    fn to_json(&self, currency: &Value, origin: &str) -> Value {
        json!({
            "refundId": self.id,
            "dateTime": format_date_time(self.created_at),
            "currency": currency,
            "amount": self.amount,
            "status": "ready",
            "responseCode": "A",
            "responseMessage": "Transaction refunded",
            "link": {
                "rel": "self",
                "method": "GET",
                "href": format!("{origin}/v1/refunds/{}", self.id),
            },
        })
    }
}

/// The `card` summary of a request's `paymentMethod`: a keyed card shows its own brand, masked
/// number and expiry; anything else (encrypted reads, tokens, wallets) the stand-in card.
pub(super) fn card_summary(method: &Value) -> Value {
    let details = &method["cardDetails"];
    let keyed = &details["keyedData"];
    let number = keyed["cardNumber"]
        .as_str()
        .filter(|n| n.len() >= 12 && n.bytes().all(|b| b.is_ascii_digit()));
    let (brand, masked, expiry) = match number {
        Some(number) => (
            brand(number),
            mask(number),
            keyed["expiryDate"]
                .as_str()
                .unwrap_or(STAND_IN_CARD.2)
                .to_owned(),
        ),
        None => (
            STAND_IN_CARD.0,
            STAND_IN_CARD.1.to_owned(),
            STAND_IN_CARD.2.to_owned(),
        ),
    };
    // `raw` is a request-only entry method; its reads answer as chip reads (a guess).
    let entry = match details["entryMethod"].as_str() {
        Some("icc" | "raw") => "icc",
        Some("swiped") => "swiped",
        _ => "keyed",
    };
    let mut card = Map::new();
    card.insert("type".to_owned(), brand.into());
    card.insert("entryMethod".to_owned(), entry.into());
    if let Some(name) = details["cardholderName"].as_str() {
        card.insert("cardholderName".to_owned(), name.into());
    }
    card.insert("cardNumber".to_owned(), masked.into());
    card.insert("expiryDate".to_owned(), expiry.into());
    Value::Object(card)
}

/// First six and last four digits, as Payroc masks them (`453985******7062`).
fn mask(number: &str) -> String {
    let hidden = number.len() - 10;
    format!(
        "{}{}{}",
        &number[..6],
        "*".repeat(hidden),
        &number[number.len() - 4..]
    )
}

/// The brand by leading digits, roughly as issuers allocate them.
fn brand(number: &str) -> &'static str {
    let two: u32 = number[..2].parse().unwrap_or_default();
    match two {
        40..=49 => "Visa",
        51..=55 | 22..=27 => "MasterCard",
        34 | 37 => "American Express",
        60 | 64 | 65 => "Discover",
        _ => "Unknown",
    }
}
