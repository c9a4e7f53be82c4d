//! Subscriber set-up: human or JSON lines on stdout, filtered by `RUST_LOG`. The per-request
//! layer (request ids, the request span, the 5xx log line) is part of the HTTP edge,
//! [`crate::http::layer`].

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset: the broker's own events, and warnings from the rest.
const DEFAULT_FILTER: &str = "warn,hosted_fields_broker=info";

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stdout().is_terminal()),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            )
            .init(),
    }
}
