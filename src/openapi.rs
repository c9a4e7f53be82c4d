//! `GET /openapi.json`: the broker's own `OpenAPI` 3.1 document, generated from the handlers'
//! and wire types' annotations (utoipa), rendered once.

use std::sync::OnceLock;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

use crate::{
    http::error::Problem,
    payroc::{FieldError, Scenario},
    routes::{apple_pay, health, metrics, proxy, session, status},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hosted-fields-broker",
        description = "Mints Payroc Hosted Fields sessions for checkout pages without exposing the Payroc API key. \
                       Every error is application/problem+json (RFC 9457).",
    ),
    paths(session::create_session, apple_pay::start_session, health::healthz, health::readyz, metrics::metrics, status::public,
        proxy::authorize, proxy::forward),
    components(schemas(session::SessionRequest, session::SessionResponse, apple_pay::ApplePayRequest, apple_pay::ApplePayResponse, proxy::TokenAnswer, Problem, FieldError, Scenario)),
    modifiers(&CallerKey),
)]
struct ApiDoc;

/// The internal callers' Bearer scheme.
struct CallerKey;

impl Modify for CallerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "callerKey",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "serviceKey",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serialises")
    })
}

pub async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn document_is_openapi_3_1_and_lists_every_contract_status() {
        let doc: Value = serde_json::from_str(super::document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let responses = &doc["paths"]["/hosted-fields/session"]["post"]["responses"];
        for status in [
            "201", "400", "401", "403", "404", "405", "409", "413", "415", "429", "502", "503",
            "504",
        ] {
            assert!(responses.get(status).is_some(), "status {status} missing");
        }
        assert!(responses["400"]["content"]["application/problem+json"].is_object());
        for path in ["/healthz", "/readyz", "/metrics", "/status"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
        }
        assert!(doc["paths"]["/payroc/authorize"]["post"].is_object());
        let apple = &doc["paths"]["/apple-pay/session"]["post"]["responses"];
        for status in [
            "200", "400", "403", "413", "415", "429", "502", "503", "504",
        ] {
            assert!(apple.get(status).is_some(), "apple pay {status} missing");
        }
        for method in ["get", "head", "post", "put", "patch", "delete"] {
            let forward = &doc["paths"]["/payroc/v1/{path}"][method]["responses"];
            for status in ["400", "401", "403", "413", "502", "503", "504"] {
                assert!(forward.get(status).is_some(), "{method} {status} missing");
            }
        }
        let request = &doc["components"]["schemas"]["SessionRequest"]["properties"];
        for member in ["processingTerminalId", "scenario", "secureTokenId"] {
            assert!(request.get(member).is_some(), "{member} missing");
        }
    }
}
