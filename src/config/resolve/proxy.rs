//! The `proxy` section: the Payroc API pass-through's limits and deadlines.

use std::time::Duration;

use super::{positive_count, positive_millis};
use crate::config::{ConfigError, ProxySettings, RawProxy, invalid};

/// One attempt: above the 20 s a card payment may take Payroc to answer.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(22);
/// The whole call, a retry of a fast failure included.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(25);

impl RawProxy {
    /// Validates the section; `grace` is `server.shutdown_grace_ms`, which must cover a call
    /// in flight when shutdown begins.
    pub(in crate::config) fn resolve(self, grace: Duration) -> Result<ProxySettings, ConfigError> {
        let deadline = match self.deadline_ms {
            None => DEFAULT_DEADLINE.min(grace),
            Some(ms) => positive_millis(ms, "proxy.deadline_ms")?,
        };
        let request_timeout = match self.request_timeout_ms {
            None => DEFAULT_REQUEST_TIMEOUT.min(deadline),
            Some(ms) => positive_millis(ms, "proxy.request_timeout_ms")?,
        };
        if request_timeout > deadline {
            return Err(invalid(
                "proxy.request_timeout_ms",
                format!(
                    "{} ms is longer than proxy.deadline_ms ({} ms), which bounds every attempt",
                    request_timeout.as_millis(),
                    deadline.as_millis()
                ),
            ));
        }
        if deadline > grace {
            return Err(invalid(
                "proxy.deadline_ms",
                format!(
                    "{} ms is longer than server.shutdown_grace_ms ({} ms): a payment could be cut off mid-flight at shutdown",
                    deadline.as_millis(),
                    grace.as_millis()
                ),
            ));
        }
        Ok(ProxySettings {
            body_limit_bytes: positive_count(self.body_limit_bytes, "proxy.body_limit_bytes")?,
            response_limit_bytes: positive_count(
                self.response_limit_bytes,
                "proxy.response_limit_bytes",
            )?,
            request_timeout,
            deadline,
            max_attempts: u32::try_from(positive_count(
                self.max_attempts as usize,
                "proxy.max_attempts",
            )?)
            .unwrap_or(u32::MAX),
            max_connections: positive_count(self.max_connections, "proxy.max_connections")?,
        })
    }
}
