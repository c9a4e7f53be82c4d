//! `POST /authorize`: trades the API key (`x-api-key`) for a Bearer token.

use std::{fmt, path::Path, time::Duration};

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{PayrocClient, PayrocError};
use crate::{
    config::{ApiKeyError, ApiKeySource},
    metrics::Endpoint,
    telemetry,
};

/// A Bearer token for Payroc's API, kept as the ready `Authorization` value (built and
/// checked once per token, not per request), marked sensitive. Its `Debug` never shows it.
#[derive(Clone)]
pub struct BearerToken(HeaderValue);

impl BearerToken {
    /// `None` when the token cannot be sent in a header.
    pub fn new(secret: &str) -> Option<Self> {
        let mut value = HeaderValue::from_str(&format!("Bearer {secret}")).ok()?;
        value.set_sensitive(true);
        Some(Self(value))
    }

    /// The `Authorization` header value. Only the HTTP client should call this.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

/// A token identity issued, with the lifetime it announced.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: BearerToken,
    pub expires_in: Duration,
}

/// Identity's answer; `expires_in` and `access_token` are checked, not trusted.
#[derive(Deserialize)]
struct AuthorizeResponse {
    access_token: Option<SecretString>,
    expires_in: Option<f64>,
}

impl PayrocClient {
    /// Fetches a fresh Bearer token for `api_key`, read (file sources are re-read) each time.
    // Failures are logged once, by the refresher, with what it does next.
    #[tracing::instrument(name = "payroc.authorize", level = "debug", skip_all)]
    pub async fn authorize(&self, api_key: &ApiKeySource) -> Result<AccessToken, PayrocError> {
        let unavailable = |error| PayrocError::ApiKey {
            error,
            file: api_key.file().map(Path::to_path_buf),
        };
        // `read` refuses anything but printable ASCII, so a key that is read is a header value.
        let key = api_key.read().map_err(unavailable)?;
        let mut header = reqwest::header::HeaderValue::from_str(key.expose_secret())
            .map_err(|_| unavailable(ApiKeyError::NotPrintable))?;
        header.set_sensitive(true);
        let request = self
            .http
            .post(self.identity_url.clone())
            .header("x-api-key", header)
            .header(reqwest::header::ACCEPT, "application/json");
        // One attempt per fetch: the refresher decides when to fetch again.
        let traced = telemetry::attempt_span(Endpoint::Authorize, &reqwest::Method::POST, 1);
        let token = telemetry::within(traced.as_ref(), async {
            let body = self
                .exchange(
                    Endpoint::Authorize,
                    request,
                    reqwest::StatusCode::OK,
                    self.request_timeout,
                )
                .await?;
            parse_authorize(&body)
        })
        .await;
        if let Err(error) = &token {
            telemetry::attempt_failed(traced.as_ref(), error.kind());
        }
        token
    }
}

fn parse_authorize(body: &[u8]) -> Result<AccessToken, PayrocError> {
    let parsed: AuthorizeResponse = serde_json::from_slice(body).map_err(|_| {
        PayrocError::InvalidResponse("identity answer is not the expected JSON".into())
    })?;
    let token = parsed
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| {
            PayrocError::InvalidResponse("identity answer has no access_token".into())
        })?;
    let expires_in = parsed
        .expires_in
        .filter(|s| s.is_finite() && *s >= 1.0)
        .ok_or_else(|| {
            PayrocError::InvalidResponse("identity answer has no positive expires_in".into())
        })?;
    let token = BearerToken::new(token.expose_secret()).ok_or_else(|| {
        PayrocError::InvalidResponse(
            "identity issued a token that is not a valid header value".into(),
        )
    })?;
    Ok(AccessToken {
        token,
        expires_in: Duration::from_secs_f64(expires_in.min(86_400.0 * 30.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_debug_is_redacted() {
        let token = BearerToken::new("super-secret-bearer").unwrap();
        assert!(!format!("{:?}", token.header_value()).contains("super-secret-bearer"));
        assert!(!format!("{token:?}").contains("super-secret-bearer"));
        let access = AccessToken {
            token,
            expires_in: Duration::from_secs(1),
        };
        assert!(!format!("{access:?}").contains("super-secret-bearer"));
    }

    #[test]
    fn identity_answer_needs_a_token_and_a_positive_lifetime() {
        let ok =
            parse_authorize(br#"{"access_token":"t","expires_in":3600,"token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!(ok.expires_in, Duration::from_secs(3600));
        for bad in [
            &br#"{"expires_in":3600}"#[..],
            br#"{"access_token":"","expires_in":3600}"#,
            br#"{"access_token":"bad\ntoken","expires_in":3600}"#,
            br#"{"access_token":"t"}"#,
            br#"{"access_token":"t","expires_in":0}"#,
            br#"{"access_token":"t","expires_in":-5}"#,
            b"not json",
        ] {
            assert!(matches!(
                parse_authorize(bad),
                Err(PayrocError::InvalidResponse(_))
            ));
        }
    }
}
