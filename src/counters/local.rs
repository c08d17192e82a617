//! In-process counters: the fallback when Redis is unreachable and the whole
//! store when a single instance runs without Redis.
//!
//! Each check-and-increment happens under the dashmap shard's write lock, so
//! a cap of K admits exactly K hits however many threads race for it.
//! Several reservations are applied in order and the applied ones are rolled
//! back when a later one is refused. Rollback is not invisible: a racing hit
//! may see a counter that is about to be rolled back and be refused for it.
//! Under contention a cap can therefore admit fewer than K, never more.
//!
//! Memory stays bounded: entries die at their expiry (checked lazily against
//! the caller's `now`), [`LocalCounters::sweep`] removes dead ones, and an
//! optional entry limit stops growth. When the table is full, reservations
//! on new keys are admitted without being counted (fail open, like a Redis
//! outage) and counted in `switchyard_counter_local_full_total`.

use super::keys::CounterKey;
use super::reservation::{Refused, Reservation, cap_admits};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const NEVER: i64 = i64::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    value: i64,
    /// Unix milliseconds; the slot is dead from this instant on.
    expires_at_ms: i64,
}

impl Slot {
    fn live_value(&self, now_ms: i64) -> i64 {
        if now_ms < self.expires_at_ms {
            self.value
        } else {
            0
        }
    }
}

/// How to take back one applied reservation.
enum Undo<'a> {
    Add {
        key: &'a CounterKey,
        amount: i64,
    },
    Recency {
        key: &'a CounterKey,
        expires_at_ms: i64,
    },
    Nothing,
}

#[derive(Debug, Default)]
pub struct LocalCounters {
    /// foldhash instead of the default SipHash: keys carry client IPs, so the
    /// hasher must stay seeded per process, but SipHash was a tenth of a hit.
    /// Compact keys, not their text: a new entry allocates nothing.
    slots: DashMap<CounterKey, Slot, foldhash::fast::RandomState>,
    /// Kept beside the map because `DashMap::len` locks every shard.
    len: AtomicUsize,
    max_entries: Option<usize>,
}

impl LocalCounters {
    pub fn new(max_entries: Option<usize>) -> Self {
        Self {
            slots: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            len: AtomicUsize::new(0),
            max_entries,
        }
    }

    /// All or nothing: either every reservation is applied or none is.
    pub fn reserve(&self, reservations: &[Reservation], now: DateTime<Utc>) -> Result<(), Refused> {
        let now_ms = now.timestamp_millis();
        let mut undo = Vec::with_capacity(reservations.len());
        for (index, reservation) in reservations.iter().enumerate() {
            match self.apply(reservation, now_ms) {
                Some(step) => undo.push(step),
                None => {
                    for step in undo.into_iter().rev() {
                        self.undo(step);
                    }
                    return Err(Refused { index });
                }
            }
        }
        Ok(())
    }

    /// The live value of a counter (0 when absent or expired).
    pub fn current(&self, key: &CounterKey, now: DateTime<Utc>) -> i64 {
        let now_ms = now.timestamp_millis();
        self.slots
            .get(key)
            .map_or(0, |slot| slot.live_value(now_ms))
    }

    /// Count without a limit, e.g. payout when a conversion arrives.
    pub fn add(
        &self,
        key: &CounterKey,
        amount: i64,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let expires_at_ms = expires_at.map_or(NEVER, |t| t.timestamp_millis());
        self.update(key, now.timestamp_millis(), |slot| {
            slot.value = slot.value.saturating_add(amount);
            slot.expires_at_ms = expires_at_ms;
            true
        });
    }

    /// Raise a counter to at least `value`: restoring from the database after
    /// a restart must not lower what was counted since.
    pub fn restore(
        &self,
        key: &CounterKey,
        value: i64,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let expires_at_ms = expires_at.map_or(NEVER, |t| t.timestamp_millis());
        self.update(key, now.timestamp_millis(), |slot| {
            slot.value = slot.value.max(value);
            slot.expires_at_ms = expires_at_ms;
            true
        });
    }

    /// Drop every expired entry; the server calls this periodically.
    pub fn sweep(&self, now: DateTime<Utc>) {
        let now_ms = now.timestamp_millis();
        let mut removed = 0;
        self.slots.retain(|_, slot| {
            let keep = now_ms < slot.expires_at_ms;
            if !keep {
                removed += 1;
            }
            keep
        });
        self.len.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Entries held, live or not yet swept.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn apply<'a>(&self, reservation: &'a Reservation, now_ms: i64) -> Option<Undo<'a>> {
        match reservation {
            Reservation::Cap {
                key,
                amount,
                limit,
                expires_at,
            } => {
                let expires_at_ms = expires_at.map_or(NEVER, |t| t.timestamp_millis());
                let admitted = self.update(key, now_ms, |slot| {
                    if !cap_admits(slot.value, *amount, *limit) {
                        return false;
                    }
                    slot.value = slot.value.saturating_add(*amount);
                    slot.expires_at_ms = expires_at_ms;
                    true
                })?;
                Some(if admitted {
                    Undo::Add {
                        key,
                        amount: *amount,
                    }
                } else {
                    Undo::Nothing
                })
            }
            Reservation::Recency { key, ttl } => {
                let expires_at_ms = now_ms.saturating_add(millis(*ttl));
                let admitted = self.update(key, now_ms, |slot| {
                    if slot.value > 0 {
                        return false;
                    }
                    *slot = Slot {
                        value: 1,
                        expires_at_ms,
                    };
                    true
                })?;
                Some(if admitted {
                    Undo::Recency { key, expires_at_ms }
                } else {
                    Undo::Nothing
                })
            }
            Reservation::RateLimit { key, limit, window } => {
                let window_end_ms = now_ms.saturating_add(millis(*window));
                let admitted = self.update(key, now_ms, |slot| {
                    if slot.value >= i64::from(*limit) {
                        return false;
                    }
                    if slot.value == 0 {
                        // The window opens at the first hit, not on a fixed grid.
                        slot.expires_at_ms = window_end_ms;
                    }
                    slot.value += 1;
                    true
                })?;
                Some(if admitted {
                    Undo::Add { key, amount: 1 }
                } else {
                    Undo::Nothing
                })
            }
        }
    }

    /// Run `f` on the key's live slot (value zeroed if absent or expired,
    /// expiry left in the past so a refused slot is still swept) under the
    /// shard lock. `None` means `f` refused; a full table
    /// admits without counting, reported as `Some(false)`.
    fn update(
        &self,
        key: &CounterKey,
        now_ms: i64,
        f: impl FnOnce(&mut Slot) -> bool,
    ) -> Option<bool> {
        // One lookup: cloning a compact key costs no allocation (bar an Arc
        // bump for named ones), so there is no need to probe with a borrowed
        // key first and hash it twice for every new entry.
        match self.slots.entry(key.clone()) {
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                if now_ms >= slot.expires_at_ms {
                    slot.value = 0;
                }
                f(slot).then_some(true)
            }
            Entry::Vacant(vacant) => {
                if self.max_entries.is_some_and(|max| self.len() >= max) {
                    metrics::counter!("switchyard_counter_local_full_total").increment(1);
                    return Some(false);
                }
                // Born dead: `f` sets the real expiry when it counts anything.
                let mut slot = Slot {
                    value: 0,
                    expires_at_ms: i64::MIN,
                };
                if !f(&mut slot) {
                    return None;
                }
                vacant.insert(slot);
                self.len.fetch_add(1, Ordering::Relaxed);
                Some(true)
            }
        }
    }

    fn undo(&self, step: Undo<'_>) {
        match step {
            Undo::Add { key, amount } => {
                if let Some(mut slot) = self.slots.get_mut(key) {
                    slot.value = slot.value.saturating_sub(amount);
                }
            }
            Undo::Recency { key, expires_at_ms } => {
                // Only clear the mark if nobody replaced it meanwhile.
                if self
                    .slots
                    .remove_if(key, |_, slot| slot.expires_at_ms == expires_at_ms)
                    .is_some()
                {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Undo::Nothing => {}
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
