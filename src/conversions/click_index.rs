//! Recent redirected clicks by transaction id, so a postback can be attributed
//! before its click's row is written, and while Postgres is down.
//!
//! Bounded by count and age (oldest evicted first). A click remembered here was
//! redirected by this process (or read back from its spill file), so every
//! conversion of it since went through this process too: that is what lets the
//! duplicate check trust memory during an outage.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rustc_hash::FxHashMap;

use crate::events::{Attribution, HitKind, HitRecord};
use crate::routing::TransactionId;

/// What a conversion needs to know about its click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickFacts {
    pub transaction_id: TransactionId,
    pub created_at: DateTime<Utc>,
    pub offer_id: i64,
    pub advertiser_id: Option<i64>,
    pub partner_id: i64,
    pub smart_link_id: Option<i64>,
    pub subs: [Option<String>; 5],
    pub source_id: Option<String>,
    /// Redirected by this process (not read from Postgres).
    pub local: bool,
}

impl ClickFacts {
    /// The facts of a redirected click; `None` for impressions and discards,
    /// which cannot convert.
    pub fn from_hit(hit: &HitRecord) -> Option<Self> {
        if hit.kind != HitKind::Click || !hit.redirected {
            return None;
        }
        Some(Self {
            transaction_id: hit.transaction_id,
            created_at: hit.created_at,
            offer_id: hit.offer_id?,
            advertiser_id: hit.advertiser_id,
            partner_id: hit.partner_id?,
            smart_link_id: hit.smart_link_id,
            subs: hit.subs.clone(),
            source_id: hit.source_id.clone(),
            local: true,
        })
    }

    pub fn attribution(&self) -> Attribution {
        Attribution {
            offer_id: Some(self.offer_id),
            advertiser_id: self.advertiser_id,
            partner_id: Some(self.partner_id),
            smart_link_id: self.smart_link_id,
        }
    }
}

/// Shards, each its own lock: every redirected click inserts here, and one
/// lock for all of them made every worker thread queue behind each other.
/// Transaction ids are random, so they spread evenly. Many small shards also
/// keep each map's growth small: a shard that doubles rehashes all of its
/// entries inside one click's request, and with 16 shards of a filling
/// 2-million-click index that took 100-180 ms of CPU (the slowest requests of
/// the outage test); a 256th of it takes a few milliseconds.
const SHARDS: usize = 256;

#[derive(Debug)]
pub struct ClickIndex {
    shards: [Mutex<Inner>; SHARDS],
    /// Per shard: the index holds at most `SHARDS` times this.
    max_entries: usize,
    max_age: TimeDelta,
    /// Resolved once: a metric looked up by name on every click costs more than
    /// the insert itself.
    entries_gauge: metrics::Gauge,
}

#[derive(Debug, Default)]
struct Inner {
    clicks: FxHashMap<TransactionId, ClickFacts>,
    /// Insertion order (≈ time order) for eviction.
    order: VecDeque<(DateTime<Utc>, TransactionId)>,
}

impl ClickIndex {
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Inner::default())),
            max_entries: max_entries.div_ceil(SHARDS).max(1),
            max_age: TimeDelta::from_std(max_age).unwrap_or(TimeDelta::MAX),
            entries_gauge: metrics::gauge!("switchyard_click_index_entries"),
        }
    }

    fn shard(&self, transaction_id: TransactionId) -> MutexGuard<'_, Inner> {
        let shard = &self.shards[(transaction_id.0 % SHARDS as u128) as usize];
        // A poisoned lock only means another thread panicked mid-update of a
        // cache; its contents are still usable.
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remember(&self, facts: ClickFacts, now: DateTime<Utc>) {
        let mut inner = self.shard(facts.transaction_id);
        let before = inner.clicks.len();
        inner
            .order
            .push_back((facts.created_at, facts.transaction_id));
        inner.clicks.insert(facts.transaction_id, facts);
        let oldest_kept = now - self.max_age;
        while let Some(&(created_at, tid)) = inner.order.front() {
            if inner.order.len() <= self.max_entries && created_at >= oldest_kept {
                break;
            }
            inner.order.pop_front();
            inner.clicks.remove(&tid);
        }
        let after = inner.clicks.len();
        drop(inner);
        // Each shard adds its own change, so the gauge needs no global count.
        self.entries_gauge.increment(after as f64 - before as f64);
    }

    pub fn get(&self, transaction_id: TransactionId, now: DateTime<Utc>) -> Option<ClickFacts> {
        self.shard(transaction_id)
            .clicks
            .get(&transaction_id)
            .filter(|c| c.created_at >= now - self.max_age)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|p| p.into_inner()).clicks.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(n: u128, created_at: DateTime<Utc>) -> ClickFacts {
        ClickFacts {
            transaction_id: TransactionId(n),
            created_at,
            offer_id: 1,
            advertiser_id: Some(1),
            partner_id: 1,
            smart_link_id: None,
            subs: Default::default(),
            source_id: None,
            local: true,
        }
    }

    #[test]
    fn evicts_the_oldest_beyond_its_count() {
        // Two per shard; these ids all fall in shard 0.
        let index = ClickIndex::new(2 * SHARDS, Duration::from_secs(3600));
        let now = Utc::now();
        let shards = SHARDS as u128;
        for n in 1..=3 {
            index.remember(click(n * shards, now), now);
        }
        index.remember(click(1, now), now);
        assert_eq!(index.len(), 3);
        assert!(index.get(TransactionId(shards), now).is_none());
        assert!(index.get(TransactionId(3 * shards), now).is_some());
        assert!(index.get(TransactionId(1), now).is_some());
    }

    #[test]
    fn forgets_clicks_older_than_its_age() {
        let index = ClickIndex::new(100, Duration::from_secs(60));
        let now = Utc::now();
        index.remember(click(1, now - TimeDelta::seconds(120)), now);
        index.remember(click(2, now), now);
        assert!(index.get(TransactionId(1), now).is_none());
        assert_eq!(index.len(), 1);
    }
}
