//! Integration tests: the broker on a real socket against the fake Payroc (and wiremock where
//! exact request matching is clearer). One binary, a file per feature.

mod apple_pay;
mod assets;
mod binary;
mod binary_tenants;
mod edge;
mod fleet;
mod helpers;
mod idempotency;
mod limits;
mod metrics;
mod proxy;
mod proxy_failures;
mod proxy_helpers;
mod redirects;
mod redis_helpers;
mod reload;
mod resilience;
mod session;
mod shutdown;
mod status;
mod tenants;
mod tenants_helpers;
mod token;
mod upstream_answers;
mod validation;
