use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Settings of an [`AuditLogger`](crate::AuditLogger). Plain serde data; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuditLoggerConfig {
    /// Events held in memory while waiting for the sink (default 10 000).
    pub queue_capacity: usize,
    /// Most events written to the sink in one append (default 500).
    pub batch_size: usize,
    /// How long the writer lets a batch of fewer than `batch_size` events grow before it
    /// appends it (default 2 ms; 0 appends at once). Appending costs the sink a fixed amount
    /// per batch (a transaction, a round trip), so under load a short wait turns many small
    /// appends into a few large ones. It is skipped while a
    /// [`log_durable`](crate::AuditLogger::log_durable) caller waits and at shutdown.
    pub batch_delay_ms: u64,
    /// How long `log` may wait for room in a full queue before spilling (default 5 ms).
    /// This is the bound on how long logging can hold up the caller (plus one line written to
    /// the spill file).
    pub enqueue_timeout_ms: u64,
    /// Where events go when the queue is full. `None` (the default) drops them, with an error
    /// log and [`LoggerStats::dropped`](crate::LoggerStats::dropped) counting them.
    pub spill_path: Option<PathBuf>,
    /// First wait before retrying a failed sink append (default 50 ms); doubles per failure.
    pub retry_initial_ms: u64,
    /// Longest wait between retries (default 5 000 ms).
    pub retry_max_ms: u64,
    /// An append taking longer than this counts as failed and is retried (default 30 000 ms).
    pub append_timeout_ms: u64,
}

impl Default for AuditLoggerConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            batch_size: 500,
            batch_delay_ms: 2,
            enqueue_timeout_ms: 5,
            spill_path: None,
            retry_initial_ms: 50,
            retry_max_ms: 5_000,
            append_timeout_ms: 30_000,
        }
    }
}

impl AuditLoggerConfig {
    /// Sets [`queue_capacity`](Self::queue_capacity).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Sets [`batch_size`](Self::batch_size).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets [`batch_delay_ms`](Self::batch_delay_ms).
    pub fn batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay_ms = millis(delay);
        self
    }

    /// Sets [`enqueue_timeout_ms`](Self::enqueue_timeout_ms).
    pub fn enqueue_timeout(mut self, timeout: Duration) -> Self {
        self.enqueue_timeout_ms = millis(timeout);
        self
    }

    /// Sets [`spill_path`](Self::spill_path).
    pub fn spill_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.spill_path = Some(path.into());
        self
    }

    /// Sets [`retry_initial_ms`](Self::retry_initial_ms) and [`retry_max_ms`](Self::retry_max_ms).
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_initial_ms = millis(initial);
        self.retry_max_ms = millis(max);
        self
    }

    /// Sets [`append_timeout_ms`](Self::append_timeout_ms).
    pub fn append_timeout(mut self, timeout: Duration) -> Self {
        self.append_timeout_ms = millis(timeout);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let fail = |msg: &str| Err(Error::InvalidConfig(msg.to_owned()));
        if self.queue_capacity == 0 {
            return fail("queue_capacity must be at least 1");
        }
        if self.batch_size == 0 {
            return fail("batch_size must be at least 1");
        }
        if self.batch_delay_ms > MAX_BATCH_DELAY_MS {
            return fail("batch_delay_ms must be at most 1000");
        }
        if self.retry_initial_ms == 0 {
            return fail("retry_initial_ms must be at least 1");
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return fail("retry_max_ms must not be below retry_initial_ms");
        }
        if self.append_timeout_ms == 0 {
            return fail("append_timeout_ms must be at least 1");
        }
        Ok(())
    }
}

/// The longest [`AuditLoggerConfig::batch_delay_ms`]: events wait at most this long in memory
/// on their way to an idle sink.
const MAX_BATCH_DELAY_MS: u64 = 1_000;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_is_refused() {
        let err = AuditLoggerConfig::default()
            .queue_capacity(0)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid audit logger configuration: queue_capacity must be at least 1"
        );
    }

    #[test]
    fn config_refuses_unknown_keys() {
        let err = serde_json::from_str::<AuditLoggerConfig>(r#"{"queue_capacty": 5}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"));
    }
}
