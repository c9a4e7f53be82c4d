//! Spans the trace exporter dropped. There is one tracer provider per process, so these are
//! counted process-wide and copied into each application's exposition when it is rendered.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Key, Label};

use super::{Metrics, TRACE_SPANS_DROPPED};

/// Why spans were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDrop {
    /// The export queue was full (the collector slow or down, or spans ending too fast).
    QueueFull,
    /// The batch they were in could not be exported.
    ExportFailed,
}

static QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
static EXPORT_FAILED: AtomicU64 = AtomicU64::new(0);

/// Counts `spans` dropped for `reason`.
pub fn trace_spans_dropped(reason: TraceDrop, spans: u64) {
    let counter = match reason {
        TraceDrop::QueueFull => &QUEUE_FULL,
        TraceDrop::ExportFailed => &EXPORT_FAILED,
    };
    counter.fetch_add(spans, Ordering::Relaxed);
}

/// Copies the process-wide counts into `metrics` (at each scrape).
pub(super) fn render(metrics: &Metrics) {
    for (reason, counter) in [
        ("queue_full", &QUEUE_FULL),
        ("export_failed", &EXPORT_FAILED),
    ] {
        let key = Key::from_parts(
            TRACE_SPANS_DROPPED,
            vec![Label::from_static_parts("reason", reason)],
        );
        metrics
            .counter(&key)
            .absolute(counter.load(Ordering::Relaxed));
    }
}
