//! hosted-fields-broker: trades a merchant's Payroc API key for Bearer tokens server-side and
//! hands checkout pages 10-minute Hosted Fields session tokens.
//!
//! Layout (arrows point down only: no module imports one that imports it back):
//! - [`startup`]: the application builder, router and graceful shutdown;
//! - [`routes`]: HTTP endpoints, one file per family; [`openapi`]: their document;
//! - [`http`]: the edge: state, admission (callers, rate limit, shedding), the per-request
//!   layer, and the one place errors become problem+json;
//! - [`accounts`]: the accounts and services served now (one token cache each), swapped
//!   whole when [`tenants`] (their validated description) is reloaded;
//! - [`mint`]: one session request against Payroc, retries and 401 replay included;
//! - [`proxy`]: one pass-through call of a named service to Payroc's API, same care;
//! - [`token`]: the Bearer token cache, its refresh task and pure refresh policy;
//! - [`retry`]: the backoff maths both of them use;
//! - [`payroc`]: the upstream HTTP client and wire types;
//! - [`idempotency`], [`metrics`]: shared leaf modules;
//! - [`config`]: layered settings and their validation; [`telemetry`]: log subscriber set-up
//!   and OpenTelemetry traces;
//! - [`fake_payroc`]: an in-process fake of Payroc for tests and `demo`; [`demo`]: that mode;
//! - [`healthcheck`]: the container probe.

pub(crate) mod accounts;
pub(crate) mod apple_pay;
pub mod config;
pub mod demo;
pub mod fake_payroc;
pub mod healthcheck;
pub mod http;
pub(crate) mod idempotency;
pub(crate) mod metrics;
pub(crate) mod mint;
pub(crate) mod openapi;
pub(crate) mod payroc;
pub(crate) mod proxy;
pub(crate) mod retry;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod tenants;
pub(crate) mod token;
