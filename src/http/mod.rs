//! The HTTP edge, shared by every route: the application state handed to handlers,
//! admission (caller authentication, rate limit, load shedding), the per-request layer, and
//! the one place errors become `application/problem+json`.

pub mod admission;
pub mod body;
pub mod connection;
pub mod cors;
pub mod error;
pub mod layer;
pub mod server;
pub mod state;
pub mod throttle;
