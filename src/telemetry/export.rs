//! The span processor: a bounded queue between the threads that end spans and one export
//! thread. Ending a span only appends it to the queue under a short lock; a full queue drops it
//! and counts it (`broker_trace_spans_dropped_total{reason="queue_full"}`), so a collector that
//! is down or slow costs a request nothing. The export thread is woken only when a batch is
//! full (or at the schedule delay, or to flush), never per span: a wake-up per span cost more
//! than everything else tracing does. It runs its own single-threaded tokio runtime (the
//! OTLP/HTTP exporter's reqwest client needs one), exports one batch at a time, each bounded by
//! the export timeout; a batch that fails is dropped and counted (`{reason="export_failed"}`).

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        mpsc::{SyncSender, sync_channel},
    },
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    trace::{Span, SpanData, SpanExporter, SpanProcessor},
};
use tokio::{
    sync::{Notify, mpsc},
    time::{Instant, sleep_until},
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

/// The queue both sides share.
#[derive(Debug)]
struct Queue {
    spans: Mutex<VecDeque<SpanData>>,
    capacity: usize,
    batch_size: usize,
    /// Notified when the queue reaches a full batch.
    full_batch: Notify,
}

impl Queue {
    /// Up to `most` spans from the front.
    fn take(&self, most: usize) -> Vec<SpanData> {
        let mut spans = self.spans.lock().unwrap_or_else(PoisonError::into_inner);
        let count = most.min(spans.len());
        spans.drain(..count).collect()
    }

    fn len(&self) -> usize {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(super) struct QueueProcessor {
    queue: Arc<Queue>,
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
        let capacity = settings.max_queue_size.max(1);
        let queue = Arc::new(Queue {
            spans: Mutex::new(VecDeque::new()),
            capacity,
            batch_size: settings.max_export_batch_size.clamp(1, capacity),
            full_batch: Notify::new(),
        });
        let (control, orders) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = Worker {
            exporter,
            queue: Arc::clone(&queue),
            timeout: settings.export_timeout,
            failed_since_log: 0,
            last_log: None,
        };
        let delay = settings.schedule_delay;
        std::thread::Builder::new()
            .name("otel-export".into())
            .spawn(move || runtime.block_on(worker.run(orders, delay)))?;
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
        let queue = &self.queue;
        let mut spans = queue.spans.lock().unwrap_or_else(PoisonError::into_inner);
        if spans.len() >= queue.capacity {
            drop(spans);
            trace_spans_dropped(TraceDrop::QueueFull, 1);
            return;
        }
        spans.push_back(span);
        let filled = spans.len() == queue.batch_size;
        drop(spans);
        if filled {
            queue.full_batch.notify_one();
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
    queue: Arc<Queue>,
    timeout: Duration,
    failed_since_log: u64,
    last_log: Option<Instant>,
}

impl<E: SpanExporter> Worker<E> {
    /// Full batches as they fill; whatever is queued at each schedule delay; everything on a
    /// flush or at shutdown.
    async fn run(mut self, mut orders: mpsc::UnboundedReceiver<Control>, delay: Duration) {
        let batch = self.queue.batch_size;
        let mut due = Instant::now() + delay;
        loop {
            tokio::select! {
                biased;
                order = orders.recv() => {
                    self.export_queued(usize::MAX).await;
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
                () = self.queue.full_batch.notified() => {
                    while self.queue.len() >= batch {
                        let spans = self.queue.take(batch);
                        self.export(spans).await;
                    }
                }
                () = sleep_until(due) => {
                    // What is queued now; what comes meanwhile waits for the next round.
                    self.export_queued(self.queue.len()).await;
                    due = Instant::now() + delay;
                }
            }
        }
    }

    /// Exports up to `count` queued spans (`usize::MAX`: until the queue is empty), in batches.
    async fn export_queued(&mut self, mut count: usize) {
        while count > 0 {
            let spans = self.queue.take(count.min(self.queue.batch_size));
            if spans.is_empty() {
                return;
            }
            count = count.saturating_sub(spans.len());
            self.export(spans).await;
        }
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
