//! The pass-through's own problems (`/payroc/...`): a service key that is not one, and a call
//! that got no Payroc answer it may pass back. Payroc's answers themselves pass unchanged.

use axum::http::StatusCode as S;

use super::{ApiError, Problem};

impl ApiError {
    pub(super) fn proxy_problem(&self) -> Problem {
        match self {
            Self::ServiceUnauthenticated => Problem::new(
                S::UNAUTHORIZED,
                "urn:hosted-fields-broker:unauthenticated",
                "Service not authenticated",
                "Send a service key of the tenants file: as x-api-key to /payroc/authorize, as `Authorization: Bearer` to /payroc/v1.",
            ),
            Self::ProxyFailed(_) => Problem::new(
                S::BAD_GATEWAY,
                "urn:hosted-fields-broker:upstream-failed",
                "Payroc did not answer",
                "No usable answer came from Payroc. A request without an Idempotency-Key is sent once and may have been processed: check before sending it again.",
            ),
            Self::ProxyTimeout(_) => Problem::new(
                S::GATEWAY_TIMEOUT,
                "urn:hosted-fields-broker:deadline-exceeded",
                "Payroc did not answer in time",
                "The call ran out of time. A request without an Idempotency-Key may have been processed: check before sending it again.",
            ),
            _ => unreachable!("only the pass-through's variants come here"),
        }
    }
}
