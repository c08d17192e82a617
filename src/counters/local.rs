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
//! optional entry limit stops growth. When the tables are full, reservations
//! on new keys are admitted without being counted (fail open, like a Redis
//! outage) and counted in `switchyard_counter_local_full_total`. Recency and
//! rate-limit counters have their own table, an entry per visitor
//! (`visitors.rs`).

use super::keys::CounterKey;
use super::reservation::{Refused, Reservation};
use super::slot::{EntryCount, NEVER, Op, Slot, TABLE_SHARDS, Taken, update_live};
use super::visitors::{VisitorKey, VisitorTable, run_length};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use smallvec::SmallVec;

/// foldhash instead of the default SipHash: keys carry client IPs, so the
/// hasher must stay seeded per process, but SipHash was a tenth of a hit.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug)]
pub struct LocalCounters {
    /// Caps, budgets, the duplicate filter and ad hoc counters. Compact keys,
    /// not their text: a new entry allocates nothing.
    named: DashMap<CounterKey, Slot, Hasher>,
    /// Recency marks and rate-limit windows, an entry per visitor.
    visitors: VisitorTable,
    count: EntryCount,
}

impl LocalCounters {
    pub fn new(max_entries: Option<usize>) -> Self {
        Self {
            named: DashMap::with_hasher_and_shard_amount(Hasher::default(), TABLE_SHARDS),
            visitors: VisitorTable::new(),
            count: EntryCount::new(max_entries),
        }
    }

    /// All or nothing: either every reservation is applied or none is.
    pub fn reserve(&self, reservations: &[Reservation], now: DateTime<Utc>) -> Result<(), Refused> {
        let now_ms = now.timestamp_millis();
        // Each applied reservation (by index) and how to take it back.
        let mut taken: SmallVec<[(usize, Taken); 8]> = SmallVec::new();
        let mut index = 0;
        while index < reservations.len() {
            let rest = &reservations[index..];
            let applied = match run_length(rest) {
                0 => self
                    .apply_named(&rest[0], now_ms)
                    .map(|t| {
                        taken.push((index, t));
                        1
                    })
                    .map_err(|()| index),
                run => self
                    .visitors
                    .reserve(&rest[..run], now_ms, &self.count)
                    .map(|steps| {
                        taken.extend(steps.into_iter().enumerate().map(|(i, t)| (index + i, t)));
                        run
                    })
                    .map_err(|i| index + i),
            };
            match applied {
                Ok(count) => index += count,
                Err(refused) => {
                    for (i, step) in taken.into_iter().rev() {
                        self.take_back(&reservations[i], step, now_ms);
                    }
                    return Err(Refused { index: refused });
                }
            }
        }
        Ok(())
    }

    /// The live value of a counter (0 when absent or expired).
    pub fn current(&self, key: &CounterKey, now: DateTime<Utc>) -> i64 {
        let now_ms = now.timestamp_millis();
        match VisitorKey::of(key) {
            Some(visitor) => self.visitors.current(visitor, now_ms),
            None => self
                .named
                .get(key)
                .map_or(0, |slot| slot.live_value(now_ms)),
        }
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
        self.named.retain(|_, slot| {
            let keep = slot.is_live(now_ms);
            removed += usize::from(!keep);
            keep
        });
        removed += self.visitors.sweep(now_ms);
        self.count.removed(removed);
    }

    /// Entries held, live or not yet swept. A visitor's recency and
    /// rate-limit counters on one offer share one entry.
    pub fn len(&self) -> usize {
        self.count.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One reservation on a counter of the named table.
    fn apply_named(&self, reservation: &Reservation, now_ms: i64) -> Result<Taken, ()> {
        let op = Op::of(reservation, now_ms);
        match self.update(reservation.key(), now_ms, |slot| op.apply(slot)) {
            Some(true) => Ok(op.taken()),
            Some(false) => Ok(Taken::Nothing),
            None => Err(()),
        }
    }

    /// Run `f` on the key's live slot (value zeroed if absent or expired,
    /// expiry left in the past so a refused slot is still swept) under the
    /// entry's lock. `None` means `f` refused; a full table admits without
    /// counting, reported as `Some(false)`.
    fn update(
        &self,
        key: &CounterKey,
        now_ms: i64,
        f: impl FnOnce(&mut Slot) -> bool,
    ) -> Option<bool> {
        if let Some(visitor) = VisitorKey::of(key) {
            return self.visitors.update(visitor, now_ms, &self.count, f);
        }
        // One lookup: cloning a compact key costs no allocation (bar an Arc
        // bump for named ones), so there is no need to probe with a borrowed
        // key first and hash it twice for every new entry.
        match self.named.entry(key.clone()) {
            Entry::Occupied(mut occupied) => update_live(occupied.get_mut(), now_ms, f),
            Entry::Vacant(vacant) => {
                if !self.count.has_room() {
                    return Some(false);
                }
                vacant.insert(Slot::born(f)?);
                self.count.added();
                Some(true)
            }
        }
    }

    fn take_back(&self, reservation: &Reservation, taken: Taken, now_ms: i64) {
        let key = reservation.key();
        if let Some(visitor) = VisitorKey::of(key) {
            return self.visitors.take_back(visitor, taken, now_ms, &self.count);
        }
        match taken {
            Taken::Added(amount) => {
                if let Some(mut slot) = self.named.get_mut(key) {
                    slot.value = slot.value.saturating_sub(amount);
                }
            }
            // Only clear the mark if nobody replaced it meanwhile.
            Taken::Marked { expires_at_ms } => {
                if self
                    .named
                    .remove_if(key, |_, slot| slot.expires_at_ms == expires_at_ms)
                    .is_some()
                {
                    self.count.removed(1);
                }
            }
            Taken::Nothing => {}
        }
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
