//! HTTP endpoints, one file per family.

pub mod apple_pay;
pub mod assets;
pub mod health;
pub mod metrics;
pub mod proxy;
pub mod session;
pub mod status;
