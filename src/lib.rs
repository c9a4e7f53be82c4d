//! hosted-fields-broker: trades a merchant's Payroc API key for Bearer tokens server-side and
//! hands checkout pages 10-minute Hosted Fields session tokens.
//!
//! Layout:
//! - [`config`]: layered settings and their validation;
//! - [`telemetry`]: log subscriber set-up;
//! - [`startup`]: the application builder, router and graceful shutdown;
//! - [`routes`]: HTTP endpoints; [`error`]: the one place errors become problem+json;
//! - [`callers`]: anonymous browsers vs authenticated internal services;
//! - [`idempotency`]: caller and broker `Idempotency-Key`s;
//! - [`mint`]: one session request against Payroc, retries and 401 replay included;
//! - [`token`]: the Bearer token cache, its refresh task and pure refresh policy;
//! - [`payroc`]: the upstream HTTP client and wire types;
//! - [`fake_payroc`]: an in-process fake of Payroc for tests and `demo`; [`demo`]: that mode;
//! - [`metrics`], [`limits`] (rate limit, load shedding), [`openapi`], [`healthcheck`].

pub mod callers;
pub mod config;
pub mod demo;
pub mod error;
pub mod fake_payroc;
pub mod healthcheck;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod mint;
pub mod openapi;
pub mod payroc;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod token;
