//! The traces' settings, read from the standard `OTEL_*` variables by [`TraceSettings::from_env`]
//! (in `main`) or built directly (tests). No endpoint variable: no settings, tracing off.

use std::{fmt, time::Duration};

use url::Url;

/// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "hosted-fields-broker";

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerChoice {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl fmt::Display for SamplerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlwaysOn => f.write_str("always_on"),
            Self::AlwaysOff => f.write_str("always_off"),
            Self::TraceIdRatio(ratio) => write!(f, "traceidratio {ratio}"),
            Self::ParentBasedAlwaysOn => f.write_str("parentbased_always_on"),
            Self::ParentBasedAlwaysOff => f.write_str("parentbased_always_off"),
            Self::ParentBasedTraceIdRatio(ratio) => write!(f, "parentbased_traceidratio {ratio}"),
        }
    }
}

/// Where and how spans are exported. `Debug` leaves the endpoint's user information and query
/// out (they may hold a credential).
#[derive(Clone, PartialEq)]
pub struct TraceSettings {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    pub endpoint: Url,
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`, `service.name` aside.
    pub resource: Vec<(String, String)>,
    pub sampler: SamplerChoice,
    /// Finished spans waiting for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`); more are dropped
    /// and counted.
    pub max_queue_size: usize,
    /// Spans per export request at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_export_batch_size: usize,
    /// A span waits at most this long for its batch to fill (`OTEL_BSP_SCHEDULE_DELAY`).
    pub schedule_delay: Duration,
    /// One export request, retries included, takes at most this long
    /// (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, `OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub export_timeout: Duration,
}

impl fmt::Debug for TraceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceSettings")
            .field("endpoint", &shown(&self.endpoint))
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("schedule_delay", &self.schedule_delay)
            .field("export_timeout", &self.export_timeout)
            .finish()
    }
}

impl TraceSettings {
    /// The standard defaults (`parentbased_always_on`, a queue of 2 048, batches of 512 every
    /// 5 s, 10 s per export) for `endpoint`, the full traces URL.
    pub fn new(endpoint: Url) -> Self {
        Self {
            endpoint,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource: Vec::new(),
            sampler: SamplerChoice::ParentBasedAlwaysOn,
            max_queue_size: 2048,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
        }
    }

    /// Reads the process environment; see [`TraceSettings::from_vars`].
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// `None` (tracing off) unless `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is set, or when `OTEL_SDK_DISABLED=true` or
    /// `OTEL_TRACES_EXPORTER=none`. An empty variable counts as unset. A value that cannot be
    /// used is an error naming its variable (never showing the value: an endpoint may carry a
    /// credential).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match var("OTEL_TRACES_EXPORTER").as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(_) => {
                return Err(
                    "OTEL_TRACES_EXPORTER: only `otlp` (OTLP/HTTP) or `none` is supported".into(),
                );
            }
        }
        let endpoint = if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?
        } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let mut url = http_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?;
            let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url
        } else {
            return Ok(None);
        };
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if var(name).is_some_and(|p| p != "http/protobuf") {
                return Err(format!("{name}: only http/protobuf is supported"));
            }
        }
        let mut settings = Self::new(endpoint);
        let mut resource = match var("OTEL_RESOURCE_ATTRIBUTES") {
            Some(text) => resource_attributes(&text)?,
            None => Vec::new(),
        };
        if let Some(at) = resource.iter().position(|(key, _)| key == "service.name") {
            settings.service_name = resource.remove(at).1;
        }
        if let Some(name) = var("OTEL_SERVICE_NAME") {
            settings.service_name = name;
        }
        settings.resource = resource;
        settings.sampler = sampler(
            var("OTEL_TRACES_SAMPLER").as_deref(),
            var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )?;
        let number = |name: &str, at_least: u64| -> Result<Option<u64>, String> {
            var(name)
                .map(|text| {
                    text.parse::<u64>()
                        .ok()
                        .filter(|n| *n >= at_least)
                        .ok_or_else(|| format!("{name}: expected a whole number >= {at_least}"))
                })
                .transpose()
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = number("OTEL_BSP_MAX_QUEUE_SIZE", 1)? {
            settings.max_queue_size = size(n);
        }
        if let Some(n) = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1)? {
            settings.max_export_batch_size = size(n);
        }
        settings.max_export_batch_size =
            settings.max_export_batch_size.min(settings.max_queue_size);
        if let Some(ms) = number("OTEL_BSP_SCHEDULE_DELAY", 0)? {
            settings.schedule_delay = Duration::from_millis(ms);
        }
        let timeout = match number("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 1)? {
            Some(ms) => Some(ms),
            None => number("OTEL_EXPORTER_OTLP_TIMEOUT", 1)?,
        };
        if let Some(ms) = timeout {
            settings.export_timeout = Duration::from_millis(ms);
        }
        Ok(Some(settings))
    }

    /// One line for `check-config`: where spans go (without user information or query), the
    /// service name and the sampler.
    pub fn summary(&self) -> String {
        format!(
            "OTLP/HTTP to {}, service.name {:?}, sampler {}, queue {}",
            shown(&self.endpoint),
            self.service_name,
            self.sampler,
            self.max_queue_size
        )
    }
}

/// `scheme://host:port/path` of `url`: no user information, no query.
fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn http_url(name: &str, text: &str) -> Result<Url, String> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or_else(|| format!("{name}: expected an http:// or https:// URL"))
}

fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<SamplerChoice, String> {
    let ratio = || -> Result<f64, String> {
        arg.map_or(Ok(1.0), |text| {
            text.parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| "OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1".to_owned())
        })
    };
    Ok(match name.unwrap_or("parentbased_always_on") {
        "always_on" => SamplerChoice::AlwaysOn,
        "always_off" => SamplerChoice::AlwaysOff,
        "traceidratio" => SamplerChoice::TraceIdRatio(ratio()?),
        "parentbased_always_on" => SamplerChoice::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerChoice::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerChoice::ParentBasedTraceIdRatio(ratio()?),
        _ => {
            return Err(
                "OTEL_TRACES_SAMPLER: expected always_on, always_off, traceidratio, \
                        parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                    .into(),
            );
        }
    })
}

/// `key=value,key=value`, values percent-decoded (the W3C Baggage octets).
fn resource_attributes(text: &str) -> Result<Vec<(String, String)>, String> {
    let invalid = || "OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated by commas";
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
            let (key, value) = (
                key.trim(),
                percent_decode(value.trim()).ok_or_else(invalid)?,
            );
            if key.is_empty() {
                return Err(invalid().to_owned());
            }
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Option<TraceSettings>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TraceSettings::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_leaves_tracing_off() {
        assert_eq!(from(&[]), Ok(None));
        // The other variables alone do not turn it on.
        assert_eq!(
            from(&[
                ("OTEL_SERVICE_NAME", "checkout"),
                ("OTEL_TRACES_SAMPLER", "always_on"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "  "),
            ]),
            Ok(None)
        );
    }

    #[test]
    fn disabling_variables_win_over_an_endpoint() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(from(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]), Ok(None));
        assert_eq!(
            from(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
        assert!(from(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).is_err());
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_endpoint_is_used_as_it_is() {
        let base = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])
            .unwrap()
            .unwrap();
        assert_eq!(base.endpoint.as_str(), "http://collector:4318/v1/traces");
        let prefixed = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example/otlp/")])
            .unwrap()
            .unwrap();
        assert_eq!(
            prefixed.endpoint.as_str(),
            "https://otel.example/otlp/v1/traces"
        );
        let exact = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:9999/in",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(exact.endpoint.as_str(), "http://collector:9999/in");
    }

    #[test]
    fn defaults_are_the_standard_ones() {
        let settings = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])
            .unwrap()
            .unwrap();
        assert_eq!(settings.service_name, "hosted-fields-broker");
        assert_eq!(settings.sampler, SamplerChoice::ParentBasedAlwaysOn);
        assert_eq!(settings.max_queue_size, 2048);
        assert_eq!(settings.max_export_batch_size, 512);
        assert_eq!(settings.schedule_delay, Duration::from_secs(5));
        assert_eq!(settings.export_timeout, Duration::from_secs(10));
    }

    #[test]
    fn every_variable_is_read() {
        let settings = from(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "broker-eu"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored, deployment.environment.name=prod%20eu",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "64"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.service_name, "broker-eu");
        assert_eq!(
            settings.resource,
            [(
                "deployment.environment.name".to_owned(),
                "prod eu".to_owned()
            )]
        );
        assert_eq!(
            settings.sampler,
            SamplerChoice::ParentBasedTraceIdRatio(0.25)
        );
        assert_eq!(settings.max_queue_size, 64);
        assert_eq!(settings.max_export_batch_size, 64, "never above the queue");
        assert_eq!(settings.schedule_delay, Duration::from_millis(100));
        assert_eq!(settings.export_timeout, Duration::from_secs(2));
    }

    #[test]
    fn the_resource_may_name_the_service() {
        let settings = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-resource"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(settings.service_name, "from-resource");
        assert!(settings.resource.is_empty());
    }

    #[test]
    fn an_unusable_value_is_an_error_naming_its_variable_never_showing_it() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        for (vars, name) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector.secret-token:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "ftp://u:secret-token@x/",
                )],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![
                    endpoint,
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
                ],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![endpoint, ("OTEL_BSP_MAX_QUEUE_SIZE", "0")],
                "OTEL_BSP_MAX_QUEUE_SIZE",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
            (
                vec![endpoint, ("OTEL_RESOURCE_ATTRIBUTES", "team=%zz")],
                "OTEL_RESOURCE_ATTRIBUTES",
            ),
        ] {
            let error = from(&vars).unwrap_err();
            assert!(error.starts_with(name), "{name}: {error}");
            assert!(!error.contains("secret-token"), "{error}");
            assert_eq!(error.lines().count(), 1);
        }
    }

    #[test]
    fn neither_debug_nor_the_summary_shows_a_credential_in_the_endpoint() {
        let settings = from(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://user:secret-token@otel.example/v1/traces?key=secret-token",
        )])
        .unwrap()
        .unwrap();
        let summary = settings.summary();
        assert!(
            summary.contains("https://otel.example/v1/traces"),
            "{summary}"
        );
        for shown in [summary, format!("{settings:?}")] {
            assert!(!shown.contains("secret-token"), "{shown}");
        }
    }
}
