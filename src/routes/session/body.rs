//! The session request's body: read within its limit, then parsed member by member so that
//! every error can name its parameter.

use serde_json::{Map, Value};

use super::SessionRequest;
use crate::{
    http::error::ApiError,
    payroc::{FieldError, Scenario},
};

/// Most characters Payroc accepts in `secureTokenId`.
const SECURE_TOKEN_ID_MAX: usize = 200;
const MEMBERS: [&str; 3] = ["processingTerminalId", "scenario", "secureTokenId"];

pub(super) fn field_error(parameter: &str, detail: impl Into<String>) -> FieldError {
    FieldError {
        parameter: parameter.to_owned(),
        detail: detail.into(),
    }
}

/// Empty (or blank) body → defaults; otherwise JSON only, an object of known members.
pub(super) fn parse_body(json: bool, body: &[u8]) -> Result<SessionRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SessionRequest::default());
    }
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let invalid =
        |detail: String, errors: Vec<FieldError>| ApiError::InvalidRequest { detail, errors };
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("The body is not valid JSON: {e}."), Vec::new()))?;
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(SessionRequest::default()),
        _ => {
            return Err(invalid(
                "The body must be a JSON object.".into(),
                Vec::new(),
            ));
        }
    };
    validate_members(object).map_err(|errors| {
        invalid(
            "One or more members are invalid; see errors.".into(),
            errors,
        )
    })
}

pub(super) fn validate_members(
    mut object: Map<String, Value>,
) -> Result<SessionRequest, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = object
        .keys()
        .filter(|name| !MEMBERS.contains(&name.as_str()))
        .map(|name| {
            field_error(
                name,
                format!("unknown member; expected one of {}", MEMBERS.join(", ")),
            )
        })
        .collect();
    let mut text = |name: &str, object: &mut Map<String, Value>| match object.remove(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(field_error(name, "must be a string"));
            None
        }
    };
    let terminal = text("processingTerminalId", &mut object);
    let scenario = text("scenario", &mut object);
    let secure_token_id = text("secureTokenId", &mut object);
    let scenario = match scenario.as_deref() {
        None | Some("payment") => Scenario::Payment,
        Some("tokenization") => Scenario::Tokenization,
        Some(_) => {
            errors.push(field_error(
                "scenario",
                "must be \"payment\" or \"tokenization\"",
            ));
            Scenario::Payment
        }
    };
    if let Some(id) = &secure_token_id
        && !(1..=SECURE_TOKEN_ID_MAX).contains(&id.chars().count())
    {
        errors.push(field_error(
            "secureTokenId",
            format!("must be 1 to {SECURE_TOKEN_ID_MAX} characters"),
        ));
    }
    if errors.is_empty() {
        Ok(SessionRequest {
            processing_terminal_id: terminal,
            scenario,
            secure_token_id,
        })
    } else {
        Err(errors)
    }
}
