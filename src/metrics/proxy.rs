//! The pass-through's series: calls by `service`, `rule` and status class, and their latency
//! by `rule`. Service names and rules come from the tenants file, never from the request
//! (`""` where the call was refused before a service or a rule was known). A rule's series are
//! registered once per reload ([`RuleSeries`]), not looked up per call.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use metrics::{Counter, Histogram, Key, Label};

use super::{Metrics, PROXY_DURATION, PROXY_REQUESTS, status_class};

/// The status classes a caller can get, in [`RuleSeries`]' order.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// One service rule's series: its latency histogram, and its calls by status class, each
/// registered the first time that class occurs (no zero series for classes never seen).
#[derive(Clone)]
pub struct RuleSeries(Arc<Series>);

struct Series {
    metrics: Metrics,
    service: Arc<str>,
    rule: Arc<str>,
    duration: Histogram,
    calls: [OnceLock<Counter>; CLASSES.len()],
}

impl std::fmt::Debug for RuleSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuleSeries({:?})", self.0.rule)
    }
}

impl RuleSeries {
    /// The rule as written in the tenants file.
    pub fn rule(&self) -> &str {
        &self.0.rule
    }

    /// One answered call that matched this rule.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = status_class(Some(status));
        let index = CLASSES.iter().position(|c| *c == class).unwrap_or(3);
        self.0.calls[index]
            .get_or_init(|| {
                self.0
                    .metrics
                    .counter(&requests_key(&self.0.service, &self.0.rule, class))
            })
            .increment(1);
        self.0.duration.record(elapsed.as_secs_f64());
    }
}

fn requests_key(service: &str, rule: &str, class: &'static str) -> Key {
    Key::from_parts(
        PROXY_REQUESTS,
        vec![
            Label::new("service", service.to_owned()),
            Label::new("rule", rule.to_owned()),
            Label::from_static_parts("status_class", class),
        ],
    )
}

fn duration_key(rule: &str) -> Key {
    Key::from_parts(PROXY_DURATION, vec![Label::new("rule", rule.to_owned())])
}

impl Metrics {
    /// `rule` of `service`'s series, for its [`crate::accounts::Service`].
    pub fn proxy_rule(&self, service: &Arc<str>, rule: &str) -> RuleSeries {
        RuleSeries(Arc::new(Series {
            metrics: self.clone(),
            service: Arc::clone(service),
            rule: rule.into(),
            duration: self.histogram(&duration_key(rule)),
            calls: Default::default(),
        }))
    }

    /// One answered call refused before a rule matched (`service` `""` when unknown too).
    pub fn proxy_refused(&self, service: &str, status: u16, elapsed: Duration) {
        let class = status_class(Some(status));
        self.counter(&requests_key(service, "", class)).increment(1);
        self.histogram(&duration_key(""))
            .record(elapsed.as_secs_f64());
    }
}
