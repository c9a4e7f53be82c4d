//! HTTP endpoints, one file per family.

pub mod health;
pub mod metrics;
pub mod session;
