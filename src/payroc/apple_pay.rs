//! `POST {api}/processing-terminals/{id}/apple-pay-sessions`: starts one Apple Pay merchant
//! session for a web page. Payroc answers 200 `{"startSessionResponse": "<JSON as a string>"}`,
//! the string being the object Apple returned, which the page hands to
//! `completeMerchantValidation`. That object is a credential for the payment sheet: its `Debug`
//! never shows it.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::{BearerToken, PayrocClient, PayrocError};
use crate::metrics::Endpoint;

/// The request body, exactly as the `OpenAPI` slice describes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartApplePay<'a> {
    pub apple_domain_id: &'a str,
    pub apple_validation_url: &'a str,
}

/// Apple's merchant session object, parsed out of Payroc's string.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct MerchantSession(Map<String, Value>);

impl fmt::Debug for MerchantSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MerchantSession([redacted])")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartApplePayResponse {
    start_session_response: String,
}

/// The Apple Pay sessions URL of one terminal (the ID percent-encoded as one path segment).
pub fn apple_pay_url(api_url: &Url, terminal: &str) -> Url {
    let mut url = api_url.clone();
    url.path_segments_mut()
        .expect("http(s) URLs have a path")
        .pop_if_empty()
        .extend(["processing-terminals", terminal, "apple-pay-sessions"]);
    url
}

impl PayrocClient {
    /// One attempt: no Idempotency-Key (Payroc declares none; a second merchant session is
    /// harmless).
    pub async fn start_apple_pay(
        &self,
        url: &Url,
        token: &BearerToken,
        body: &StartApplePay<'_>,
        timeout: Duration,
    ) -> Result<MerchantSession, PayrocError> {
        let request = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, token.header_value().clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        let answer = self
            .exchange(
                Endpoint::ApplePay,
                request,
                reqwest::StatusCode::OK,
                timeout,
            )
            .await?;
        parse_merchant_session(&answer)
    }
}

/// Payroc's 200: a `startSessionResponse` string holding a JSON object, or nonsense.
fn parse_merchant_session(answer: &[u8]) -> Result<MerchantSession, PayrocError> {
    let wrapper: StartApplePayResponse = serde_json::from_slice(answer)
        .map_err(|_| PayrocError::InvalidResponse("no startSessionResponse string".into()))?;
    match serde_json::from_str(&wrapper.start_session_response) {
        Ok(Value::Object(session)) => Ok(MerchantSession(session)),
        _ => Err(PayrocError::InvalidResponse(
            "startSessionResponse is not a JSON object".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merchant_session_is_parsed_out_of_its_string_and_never_printed() {
        let answer =
            br#"{"startSessionResponse": "{\"nonce\": \"e5775127\", \"epochTimestamp\": 1}"}"#;
        let session = parse_merchant_session(answer).unwrap();
        assert_eq!(session.0["nonce"], "e5775127");
        assert!(!format!("{session:?}").contains("e5775127"));
        assert_eq!(serde_json::to_value(&session).unwrap()["epochTimestamp"], 1);
    }

    #[test]
    fn anything_but_an_object_in_the_string_is_an_invalid_response() {
        for answer in [
            &br#"{"startSessionResponse": "[]"}"#[..],
            br#"{"startSessionResponse": "not json"}"#,
            br#"{"startSessionResponse": {"nonce": "x"}}"#,
            b"{}",
            b"nonsense",
        ] {
            assert!(matches!(
                parse_merchant_session(answer),
                Err(PayrocError::InvalidResponse(_))
            ));
        }
    }

    #[test]
    fn the_url_names_the_terminal_as_one_segment() {
        let api = Url::parse("https://api.uat.payroc.com/v1").unwrap();
        assert_eq!(
            apple_pay_url(&api, "1234001").as_str(),
            "https://api.uat.payroc.com/v1/processing-terminals/1234001/apple-pay-sessions"
        );
    }
}
