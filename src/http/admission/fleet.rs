//! The fleet-wide rate limit: one GCRA bucket per client IP in Redis, decided atomically by one
//! script call (one round trip, the time taken from Redis itself so every replica shares one
//! clock). Redis trouble never becomes an outage: a decision waits at most the configured
//! timeout, and after a failure the limiter stops asking for a short cool-down (then one
//! request probes), so a stopped or frozen Redis costs requests nothing; meanwhile the
//! configured failure mode decides. The connection is made in the background and remade by
//! the connection manager, so the broker goes back to Redis by itself.

use std::{
    net::IpAddr,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use redis::{Script, aio::ConnectionManager};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::{sync::OnceCell, time::Instant};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::{config::RedisFailure, metrics::Metrics};

/// After a failed call, Redis is left alone this long; then one request probes it.
const COOL_DOWN: Duration = Duration::from_millis(500);
/// Connecting in the background backs off up to this.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_secs(5);
/// Keys are `PREFIX` + the client's bucket (an IP, or an IPv6 /64).
const PREFIX: &str = "hosted-fields-broker:rate-limit:";

/// GCRA: `tat` is the bucket's theoretical arrival time in microseconds of Redis's clock. A
/// request is allowed while `tat + interval - burst·interval <= now`; the answer is 0
/// (allowed) or the microseconds to wait. Numbers are formatted whole: Lua's default
/// conversion would round a 16-digit time.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// What Redis decided, or that it could not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: wait this long.
    Denied(Duration),
    /// No answer in time (or cooling down after a failure): the failure mode decides.
    Unavailable,
}

/// Redis's state, for `/status` and `/metrics`.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisStatus {
    /// `connecting` (never reached yet), `up` or `down`.
    pub state: &'static str,
    pub failure_mode: RedisFailure,
    /// The kind of the last failure (never an address or a password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
}

/// The Redis-backed limiter; cheap to share behind the admission.
pub struct FleetLimiter {
    connection: OnceCell<ConnectionManager>,
    script: Script,
    /// Microseconds between requests at the sustained rate.
    interval: u64,
    /// Microseconds of the burst: `burst` requests at once.
    tolerance: u64,
    timeout: Duration,
    pub failure: RedisFailure,
    origin: Instant,
    /// Milliseconds since `origin` until which Redis is not asked (0: ask).
    cool_until: AtomicU64,
    /// Redis answered the last call.
    up: AtomicBool,
    status: Mutex<RedisStatus>,
    metrics: Metrics,
}

impl std::fmt::Debug for FleetLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetLimiter")
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl FleetLimiter {
    /// `per_second` must be positive (the limit is on).
    pub fn new(
        per_second: u32,
        burst: u32,
        timeout: Duration,
        failure: RedisFailure,
        metrics: Metrics,
    ) -> Self {
        let interval = 1_000_000 / u64::from(per_second.max(1));
        Self {
            connection: OnceCell::new(),
            script: Script::new(GCRA),
            interval,
            tolerance: interval * u64::from(burst.max(1)),
            timeout,
            failure,
            origin: Instant::now(),
            cool_until: AtomicU64::new(0),
            up: AtomicBool::new(false),
            status: Mutex::new(RedisStatus {
                state: "connecting",
                failure_mode: failure,
                last_error: None,
                last_error_at: None,
            }),
            metrics,
        }
    }

    /// Connects in the background until it succeeds or `stop`; the connection manager then
    /// reconnects by itself whenever Redis goes away and comes back.
    pub async fn connect(&self, url: Url, stop: CancellationToken) {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = async {
                let client = redis::Client::open(url.as_str())?;
                ConnectionManager::new_with_config(client, config.clone()).await
            };
            tokio::select! {
                connected = attempt => match connected {
                    Ok(manager) => {
                        let _ = self.connection.set(manager);
                        self.recovered();
                        return;
                    }
                    Err(error) => self.failed(&error_kind(&error)),
                },
                () = stop.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(MAX_CONNECT_BACKOFF);
        }
    }

    /// One decision for the client's bucket `key`, in at most the timeout.
    pub async fn check(&self, key: IpAddr) -> Verdict {
        let Some(connection) = self.connection.get() else {
            return Verdict::Unavailable;
        };
        if !self.may_ask() {
            return Verdict::Unavailable;
        }
        let mut connection = connection.clone();
        let mut invocation = self.script.key(format!("{PREFIX}{key}"));
        invocation.arg(self.interval).arg(self.tolerance);
        let call = invocation.invoke_async::<i64>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(wait)) => {
                self.recovered();
                match u64::try_from(wait) {
                    Ok(0) | Err(_) => Verdict::Allowed,
                    Ok(micros) => Verdict::Denied(Duration::from_micros(micros)),
                }
            }
            Ok(Err(error)) => {
                self.failed(&error_kind(&error));
                Verdict::Unavailable
            }
            Err(_) => {
                self.failed("timed out");
                Verdict::Unavailable
            }
        }
    }

    /// Outside a cool-down; at its end one caller (the first to swap the mark) probes.
    fn may_ask(&self) -> bool {
        let until = self.cool_until.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        let now = self.millis();
        now >= until
            && self
                .cool_until
                .compare_exchange(
                    until,
                    now + cool_down_millis(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn failed(&self, kind: &str) {
        self.cool_until
            .store(self.millis() + cool_down_millis(), Ordering::Relaxed);
        self.up.store(false, Ordering::Relaxed);
        self.metrics.rate_limit_redis_failure();
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        if status.state != "down" {
            tracing::warn!(error = kind, mode = ?self.failure, "rate limit: Redis unavailable; the failure mode decides meanwhile");
        }
        status.state = "down";
        status.last_error = Some(kind.to_owned());
        status.last_error_at = OffsetDateTime::now_utc().format(&Rfc3339).ok();
    }

    fn recovered(&self) {
        self.cool_until.store(0, Ordering::Relaxed);
        // The common case takes no lock: Redis was up and still is.
        if self.up.swap(true, Ordering::Relaxed) {
            return;
        }
        tracing::info!("rate limit: Redis answers");
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state = "up";
    }

    /// Redis answered the last call (the `/metrics` gauge).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> RedisStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn cool_down_millis() -> u64 {
    u64::try_from(COOL_DOWN.as_millis()).unwrap_or(500)
}

/// The failure's kind, never its text (which may name the server).
fn error_kind(error: &redis::RedisError) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connection_refusal() {
        "connection refused".into()
    } else if error.is_connection_dropped() || error.is_io_error() {
        "connection lost".into()
    } else {
        format!("{:?}", error.kind()).to_lowercase()
    }
}
