//! Which browser origins may call: the CORS layer, built from the directory's current
//! origins so that a tenants file reload changes it without a restart.

use std::{sync::Arc, time::Duration};

use axum::http::{Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{layer::REQUEST_ID, state::AppState};
use crate::idempotency;

/// Browsers may cache a CORS preflight this long.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Exact origins only: `BROKER__CORS__ALLOWED_ORIGINS` and every account's `origins`, as the
/// directory has them now. None when no origin is allowed and no tenants file could add one:
/// then no cross-origin call can succeed anyway, and answers need neither CORS headers nor
/// `Vary: origin`, so the layer (which builds a header map per answer) is left out.
pub fn layer(state: &AppState) -> Option<CorsLayer> {
    if !state.tenants_file && !state.directory.snapshot().has_cors_origins() {
        return None;
    }
    let directory = Arc::clone(&state.directory);
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            directory.snapshot().allows_origin(origin)
        }))
        .allow_methods([Method::POST])
        .allow_headers([header::CONTENT_TYPE, idempotency::HEADER])
        .expose_headers([header::DATE, header::RETRY_AFTER, REQUEST_ID])
        .max_age(CORS_MAX_AGE);
    Some(layer)
}
