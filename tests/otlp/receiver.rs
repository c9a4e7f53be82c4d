//! An OTLP/HTTP traces receiver for tests: `POST /v1/traces` (protobuf) on a loopback port,
//! decoded with the generated OTLP types, every span kept. It runs on its own thread and
//! runtime, so it outlives any one test's runtime; it can be told to answer late.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::span::SpanKind,
};
use prost::Message;

/// One exported span, ids in lower-case hex.
#[derive(Clone, Debug)]
pub struct ExportedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub attributes: Vec<(String, any_value::Value)>,
    /// The span's status is an error.
    pub failed: bool,
    pub resource: Vec<(String, any_value::Value)>,
    /// Every string in the span and its resource and scope: name, keys, values, events,
    /// links, status message, trace state.
    pub strings: Vec<String>,
}

impl ExportedSpan {
    pub fn attribute(&self, key: &str) -> Option<&any_value::Value> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attribute(key) {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Shared {
    spans: Mutex<Vec<ExportedSpan>>,
    /// Export requests received (answered or not yet).
    requests: Mutex<u64>,
    /// How long to wait before answering.
    delay: Mutex<Duration>,
}

/// See the module documentation.
#[derive(Clone)]
pub struct Receiver {
    shared: Arc<Shared>,
    address: SocketAddr,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let state = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let app = Router::new()
                        .route("/v1/traces", post(receive))
                        .with_state(state);
                    axum::serve(listener, app).await.unwrap();
                });
            })
            .unwrap();
        Self { shared, address }
    }

    /// The traces URL to export to.
    pub fn endpoint(&self) -> url::Url {
        format!("http://{}/v1/traces", self.address)
            .parse()
            .unwrap()
    }

    /// From now on, every export is answered only after `delay`.
    pub fn answer_after(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.shared.spans.lock().unwrap().clone()
    }

    pub fn requests(&self) -> u64 {
        *self.shared.requests.lock().unwrap()
    }

    /// The spans of `trace_id`.
    pub fn trace(&self, trace_id: &str) -> Vec<ExportedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }

    /// Waits (at most 10 s) until `done` holds for the spans of `trace_id`; returns them.
    pub async fn wait_for_trace(
        &self,
        trace_id: &str,
        done: impl Fn(&[ExportedSpan]) -> bool,
    ) -> Vec<ExportedSpan> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let spans = self.trace(trace_id);
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} incomplete after 10 s: {:#?}",
                spans
                    .iter()
                    .map(|s| (&s.name, &s.span_id, &s.parent_span_id))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> (StatusCode, Vec<u8>) {
    *shared.requests.lock().unwrap() += 1;
    let delay = *shared.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let mut resource_strings = Vec::new();
        let resource: Vec<_> = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| flatten(&kv, &mut resource_strings))
            .collect();
        for scope_spans in resource_spans.scope_spans {
            let mut scope_strings = resource_strings.clone();
            if let Some(scope) = &scope_spans.scope {
                scope_strings.extend([scope.name.clone(), scope.version.clone()]);
                for kv in &scope.attributes {
                    flatten(kv, &mut scope_strings);
                }
            }
            for span in scope_spans.spans {
                let mut strings = scope_strings.clone();
                strings.extend([
                    span.name.clone(),
                    span.trace_state.clone(),
                    span.status
                        .as_ref()
                        .map(|s| s.message.clone())
                        .unwrap_or_default(),
                ]);
                let attributes = span
                    .attributes
                    .iter()
                    .filter_map(|kv| flatten(kv, &mut strings))
                    .collect();
                for event in &span.events {
                    strings.push(event.name.clone());
                    for kv in &event.attributes {
                        flatten(kv, &mut strings);
                    }
                }
                for link in &span.links {
                    strings.push(link.trace_state.clone());
                    for kv in &link.attributes {
                        flatten(kv, &mut strings);
                    }
                }
                spans.push(ExportedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name.clone(),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    attributes,
                    failed: span.status.as_ref().is_some_and(|s| s.code == 2),
                    resource: resource.clone(),
                    strings,
                });
            }
        }
    }
    shared.spans.lock().unwrap().extend(spans);
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// The key and value of `kv` (strings collected into `strings`, nested ones too).
fn flatten(kv: &KeyValue, strings: &mut Vec<String>) -> Option<(String, any_value::Value)> {
    strings.push(kv.key.clone());
    let value = kv.value.as_ref()?;
    collect(value, strings);
    Some((kv.key.clone(), value.value.clone()?))
}

fn collect(value: &AnyValue, strings: &mut Vec<String>) {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => strings.push(s.clone()),
        Some(any_value::Value::BytesValue(b)) => {
            strings.push(String::from_utf8_lossy(b).into_owned());
        }
        Some(any_value::Value::ArrayValue(array)) => {
            for v in &array.values {
                collect(v, strings);
            }
        }
        Some(any_value::Value::KvlistValue(list)) => {
            for kv in &list.values {
                flatten(kv, strings);
            }
        }
        _ => {}
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A fresh W3C `traceparent` (sampled): its trace id, its span id, and the header.
pub fn traceparent() -> (String, String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let header = format!("00-{trace_id}-{span_id}-01");
    (trace_id, span_id, header)
}

/// `(trace id, parent id)` of a `traceparent` header value.
pub fn parse_traceparent(header: &str) -> (String, String) {
    let parts: Vec<&str> = header.split('-').collect();
    assert_eq!(parts.len(), 4, "a traceparent: {header}");
    assert_eq!(parts[0], "00");
    (parts[1].to_owned(), parts[2].to_owned())
}
