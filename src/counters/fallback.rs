//! When to stop asking Redis, and how loudly to say so.
//!
//! After a failure Redis is skipped for `retry_after`: a dead or blackholed
//! Redis would otherwise add a full timeout to every single hit. Warnings
//! are rate-limited because an outage fails every hit.

use super::error::CounterError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Fallback {
    origin: Instant,
    retry_after_ms: u64,
    /// Milliseconds since `origin`; Redis is skipped before this.
    skip_until_ms: AtomicU64,
    /// Milliseconds since `origin` of the last warning, plus one (0 = never).
    warned_at_ms: AtomicU64,
    suppressed: AtomicU64,
    /// Also kept here, not only in the metric, for health checks and tests.
    fallbacks: AtomicU64,
}

impl Fallback {
    pub(crate) fn new(retry_after: Duration) -> Self {
        Self {
            origin: Instant::now(),
            retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            skip_until_ms: AtomicU64::new(0),
            warned_at_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Whether to try Redis now; a `false` is itself a fallback and counted.
    pub(crate) fn redis_allowed(&self) -> bool {
        if self.elapsed_ms() >= self.skip_until_ms.load(Ordering::Relaxed) {
            return true;
        }
        self.count();
        false
    }

    /// Redis failed `op`: count it, skip Redis for a while, maybe warn.
    pub(crate) fn failed(&self, op: &str, err: &CounterError) {
        self.count();
        let now = self.elapsed_ms();
        self.skip_until_ms
            .store(now.saturating_add(self.retry_after_ms), Ordering::Relaxed);
        let last = self.warned_at_ms.load(Ordering::Relaxed);
        let due = last == 0 || now + 1 >= last + millis(WARN_EVERY);
        if due
            && self
                .warned_at_ms
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                op,
                error = %err,
                suppressed_since_last_warning = suppressed,
                "redis counters unavailable; using in-process counters"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_so_far(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchyard_counter_fallbacks_total").increment(1);
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.origin.elapsed())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err() -> CounterError {
        CounterError::Timeout(Duration::from_millis(50))
    }

    #[test]
    fn failure_skips_redis_until_retry_after() {
        let fallback = Fallback::new(Duration::from_millis(40));
        assert!(fallback.redis_allowed());
        fallback.failed("reserve", &err());
        assert!(!fallback.redis_allowed());
        assert_eq!(fallback.count_so_far(), 2);
        std::thread::sleep(Duration::from_millis(60));
        assert!(fallback.redis_allowed());
    }

    #[test]
    fn repeated_failures_warn_once_per_interval() {
        let fallback = Fallback::new(Duration::ZERO);
        for _ in 0..5 {
            fallback.failed("reserve", &err());
        }
        assert_eq!(fallback.suppressed.load(Ordering::Relaxed), 4);
    }
}
