//! A circuit breaker per provider endpoint: after `threshold` calls in a row
//! fail (timeout, unreachable, garbage), the redirect path stops calling it for
//! a cool-down and answers at once with `breaker_open`; then one probe call is
//! let through, and its result closes or re-opens the breaker.
//!
//! Each change is a log line and moves the `switchyard_check_breaker_open{check}`
//! gauge (the number of open breakers of that check).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rules::RuleCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failures in a row that open the breaker.
    pub threshold: u32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 5,
            cool_down: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out. A probe whose hit was dropped never reports back, so
    /// another is let through after a cool-down.
    HalfOpen {
        since: Instant,
    },
}

/// Whether a call may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Call,
    /// The one call that decides whether the breaker closes.
    Probe,
    Refused,
}

#[derive(Debug)]
pub struct Breaker {
    check: RuleCode,
    /// Which endpoint of the check (a host), for the log line.
    endpoint: String,
    settings: BreakerSettings,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(check: RuleCode, endpoint: String, settings: BreakerSettings) -> Self {
        Self {
            check,
            endpoint,
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Call,
            State::Open { until } if now < until => Admission::Refused,
            State::HalfOpen { since } if now < since + self.settings.cool_down => {
                Admission::Refused
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen { since: now };
                Admission::Probe
            }
        }
    }

    /// The provider answered (whatever it said).
    pub fn succeeded(&self) {
        let mut state = self.lock();
        let was_open = !matches!(*state, State::Closed { .. });
        *state = State::Closed { failures: 0 };
        drop(state);
        if was_open {
            gauge(self.check).decrement(1.0);
            tracing::info!(
                check = self.check.as_str(),
                endpoint = %self.endpoint,
                "check breaker closed: the provider answers again"
            );
        }
    }

    /// The provider did not answer usefully.
    pub fn failed(&self, now: Instant) {
        let mut state = self.lock();
        let (opens, was_closed) = match *state {
            State::Closed { failures } => (failures + 1 >= self.settings.threshold, true),
            State::HalfOpen { .. } | State::Open { .. } => (true, false),
        };
        *state = if opens {
            State::Open {
                until: now + self.settings.cool_down,
            }
        } else {
            match *state {
                State::Closed { failures } => State::Closed {
                    failures: failures + 1,
                },
                other => other,
            }
        };
        drop(state);
        if opens && was_closed {
            gauge(self.check).increment(1.0);
            tracing::warn!(
                check = self.check.as_str(),
                endpoint = %self.endpoint,
                failures = self.settings.threshold,
                cool_down_ms = self.settings.cool_down.as_millis() as u64,
                "check breaker opened: the redirect path stops calling this provider"
            );
        }
    }

    /// An admitted call that never reached the provider: a probe goes back to
    /// open, so the next hit may probe at once.
    pub fn released(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { since } = *state {
            *state = State::Open { until: since };
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn gauge(check: RuleCode) -> metrics::Gauge {
    metrics::gauge!("switchyard_check_breaker_open", "check" => check.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(
            RuleCode::AnuraDirect,
            "provider.test".into(),
            BreakerSettings {
                threshold: 3,
                cool_down: Duration::from_secs(10),
            },
        )
    }

    #[test]
    fn opens_after_threshold_failures_in_a_row() {
        let b = breaker();
        let t = Instant::now();
        b.failed(t);
        b.failed(t);
        b.succeeded();
        b.failed(t);
        b.failed(t);
        assert_eq!(b.admit(t), Admission::Call, "a success reset the count");
        b.failed(t);
        assert_eq!(b.admit(t), Admission::Refused);
        assert!(b.is_open());
    }

    #[test]
    fn one_probe_after_the_cool_down_closes_or_reopens() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.failed(t);
        }
        let later = t + Duration::from_secs(11);
        assert_eq!(b.admit(later), Admission::Probe);
        assert_eq!(b.admit(later), Admission::Refused, "one probe at a time");
        b.failed(later);
        assert_eq!(b.admit(later + Duration::from_secs(1)), Admission::Refused);
        let after = later + Duration::from_secs(11);
        assert_eq!(b.admit(after), Admission::Probe);
        b.succeeded();
        assert_eq!(b.admit(after), Admission::Call);
        assert!(!b.is_open());
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cool_down() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.failed(t);
        }
        let probe_at = t + Duration::from_secs(10);
        assert_eq!(b.admit(probe_at), Admission::Probe);
        // Never reported back.
        assert_eq!(
            b.admit(probe_at + Duration::from_secs(10)),
            Admission::Probe
        );
    }
}
