//! Subscriber set-up: human or JSON lines on stdout, filtered by `RUST_LOG`, and, when an OTLP
//! endpoint is configured ([`TraceSettings`]), OpenTelemetry traces. The per-request layer
//! (request ids, the request span, the 5xx log line) is part of the HTTP edge,
//! [`crate::http::layer`].
//!
//! Each layer has its own filter: the log lines keep `RUST_LOG`'s level, while the
//! OpenTelemetry layer sees only the spans made for it ([`spans`], target [`TARGET`]), whatever
//! the log level. Those are created only while tracing is on ([`enabled`]); with it off there
//! is no OpenTelemetry layer, no export thread, and no span or header work on any request.

mod export;
mod settings;
mod spans;

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::{InstrumentationScope, KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    resource::TelemetryResourceDetector,
    trace::{Sampler, SdkTracerProvider},
};
use tracing::{Level, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, filter, fmt, fmt::MakeWriter, layer::SubscriberExt,
    util::SubscriberInitExt,
};

use self::export::QueueProcessor;
pub use self::settings::{DEFAULT_SERVICE_NAME, SamplerChoice, TraceSettings};
pub use self::spans::TARGET;
pub(crate) use self::spans::{
    Traced, attempt_failed, attempt_span, finish_server_span, propagate, record_answer,
    refresh_ended, refresh_span, server_span, token_wait_ended, token_wait_span, within,
};
use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset: the broker's own events, and warnings from the rest.
pub const DEFAULT_FILTER: &str = "warn,hosted_fields_broker=info";

/// Shutting down waits this long at most for the last spans to be exported.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Set once the process exports traces; read on the request path (one relaxed load).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What [`init`] started: the tracer provider, when tracing is on. Call [`Telemetry::shutdown`]
/// before exiting, so spans still queued are sent.
#[must_use = "shut it down before exiting, or the last spans are lost"]
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is queued (waiting for the collector at most a few export timeouts).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            let _ = provider.force_flush();
        }
    }

    /// Exports what is queued (within a few seconds) and stops the export thread. Blocking:
    /// call it where blocking is fine (`spawn_blocking`, or after the runtime stopped).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_WAIT)
        {
            tracing::warn!(%error, "traces still queued at shutdown may be lost");
        }
    }
}

/// Installs the global subscriber: logs to stdout filtered by `RUST_LOG`, and traces when
/// `traces` is set. Call once, from `main`.
pub fn init(format: LogFormat, traces: Option<&TraceSettings>) -> Result<Telemetry, String> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    install(format, filter, std::io::stdout, traces)
}

/// [`init`] with the log filter and writer given: tests capture the lines.
pub fn install<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    traces: Option<&TraceSettings>,
) -> Result<Telemetry, String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // The exported spans are the OpenTelemetry layer's alone, whatever `RUST_LOG` says.
    let filter = filter.add_directive(format!("{TARGET}=off").parse().expect("a valid directive"));
    let (traces_layer, provider) = match traces {
        Some(settings) => {
            let (layer, provider) = traces_layer(settings)?;
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    let registry = tracing_subscriber::registry().with(traces_layer);
    let installed = match format {
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(writer)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(writer)
                    .with_filter(filter),
            )
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    ENABLED.store(provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// The OpenTelemetry layer, filtered to the broker's exported spans, and its provider: spans
/// go through a bounded queue to one export thread (see [`export`]).
fn traces_layer(
    settings: &TraceSettings,
) -> Result<
    (
        impl Layer<Registry> + Send + Sync + 'static,
        SdkTracerProvider,
    ),
    String,
> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot start the trace exporter: {e}");
    let http = reqwest::Client::builder()
        // A redirect would carry the collector's headers (its credentials) elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.export_timeout)
        .connect_timeout(settings.export_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("hosted-fields-broker/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| failed(&e))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.as_str())
        .with_timeout(settings.export_timeout)
        .build()
        .map_err(|e| failed(&e))?;
    let resource = Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes(
            settings
                .resource
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_service_name(settings.service_name.clone())
        .build();
    opentelemetry_sdk::trace::SpanExporter::set_resource(&mut exporter, &resource);
    let processor = QueueProcessor::start(exporter, settings).map_err(|e| failed(&e))?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler(settings.sampler))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("hosted-fields-broker")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(
            filter::filter_fn(|metadata| metadata.target() == TARGET)
                .with_max_level_hint(LevelFilter::from_level(Level::INFO)),
        );
    Ok((layer, provider))
}

fn sampler(choice: SamplerChoice) -> Sampler {
    let parent_based = |root| Sampler::ParentBased(Box::new(root));
    match choice {
        SamplerChoice::AlwaysOn => Sampler::AlwaysOn,
        SamplerChoice::AlwaysOff => Sampler::AlwaysOff,
        SamplerChoice::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerChoice::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
        SamplerChoice::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
        SamplerChoice::ParentBasedTraceIdRatio(ratio) => {
            parent_based(Sampler::TraceIdRatioBased(ratio))
        }
    }
}
