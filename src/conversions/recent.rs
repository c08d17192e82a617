//! Conversions this process approved recently, by transaction id and by order
//! id: catches a duplicate whose original is not yet in Postgres (still queued or
//! spilled), or arrives while Postgres is down.
//!
//! Kept at least as long and as many as the click index, so for every click in
//! the index this set knows all of its conversions.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rustc_hash::FxHashMap;

use crate::routing::TransactionId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClaimKey {
    Click(TransactionId),
    Order { offer_id: i64, order_id: String },
}

#[derive(Debug)]
pub struct RecentConversions {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_age: TimeDelta,
}

#[derive(Debug, Default)]
struct Inner {
    claimed: FxHashMap<ClaimKey, DateTime<Utc>>,
    order: VecDeque<(DateTime<Utc>, ClaimKey)>,
}

impl RecentConversions {
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_entries: max_entries.max(1),
            max_age: TimeDelta::from_std(max_age).unwrap_or(TimeDelta::MAX),
        }
    }

    /// Marks `key` converted; `false` when it already was (a duplicate). Atomic,
    /// so two simultaneous postbacks for one click cannot both be approved.
    pub fn claim(&self, key: ClaimKey, now: DateTime<Utc>) -> bool {
        // A poisoned lock only means another thread panicked mid-update; the
        // map itself is consistent (each update is a single insert or remove).
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let fresh_since = now - self.max_age;
        if inner.claimed.get(&key).is_some_and(|at| *at >= fresh_since) {
            return false;
        }
        inner.claimed.insert(key.clone(), now);
        inner.order.push_back((now, key));
        while let Some((at, _)) = inner.order.front() {
            if inner.order.len() <= self.max_entries && *at >= fresh_since {
                break;
            }
            if let Some((at, key)) = inner.order.pop_front()
                // Only the claim this queue entry made: the key may have been
                // released and claimed again since.
                && inner.claimed.get(&key) == Some(&at)
            {
                inner.claimed.remove(&key);
            }
        }
        true
    }

    /// Undoes a claim whose conversion was rejected after all (e.g. a full cap).
    pub fn release(&self, key: &ClaimKey) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.claimed.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_is_a_duplicate_until_released() {
        let recent = RecentConversions::new(10, Duration::from_secs(60));
        let now = Utc::now();
        let key = ClaimKey::Click(TransactionId(7));
        assert!(recent.claim(key.clone(), now));
        assert!(!recent.claim(key.clone(), now));
        recent.release(&key);
        assert!(recent.claim(key, now));
    }

    #[test]
    fn orders_are_per_offer() {
        let recent = RecentConversions::new(10, Duration::from_secs(60));
        let now = Utc::now();
        let order = |offer_id| ClaimKey::Order {
            offer_id,
            order_id: "o-1".into(),
        };
        assert!(recent.claim(order(1), now));
        assert!(recent.claim(order(2), now));
        assert!(!recent.claim(order(1), now));
    }
}
