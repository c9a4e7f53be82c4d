//! The span processor: a bounded queue between the threads that end spans and one export
//! thread. Ending a span only tries to put it in the queue; a full queue drops it and counts
//! it (`broker_trace_spans_dropped_total{reason="queue_full"}`), so a collector that is down or
//! slow costs a request nothing. The export thread runs its own single-threaded tokio runtime
//! (the OTLP/HTTP exporter's reqwest client needs one), sends a batch when it is full or a span
//! has waited the schedule delay, one export at a time, each bounded by the export timeout; a
//! batch that fails is dropped and counted (`{reason="export_failed"}`).

use std::{
    mem,
    sync::mpsc::{SyncSender, sync_channel},
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanExporter, SpanProcessor},
};
use tokio::{
    sync::mpsc::{self, error::TrySendError},
    time::{Instant, MissedTickBehavior},
};

use super::TraceSettings;
use crate::metrics::{TraceDrop, trace_spans_dropped};

/// Export failures are logged at most this often; the next line says how many batches failed
/// meanwhile.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What the processor asks of the export thread besides exporting; each answers when done.
enum Control {
    Flush(SyncSender<()>),
    Shutdown(SyncSender<()>),
}

/// See the module documentation.
#[derive(Debug)]
pub(super) struct QueueProcessor {
    queue: mpsc::Sender<SpanData>,
    control: mpsc::UnboundedSender<Control>,
    /// How long a flush may wait for the export thread.
    flush_wait: Duration,
}

impl QueueProcessor {
    /// Starts the export thread for `exporter`.
    pub(super) fn start<E: SpanExporter + 'static>(
        exporter: E,
        settings: &TraceSettings,
    ) -> std::io::Result<Self> {
        let (queue, spans) = mpsc::channel(settings.max_queue_size);
        let (control, orders) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = Worker {
            exporter,
            batch_size: settings.max_export_batch_size.max(1),
            timeout: settings.export_timeout,
            failed_since_log: 0,
            last_log: None,
        };
        let delay = settings.schedule_delay.max(Duration::from_millis(1));
        std::thread::Builder::new()
            .name("otel-export".into())
            .spawn(move || runtime.block_on(worker.run(spans, orders, delay)))?;
        Ok(Self {
            queue,
            control,
            flush_wait: settings.export_timeout + Duration::from_secs(5),
        })
    }

    fn ask(&self, order: fn(SyncSender<()>) -> Control, wait: Duration) -> OTelSdkResult {
        let (done, answered) = sync_channel(1);
        self.control
            .send(order(done))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        answered
            .recv_timeout(wait)
            .map_err(|_| OTelSdkError::Timeout(wait))
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if let Err(TrySendError::Full(_)) = self.queue.try_send(span) {
            trace_spans_dropped(TraceDrop::QueueFull, 1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.ask(Control::Flush, self.flush_wait)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.ask(Control::Shutdown, timeout)
    }
}

/// The export thread's state.
struct Worker<E> {
    exporter: E,
    batch_size: usize,
    timeout: Duration,
    failed_since_log: u64,
    last_log: Option<Instant>,
}

impl<E: SpanExporter> Worker<E> {
    async fn run(
        mut self,
        mut spans: mpsc::Receiver<SpanData>,
        mut orders: mpsc::UnboundedReceiver<Control>,
        delay: Duration,
    ) {
        let mut batch = Vec::with_capacity(self.batch_size);
        let mut tick = tokio::time::interval(delay);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let room = self.batch_size - batch.len();
            tokio::select! {
                biased;
                order = orders.recv() => {
                    self.drain(&mut spans, &mut batch).await;
                    match order {
                        Some(Control::Flush(done)) => {
                            let _ = done.send(());
                        }
                        Some(Control::Shutdown(done)) => {
                            let _ = self.exporter.shutdown();
                            let _ = done.send(());
                            return;
                        }
                        None => return,
                    }
                }
                received = spans.recv_many(&mut batch, room), if room > 0 => {
                    if received == 0 {
                        // The processor is gone.
                        self.export(mem::take(&mut batch)).await;
                        return;
                    }
                    if batch.len() >= self.batch_size {
                        self.export(mem::take(&mut batch)).await;
                        tick.reset();
                    }
                }
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.export(mem::take(&mut batch)).await;
                    }
                }
            }
        }
    }

    /// Exports everything queued now, in batches.
    async fn drain(&mut self, spans: &mut mpsc::Receiver<SpanData>, batch: &mut Vec<SpanData>) {
        while let Ok(span) = spans.try_recv() {
            batch.push(span);
            if batch.len() >= self.batch_size {
                self.export(mem::take(batch)).await;
            }
        }
        self.export(mem::take(batch)).await;
    }

    async fn export(&mut self, batch: Vec<SpanData>) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len() as u64;
        let failure = match tokio::time::timeout(self.timeout, self.exporter.export(batch)).await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        trace_spans_dropped(TraceDrop::ExportFailed, count);
        self.failed_since_log += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|at| now.duration_since(at) >= FAILURE_LOG_INTERVAL)
        {
            tracing::warn!(
                spans = count,
                failed_batches = self.failed_since_log,
                error = %failure,
                "trace export failed; its spans are dropped (logged at most once a minute)"
            );
            self.failed_since_log = 0;
            self.last_log = Some(now);
        }
    }
}
