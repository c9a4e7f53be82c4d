//! The request schemas of `POST /v1/payments` and `POST /v1/payments/{paymentId}/refund`, as
//! Payroc's spec words them (`paymentRequest`, `referencedRefund`); every violation becomes one
//! element of the 400's `errors`, nested members named with dots (`order.amount`, a guess at
//! how Payroc names them). Unknown members pass, as the schemas do not forbid them.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use super::super::checks::{missing, not_a_string, parse_object};
use super::super::problem::{Problem, field_error, validation_failed};

/// `processingTerminalId`: 4 to 50 characters.
const TERMINAL_ID_CHARS: RangeInclusive<usize> = 4..=50;
/// `operator`: at most 50 characters.
const OPERATOR_CHARS: RangeInclusive<usize> = 0..=50;
/// `order.orderId`: 1 to 24 characters.
const ORDER_ID_CHARS: RangeInclusive<usize> = 1..=24;
/// `order.description`: the spec gives 0-1024 in one branch of its `allOf` and 1-256 in the
/// other; the looser one is enforced.
const ORDER_DESCRIPTION_CHARS: RangeInclusive<usize> = 0..=1024;
/// The refund's `description`: 1 to 100 characters.
const REFUND_DESCRIPTION_CHARS: RangeInclusive<usize> = 1..=100;
const CHANNELS: [&str; 3] = ["pos", "web", "moto"];
const METHOD_TYPES: [&str; 4] = ["card", "secureToken", "digitalWallet", "singleUseToken"];
/// `cardDetails.entryMethod` in a request (the response's enum differs).
const ENTRY_METHODS: [&str; 4] = ["raw", "icc", "keyed", "swiped"];
const WALLETS: [&str; 2] = ["apple", "google"];

/// A create-payment body, as a JSON object, or the 400 listing what is wrong with it.
pub(super) fn validate_payment(bytes: &[u8]) -> Result<Value, Problem> {
    let members = parse_object(bytes)?;
    let mut errors = Vec::new();
    errors.extend(one_of("channel", members.get("channel"), &CHANNELS, true));
    errors.extend(text(
        "processingTerminalId",
        members.get("processingTerminalId"),
        TERMINAL_ID_CHARS,
        true,
    ));
    errors.extend(text(
        "operator",
        members.get("operator"),
        OPERATOR_CHARS,
        false,
    ));
    errors.extend(check_order(members.get("order")));
    errors.extend(check_payment_method(members.get("paymentMethod")));
    finish(members, errors)
}

/// A referenced-refund body: `amount` and `description` required, `operator` optional.
pub(super) fn validate_refund(bytes: &[u8]) -> Result<Value, Problem> {
    let members = parse_object(bytes)?;
    let mut errors = Vec::new();
    // The spec sets no minimum; Payroc's bank-transfer refunds answer "'amount' must be
    // greater than 0", and card refunds are assumed to do the same.
    errors.extend(integer("amount", members.get("amount"), 1));
    let description = members.get("description");
    errors.extend(text(
        "description",
        description,
        REFUND_DESCRIPTION_CHARS,
        true,
    ));
    errors.extend(text(
        "operator",
        members.get("operator"),
        OPERATOR_CHARS,
        false,
    ));
    finish(members, errors)
}

fn finish(members: Map<String, Value>, errors: Vec<Value>) -> Result<Value, Problem> {
    if errors.is_empty() {
        Ok(Value::Object(members))
    } else {
        Err(validation_failed(errors))
    }
}

fn check_order(value: Option<&Value>) -> Vec<Value> {
    let order = match object("order", value) {
        Ok(order) => order,
        Err(error) => return vec![error],
    };
    let description = order.get("description");
    [
        text("order.orderId", order.get("orderId"), ORDER_ID_CHARS, true),
        // The spec sets no minimum either; a negative sale makes no sense, so it is refused.
        integer("order.amount", order.get("amount"), 0),
        check_currency(order.get("currency")),
        text(
            "order.description",
            description,
            ORDER_DESCRIPTION_CHARS,
            false,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The spec lists every ISO 4217 code; three upper-case letters stand in for that list.
fn check_currency(value: Option<&Value>) -> Option<Value> {
    let parameter = "order.currency";
    match value {
        None => Some(missing(parameter)),
        Some(Value::String(code))
            if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) =>
        {
            None
        }
        Some(Value::String(code)) => Some(field_error(
            parameter,
            "invalid value",
            &format!(
                "Expected an ISO 4217 currency code such as USD, got '{code}' for {parameter}"
            ),
        )),
        Some(other) => Some(not_a_string(parameter, other)),
    }
}

/// The `type` discriminator and the members each kind of payment method requires.
fn check_payment_method(value: Option<&Value>) -> Vec<Value> {
    let method = match object("paymentMethod", value) {
        Ok(method) => method,
        Err(error) => return vec![error],
    };
    let kind = method.get("type");
    if let Some(error) = one_of("paymentMethod.type", kind, &METHOD_TYPES, true) {
        return vec![error];
    }
    let required = |name: &str, chars: RangeInclusive<usize>| {
        text(
            &format!("paymentMethod.{name}"),
            method.get(name),
            chars,
            true,
        )
    };
    match kind.and_then(Value::as_str) {
        Some("card") => match object("paymentMethod.cardDetails", method.get("cardDetails")) {
            Ok(details) => {
                let parameter = "paymentMethod.cardDetails.entryMethod";
                let entry = details.get("entryMethod");
                one_of(parameter, entry, &ENTRY_METHODS, true)
                    .into_iter()
                    .collect()
            }
            Err(error) => vec![error],
        },
        Some("digitalWallet") => {
            let provider = method.get("serviceProvider");
            [
                one_of("paymentMethod.serviceProvider", provider, &WALLETS, true),
                required("encryptedData", 1..=usize::MAX),
            ]
            .into_iter()
            .flatten()
            .collect()
        }
        _ => required("token", 1..=usize::MAX).into_iter().collect(),
    }
}

/// A required object's members.
fn object<'a>(parameter: &str, value: Option<&'a Value>) -> Result<&'a Map<String, Value>, Value> {
    match value {
        None => Err(missing(parameter)),
        Some(Value::Object(members)) => Ok(members),
        Some(other) => Err(field_error(
            parameter,
            "must be an object",
            &format!("Expected object, got '{other}' for {parameter}"),
        )),
    }
}

fn text(
    parameter: &str,
    value: Option<&Value>,
    chars: RangeInclusive<usize>,
    required: bool,
) -> Option<Value> {
    match value {
        None if required => Some(missing(parameter)),
        None => None,
        Some(Value::String(text)) if chars.contains(&text.chars().count()) => None,
        Some(Value::String(text)) => Some(field_error(
            parameter,
            "invalid length",
            &format!(
                "Expected {} to {} characters, got {} for {parameter}",
                chars.start(),
                chars.end(),
                text.chars().count()
            ),
        )),
        Some(other) => Some(not_a_string(parameter, other)),
    }
}

fn one_of(
    parameter: &str,
    value: Option<&Value>,
    allowed: &[&str],
    required: bool,
) -> Option<Value> {
    match value {
        None if required => Some(missing(parameter)),
        None => None,
        Some(Value::String(given)) if allowed.contains(&given.as_str()) => None,
        Some(Value::String(given)) => Some(field_error(
            parameter,
            "invalid value",
            &format!(
                "Expected one of {}, got '{given}' for {parameter}",
                allowed.join(", ")
            ),
        )),
        Some(other) => Some(not_a_string(parameter, other)),
    }
}

/// A required `int64` of at least `minimum`, worded like Payroc's "must be greater than"
/// messages.
fn integer(parameter: &str, value: Option<&Value>, minimum: i64) -> Option<Value> {
    match value {
        None => Some(missing(parameter)),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(amount) if amount >= minimum => None,
            Some(amount) => {
                let bound = match minimum {
                    0 => "greater than or equal to 0".to_owned(),
                    _ => format!("greater than {}", minimum - 1),
                };
                let message = format!("'{parameter}' must be {bound}. You entered {amount}.");
                Some(field_error(parameter, "out of range", &message))
            }
            None => Some(not_an_integer(parameter, value)),
        },
        Some(_) => Some(not_an_integer(parameter, value)),
    }
}

fn not_an_integer(parameter: &str, value: Option<&Value>) -> Value {
    let shown = value.map(Value::to_string).unwrap_or_default();
    let message = format!("Expected integer, got '{shown}' for {parameter}");
    field_error(parameter, "must be an integer", &message)
}
