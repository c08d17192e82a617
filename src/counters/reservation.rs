//! What the router asks the counters to take for one candidate offer.

use super::keys::CounterKey;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// One thing a candidate must be allowed to take; a hit reserves a list of
/// these all-or-nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Add `amount` to a cap/budget counter. Money is in integer micro-units
    /// so sums are exact.
    Cap {
        key: CounterKey,
        amount: i64,
        /// `None` is a soft cap: counted for reports and alerts, never refused.
        limit: Option<i64>,
        /// End of the cap's period; `None` for lifetime totals.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Refuse while the key was seen within `ttl`; otherwise mark it seen.
    Recency { key: CounterKey, ttl: Duration },
    /// At most `limit` hits per window; the window opens at the first hit and
    /// closes `window` later, so a burst cannot straddle two fixed buckets.
    RateLimit {
        key: CounterKey,
        limit: u32,
        window: Duration,
    },
}

impl Reservation {
    pub fn key(&self) -> &CounterKey {
        match self {
            Reservation::Cap { key, .. }
            | Reservation::Recency { key, .. }
            | Reservation::RateLimit { key, .. } => key,
        }
    }
}

/// A cap is full once it reaches its limit, so a zero-amount reservation (a
/// revenue budget checked on a click, counted on the conversion) is refused
/// too instead of slipping through a spent budget.
pub(crate) fn cap_admits(current: i64, amount: i64, limit: Option<i64>) -> bool {
    match limit {
        None => true,
        Some(limit) => current < limit && current.saturating_add(amount) <= limit,
    }
}

/// The reservation at `index` would have broken its limit; nothing was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("reservation {index} refused")]
pub struct Refused {
    pub index: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_cap_never_refuses() {
        assert!(cap_admits(i64::MAX, 1, None));
    }

    #[test]
    fn hard_cap_admits_up_to_its_limit() {
        assert!(cap_admits(9, 1, Some(10)));
        assert!(!cap_admits(10, 1, Some(10)));
        assert!(!cap_admits(5, 6, Some(10)));
    }

    #[test]
    fn full_cap_refuses_zero_amounts() {
        assert!(cap_admits(9, 0, Some(10)));
        assert!(!cap_admits(10, 0, Some(10)));
    }
}
