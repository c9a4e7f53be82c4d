//! One pass-through attempt for a named service (`/payroc/v1/...`): the method, URL, allow-listed
//! headers and body go out with the account's Bearer token; the status, the few headers a
//! caller may see and the body (up to a configured cap) come back. What to do with the answer
//! (retry, heal a 401, pass it back) is the caller's to decide.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{
    Method, StatusCode,
    header::{self, HeaderMap, HeaderName},
};
use tokio::time::Instant;
use url::Url;

use super::{BearerToken, PayrocClient, PayrocError, body::read_capped, retry_after};
use crate::{metrics::Endpoint, telemetry};

/// Payroc's answer headers a caller gets back; everything else (hop-by-hop headers,
/// `Set-Cookie`, Payroc's internal headers) stays here.
const ANSWER_HEADERS: [HeaderName; 3] =
    [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER];

/// What one attempt sends.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub method: &'a Method,
    pub url: &'a Url,
    /// Only the caller's allow-listed headers: the token (and, tracing, the attempt's
    /// `traceparent`) is added per attempt.
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
}

/// Payroc's answer, read whole (up to the cap) and stripped to [`ANSWER_HEADERS`].
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// How long Payroc asked the caller to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }
}

impl PayrocClient {
    /// Sends one attempt. Transport failures (refused, dropped, timed out) are
    /// [`PayrocError::Transient`]; an answer over `cap` bytes is [`PayrocError::InvalidResponse`].
    /// Every status, 401 and 5xx included, is an [`Answer`].
    pub async fn forward(
        &self,
        outgoing: &Outgoing<'_>,
        token: &BearerToken,
        timeout: Duration,
        cap: usize,
    ) -> Result<Answer, PayrocError> {
        let _permit = self.connection(timeout).await?;
        let mut request = self
            .http
            .request(outgoing.method.clone(), outgoing.url.clone())
            .headers(outgoing.headers.clone())
            .header(header::AUTHORIZATION, token.header_value().clone())
            .timeout(timeout);
        if !outgoing.body.is_empty() || has_body(outgoing.method) {
            request = request.body(outgoing.body.clone());
        }
        request = telemetry::propagate(request);
        let started = Instant::now();
        let answer = async {
            let mut response = request.send().await?;
            let status = response.status();
            let headers = pick(response.headers());
            let body = read_capped(&mut response, cap).await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let status = answer.as_ref().ok().map(|(status, ..)| status.as_u16());
        self.metrics
            .upstream(Endpoint::Api, status, started.elapsed());
        telemetry::record_answer(status);
        let (status, headers, body) = answer.map_err(|e| PayrocError::from_reqwest(&e))?;
        let body = body.ok_or_else(|| {
            PayrocError::InvalidResponse(format!("answer larger than {cap} bytes"))
        })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// Methods whose requests carry a body even when it is empty (`Content-Length: 0`).
fn has_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

fn pick(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in ANSWER_HEADERS {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_answer_headers_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers.insert(
            header::LOCATION,
            "https://api/v1/payments/X".parse().unwrap(),
        );
        headers.insert(header::RETRY_AFTER, "3".parse().unwrap());
        headers.insert(header::SET_COOKIE, "a=b".parse().unwrap());
        headers.insert(header::CONNECTION, "keep-alive".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-payroc-trace", "t".parse().unwrap());
        let kept = pick(&headers);
        assert_eq!(kept.len(), 3);
        assert!(ANSWER_HEADERS.iter().all(|name| kept.contains_key(name)));
    }
}
