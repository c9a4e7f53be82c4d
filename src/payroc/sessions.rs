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
        terminal: &str,
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
        parse_session(&body, terminal)
    }
}

/// Longest session token handed to a page. Payroc's are 32 hex characters; this leaves room
/// for a format change while refusing to pass on junk.
const MAX_SESSION_TOKEN_CHARS: usize = 512;
/// Longest `expiresAt` passed on verbatim: an RFC 3339 date-time with nanoseconds and an
/// offset is 35 characters (the parser takes any number of fraction digits).
const MAX_EXPIRES_AT_CHARS: usize = 64;

/// A token a page can use: 1 to [`MAX_SESSION_TOKEN_CHARS`] visible ASCII characters.
fn plausible_token(token: &str) -> bool {
    (1..=MAX_SESSION_TOKEN_CHARS).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks the 201 against what was asked: any nonsense is an invalid response (treated as
/// every other one: retried within the budget, then a 502), never a session for a page.
fn parse_session(body: &[u8], terminal: &str) -> Result<Session, PayrocError> {
    let invalid = |why: &str| PayrocError::InvalidResponse(format!("session answer {why}"));
    let parsed: SessionResponse =
        serde_json::from_slice(body).map_err(|_| invalid("is not the expected JSON"))?;
    if parsed.processing_terminal_id != terminal {
        return Err(invalid("names another processing terminal"));
    }
    if !plausible_token(parsed.token.expose()) {
        return Err(invalid("has no plausible token"));
    }
    let expires_at = Some(&parsed.expires_at)
        .filter(|text| text.len() <= MAX_EXPIRES_AT_CHARS)
        .and_then(|text| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        })
        .ok_or_else(|| invalid("has an expiresAt that is not a date-time"))?;
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

    const EXAMPLE: &str = r#"{"processingTerminalId":"1234001","token":"abcdef1234567890abcdef1234567890","expiresAt":"2025-07-02T15:30:00.000+02:00"}"#;

    /// Payroc's example answer with one member replaced.
    fn example_with(member: &str, value: &str) -> Vec<u8> {
        let mut answer: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        answer[member] = value.into();
        answer.to_string().into_bytes()
    }

    #[test]
    fn parses_payrocs_example_answer_and_keeps_expires_at_verbatim() {
        let session = parse_session(EXAMPLE.as_bytes(), "1234001").unwrap();
        assert_eq!(session.processing_terminal_id, "1234001");
        assert_eq!(session.expires_at_text, "2025-07-02T15:30:00.000+02:00");
        assert_eq!(session.expires_at.unix_timestamp(), 1_751_463_000);
        assert!(!format!("{session:?}").contains("abcdef1234567890"));
        let nanos = example_with("expiresAt", "2025-07-02T13:30:00.123456789Z");
        assert!(parse_session(&nanos, "1234001").is_ok());
    }

    #[test]
    fn nonsense_answers_are_invalid_responses() {
        for bad in [
            &br#"{"token":"t","expiresAt":"2025-07-02T15:30:00Z"}"#[..],
            br#"{"processingTerminalId":"1234001","token":"","expiresAt":"2025-07-02T15:30:00Z"}"#,
            br#"{"processingTerminalId":"1234001","token":"t","expiresAt":"tomorrow"}"#,
            b"",
        ] {
            assert!(matches!(
                parse_session(bad, "1234001"),
                Err(PayrocError::InvalidResponse(_))
            ));
        }
    }

    #[test]
    fn a_session_for_another_terminal_is_refused() {
        for other in ["1234002", "", "12340011", " 1234001"] {
            let answer = example_with("processingTerminalId", other);
            assert!(
                matches!(
                    parse_session(&answer, "1234001"),
                    Err(PayrocError::InvalidResponse(_))
                ),
                "{other:?}"
            );
        }
        assert!(parse_session(EXAMPLE.as_bytes(), "1234002").is_err());
    }

    #[test]
    fn only_plausible_tokens_are_accepted() {
        let longest = "a".repeat(MAX_SESSION_TOKEN_CHARS);
        for good in ["t", "abc-DEF_123.~+/=", longest.as_str()] {
            assert!(
                parse_session(&example_with("token", good), "1234001").is_ok(),
                "{good:?}"
            );
        }
        let too_long = "a".repeat(MAX_SESSION_TOKEN_CHARS + 1);
        let megabyte = "a".repeat(1 << 20);
        for bad in [
            "",
            too_long.as_str(),
            megabyte.as_str(),
            "with space",
            "tab\there",
            "line\nbreak",
            "nul\0",
            "del\u{7f}",
            "caf\u{e9}",
            "<script>\u{2028}",
        ] {
            assert!(
                matches!(
                    parse_session(&example_with("token", bad), "1234001"),
                    Err(PayrocError::InvalidResponse(_))
                ),
                "{:?}",
                bad.chars().take(40).collect::<String>()
            );
        }
    }

    #[test]
    fn an_overlong_expires_at_is_refused() {
        let long = format!("2025-07-02T13:30:00.{}Z", "1".repeat(60_000));
        let answer = example_with("expiresAt", &long);
        assert!(matches!(
            parse_session(&answer, "1234001"),
            Err(PayrocError::InvalidResponse(_))
        ));
    }
}
