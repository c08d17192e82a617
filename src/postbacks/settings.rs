//! How partner postbacks are delivered: attempts, backoff, bounds.

use std::time::Duration;

/// How much longer than one call a claim on a queued delivery lasts: enough to
/// record the outcome, short enough that a dead instance's claim passes soon.
const CLAIM_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct PostbackSettings {
    /// Conversions waiting for their first attempt (in-memory dispatcher only).
    pub queue_capacity: usize,
    /// Attempts per conversion, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Bound on one HTTP call, connecting included.
    pub timeout: Duration,
    /// HTTP calls in flight at once.
    pub concurrency: usize,
    /// Deliveries (including those waiting to retry) held at once (in-memory
    /// dispatcher only).
    pub max_in_flight: usize,
    /// How often the Postgres queue is asked for due deliveries.
    pub poll_interval: Duration,
    /// After this instance queues a delivery, how long until the event writer has
    /// probably written it (its flush interval): the queue is asked then.
    pub enqueue_settle: Duration,
    /// At shutdown, how long calls in flight may still finish.
    pub shutdown_grace: Duration,
}

impl Default for PostbackSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            max_attempts: 5,
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            concurrency: 32,
            max_in_flight: 10_000,
            poll_interval: Duration::from_secs(1),
            enqueue_settle: Duration::from_millis(250),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl PostbackSettings {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_retry.saturating_mul(factor).min(self.max_retry)
    }

    /// How long a claimed delivery stays hidden from other instances.
    pub fn claim_timeout(&self) -> Duration {
        self.timeout.saturating_add(CLAIM_MARGIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let settings = PostbackSettings {
            first_retry: Duration::from_secs(2),
            max_retry: Duration::from_secs(10),
            ..PostbackSettings::default()
        };
        let delays: Vec<u64> = (1..=5).map(|a| settings.retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        assert_eq!(settings.retry_delay(100), Duration::from_secs(10));
    }
}
