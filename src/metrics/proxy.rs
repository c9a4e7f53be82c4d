//! The pass-through's series: calls by `service`, `rule` and status class, and their latency
//! by `rule`. Service names and rules come from the tenants file, never from the request
//! (`""` where the call was refused before a service or a rule was known).

use std::time::Duration;

use metrics::{Key, Label};

use super::{Metrics, PROXY_DURATION, PROXY_REQUESTS, status_class};

impl Metrics {
    /// One answered `/payroc/v1/...` call (`status` is what the caller got).
    pub fn proxy_call(&self, service: &str, rule: &str, status: u16, elapsed: Duration) {
        let class = status_class(Some(status));
        let rule = Label::new("rule", rule.to_owned());
        let requests = Key::from_parts(
            PROXY_REQUESTS,
            vec![
                Label::new("service", service.to_owned()),
                rule.clone(),
                Label::from_static_parts("status_class", class),
            ],
        );
        self.counter(&requests).increment(1);
        self.histogram(&Key::from_parts(PROXY_DURATION, vec![rule]))
            .record(elapsed.as_secs_f64());
    }
}
