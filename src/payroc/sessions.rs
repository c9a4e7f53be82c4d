//! `POST {api}/processing-terminals/{id}/hosted-fields-sessions`: mints one session token.

use std::{fmt, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{BearerToken, PayrocClient, PayrocError};
use crate::{
    idempotency::{self, IdempotencyKey},
    metrics::Endpoint,
};

/// What the session will be used for (Payroc's `scenario`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    #[default]
    Payment,
    Tokenization,
}

/// The request body, exactly as the `OpenAPI` slice describes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSession<'a> {
    pub lib_version: &'a str,
    pub scenario: Scenario,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_token_id: Option<&'a str>,
}

/// A Hosted Fields session token; `Debug` never shows it.
#[derive(Clone, Deserialize)]
pub struct SessionToken(SecretString);

impl SessionToken {
    /// The token itself, for the one place that hands it to the page.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// Payroc's 201 answer.
#[derive(Clone, Debug)]
pub struct Session {
    pub processing_terminal_id: String,
    pub token: SessionToken,
    /// `expiresAt` as Payroc wrote it, passed on verbatim.
    pub expires_at_text: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    processing_terminal_id: String,
    token: SessionToken,
    expires_at: String,
}

/// The sessions URL for one terminal; the ID is percent-encoded as a single path segment.
pub fn session_url(api_url: &Url, terminal: &str) -> Url {
    let mut url = api_url.clone();
    url.path_segments_mut()
        .expect("http(s) URLs have a path")
        .pop_if_empty()
        .extend(["processing-terminals", terminal, "hosted-fields-sessions"]);
    url
}

impl PayrocClient {
    /// One attempt at creating a session. The caller owns retries and the idempotency key.
    // Failures are logged once, where the request is answered.
    #[tracing::instrument(name = "payroc.create_session", level = "debug", skip_all)]
    pub async fn create_session(
        &self,
        url: &Url,
        token: &BearerToken,
        key: &IdempotencyKey,
        body: &CreateSession<'_>,
        timeout: Duration,
    ) -> Result<Session, PayrocError> {
        let request = self
            .http
            .post(url.clone())
            .header(reqwest::header::AUTHORIZATION, token.header_value().clone())
            .header(idempotency::HEADER, key.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        let body = self
            .exchange(
                Endpoint::CreateSession,
                request,
                reqwest::StatusCode::CREATED,
                timeout,
            )
            .await?;
        parse_session(&body)
    }
}

fn parse_session(body: &[u8]) -> Result<Session, PayrocError> {
    let parsed: SessionResponse = serde_json::from_slice(body).map_err(|_| {
        PayrocError::InvalidResponse("session answer is not the expected JSON".into())
    })?;
    if parsed.token.expose().is_empty() {
        return Err(PayrocError::InvalidResponse(
            "session answer has an empty token".into(),
        ));
    }
    let expires_at = OffsetDateTime::parse(
        &parsed.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| PayrocError::InvalidResponse("session expiresAt is not a date-time".into()))?;
    Ok(Session {
        processing_terminal_id: parsed.processing_terminal_id,
        token: parsed.token,
        expires_at_text: parsed.expires_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_url_encodes_the_terminal_as_one_segment() {
        let api = Url::parse("https://api.uat.payroc.com/v1").unwrap();
        assert_eq!(
            session_url(&api, "1234001").as_str(),
            "https://api.uat.payroc.com/v1/processing-terminals/1234001/hosted-fields-sessions"
        );
        let trailing = Url::parse("https://api.uat.payroc.com/v1/").unwrap();
        assert_eq!(
            session_url(&trailing, "1234001"),
            session_url(&api, "1234001")
        );
        assert!(
            session_url(&api, "../x").path().contains("..%2Fx")
                || session_url(&api, "../x").path().contains("%2E%2E%2Fx")
        );
    }

    #[test]
    fn body_matches_the_openapi_slice() {
        let body = CreateSession {
            lib_version: "1.7.0.261457",
            scenario: Scenario::Payment,
            secure_token_id: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"libVersion": "1.7.0.261457", "scenario": "payment"})
        );
        let body = CreateSession {
            secure_token_id: Some("MREF_1"),
            scenario: Scenario::Tokenization,
            ..body
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"libVersion": "1.7.0.261457", "scenario": "tokenization", "secureTokenId": "MREF_1"})
        );
    }

    #[test]
    fn parses_payrocs_example_answer_and_keeps_expires_at_verbatim() {
        let session = parse_session(
            br#"{"processingTerminalId":"1234001","token":"abcdef1234567890abcdef1234567890","expiresAt":"2025-07-02T15:30:00.000+02:00"}"#,
        )
        .unwrap();
        assert_eq!(session.expires_at_text, "2025-07-02T15:30:00.000+02:00");
        assert_eq!(session.expires_at.unix_timestamp(), 1_751_463_000);
        assert!(!format!("{session:?}").contains("abcdef1234567890"));
    }

    #[test]
    fn nonsense_answers_are_invalid_responses() {
        for bad in [
            &br#"{"token":"t","expiresAt":"2025-07-02T15:30:00Z"}"#[..],
            br#"{"processingTerminalId":"1","token":"","expiresAt":"2025-07-02T15:30:00Z"}"#,
            br#"{"processingTerminalId":"1","token":"t","expiresAt":"tomorrow"}"#,
            b"",
        ] {
            assert!(matches!(
                parse_session(bad),
                Err(PayrocError::InvalidResponse(_))
            ));
        }
    }
}
