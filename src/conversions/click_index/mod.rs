//! Recent redirected clicks by transaction id, so a postback can be attributed
//! before its click's row is written, and while Postgres is down.
//!
//! Bounded by count and age (oldest evicted first). A click remembered here was
//! redirected by this process (or read back from its spill file), so every
//! conversion of it since went through this process too: that is what lets the
//! duplicate check trust memory during an outage.
//!
//! Every redirected click lands here, so it is kept small: a 40-byte `Record`
//! (ids narrowed to `u32`, the time in microseconds) in a ring of chunks
//! (`shard`), found through a table of 4-byte positions: about 52 bytes a click
//! at the default 2 million. The free texts (`sub1`..`sub5`, `source_id`) are
//! read after the redirect only by the partner postback URL, so a click keeps
//! just the ones its partner's URL mentions (`texts`); most partners need none,
//! one that echoes `{sub1}` costs its bytes plus five. The duplicate check needs
//! `local`, which is true of every click held here; the conversion row needs the
//! ids and the time only.
//!
//! What a click does not keep comes back as `None`: if a partner's URL starts
//! mentioning a text after the click, `Conversions` reads it from the click row,
//! and only while Postgres is down does it expand empty.

mod record;
mod shard;
mod texts;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::ClickTexts;
use crate::events::{Attribution, HitKind, HitRecord};
use crate::routing::TransactionId;
use shard::Shard;

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
    /// Which of `subs` and `source_id` are known; the others read `None`
    /// whatever the click had. All of them for a click read from Postgres.
    pub kept: ClickTexts,
    /// Redirected by this process (not read from Postgres).
    pub local: bool,
}

impl ClickFacts {
    pub fn attribution(&self) -> Attribution {
        Attribution {
            offer_id: Some(self.offer_id),
            advertiser_id: self.advertiser_id,
            partner_id: Some(self.partner_id),
            smart_link_id: self.smart_link_id,
        }
    }
}

/// A redirected click on its way into the index, borrowed from its hit.
#[derive(Debug, Clone, Copy)]
pub struct NewClick<'a> {
    pub transaction_id: TransactionId,
    pub created_at: DateTime<Utc>,
    pub offer_id: i64,
    pub advertiser_id: Option<i64>,
    pub partner_id: i64,
    pub smart_link_id: Option<i64>,
    pub subs: &'a [Option<String>; 5],
    pub source_id: Option<&'a str>,
}

impl<'a> NewClick<'a> {
    /// The click of a redirected hit; `None` for impressions and discards,
    /// which cannot convert.
    pub fn from_hit(hit: &'a HitRecord) -> Option<Self> {
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
            subs: &hit.subs,
            source_id: hit.source_id.as_deref(),
        })
    }

    fn to_facts(self) -> ClickFacts {
        ClickFacts {
            transaction_id: self.transaction_id,
            created_at: self.created_at,
            offer_id: self.offer_id,
            advertiser_id: self.advertiser_id,
            partner_id: self.partner_id,
            smart_link_id: self.smart_link_id,
            subs: self.subs.clone(),
            source_id: self.source_id.map(str::to_owned),
            kept: ClickTexts::ALL,
            local: true,
        }
    }
}

/// Shards, each its own lock: every redirected click inserts here, and one
/// lock for all of them made every worker thread queue behind each other.
/// Transaction ids are random, so they spread evenly. Many small shards also
/// keep each table's growth small: a shard that doubles rehashes a 256th of
/// the index inside one click's request.
const SHARDS: usize = 256;

#[derive(Debug)]
pub struct ClickIndex {
    shards: [Mutex<Shard>; SHARDS],
    /// Per shard: the index holds at most `SHARDS` times this.
    max_entries: usize,
    max_age_us: i64,
    /// Resolved once: a metric looked up by name on every click costs more than
    /// the insert itself.
    entries_gauge: metrics::Gauge,
}

impl ClickIndex {
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
            max_entries: max_entries.div_ceil(SHARDS).max(1),
            max_age_us: i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX),
            entries_gauge: metrics::gauge!("switchyard_click_index_entries"),
        }
    }

    fn shard(&self, transaction_id: TransactionId) -> MutexGuard<'_, Shard> {
        let shard = &self.shards[(transaction_id.0 % SHARDS as u128) as usize];
        // A poisoned lock only means another thread panicked mid-update of a
        // cache; its contents are still usable.
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn oldest_kept_us(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp_micros().saturating_sub(self.max_age_us)
    }

    /// Remembers `click` with the texts in `keep` (those its partner's postback
    /// URL mentions).
    pub fn remember(&self, click: &NewClick<'_>, keep: ClickTexts, now: DateTime<Utc>) {
        let mut shard = self.shard(click.transaction_id);
        let before = shard.len();
        shard.remember(click, keep, self.max_entries, self.oldest_kept_us(now));
        let after = shard.len();
        drop(shard);
        // Each shard adds its own change, so the gauge needs no global count.
        self.entries_gauge.increment(after as f64 - before as f64);
    }

    pub fn get(&self, transaction_id: TransactionId, now: DateTime<Utc>) -> Option<ClickFacts> {
        self.shard(transaction_id)
            .get(transaction_id, self.oldest_kept_us(now))
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
