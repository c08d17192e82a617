//! One counter's value and expiry, what a reservation does to it, and the
//! entry count both in-process tables share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::reservation::{Reservation, cap_admits};

pub(super) const NEVER: i64 = i64::MAX;

/// Shards of the in-process tables. A shard that grows rehashes all of its
/// entries inside one hit's request: with few large shards that is a pause of
/// many milliseconds once the tables hold millions of visitors, with many small
/// ones each rehash is short. An empty shard costs a few dozen bytes.
pub(super) const TABLE_SHARDS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub value: i64,
    /// Unix milliseconds; the slot is dead from this instant on.
    pub expires_at_ms: i64,
}

impl Slot {
    /// Born dead: whoever counts into it sets the real expiry.
    pub const UNBORN: Slot = Slot {
        value: 0,
        expires_at_ms: i64::MIN,
    };

    pub fn live_value(&self, now_ms: i64) -> i64 {
        if self.is_live(now_ms) { self.value } else { 0 }
    }

    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }

    /// A new slot that `f` counted into, or `None` if `f` refused it.
    pub fn born(f: impl FnOnce(&mut Slot) -> bool) -> Option<Slot> {
        let mut slot = Slot::UNBORN;
        f(&mut slot).then_some(slot)
    }
}

/// Run `f` on a held slot, zeroed first if it has expired. `None` means `f`
/// refused; the slot is then left as it was (its expiry in the past if it was
/// dead, so it is still swept).
pub(super) fn update_live(
    slot: &mut Slot,
    now_ms: i64,
    f: impl FnOnce(&mut Slot) -> bool,
) -> Option<bool> {
    if !slot.is_live(now_ms) {
        slot.value = 0;
    }
    f(slot).then_some(true)
}

/// Entries held by the in-process tables, kept beside them because
/// `DashMap::len` locks every shard, and the optional limit on them.
#[derive(Debug, Default)]
pub(super) struct EntryCount {
    len: AtomicUsize,
    max: Option<usize>,
}

impl EntryCount {
    pub fn new(max: Option<usize>) -> Self {
        EntryCount {
            len: AtomicUsize::new(0),
            max,
        }
    }

    pub fn get(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether a new entry may be added. When the table is full, reservations
    /// on new keys are admitted without being counted (fail open, like a
    /// Redis outage), and that is counted.
    pub fn has_room(&self) -> bool {
        let full = self.max.is_some_and(|max| self.get() >= max);
        if full {
            metrics::counter!("switchyard_counter_local_full_total").increment(1);
        }
        !full
    }

    pub fn added(&self) {
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    pub fn removed(&self, entries: usize) {
        self.len.fetch_sub(entries, Ordering::Relaxed);
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one reservation does to its counter, with its instants resolved.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
    /// A cap: add `amount` unless that breaks `limit`.
    Add {
        amount: i64,
        limit: Option<i64>,
        expires_at_ms: i64,
    },
    /// Recency: refuse while marked, else mark until `expires_at_ms`.
    Mark { expires_at_ms: i64 },
    /// A rate limit: count a hit unless `limit` are in the window; the
    /// window opens at the first hit, not on a fixed grid.
    Count { limit: u32, window_end_ms: i64 },
}

/// How to take an applied [`Op`] back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    Added(i64),
    Marked {
        expires_at_ms: i64,
    },
    /// Admitted without being counted (the table was full).
    Nothing,
}

impl Op {
    pub fn of(reservation: &Reservation, now_ms: i64) -> Op {
        match reservation {
            Reservation::Cap {
                amount,
                limit,
                expires_at,
                ..
            } => Op::Add {
                amount: *amount,
                limit: *limit,
                expires_at_ms: expires_at.map_or(NEVER, |t| t.timestamp_millis()),
            },
            Reservation::Recency { ttl, .. } => Op::Mark {
                expires_at_ms: now_ms.saturating_add(millis(*ttl)),
            },
            Reservation::RateLimit { limit, window, .. } => Op::Count {
                limit: *limit,
                window_end_ms: now_ms.saturating_add(millis(*window)),
            },
        }
    }

    /// Check and count on a live slot (zeroed if it had expired); false
    /// refuses and leaves it untouched.
    pub fn apply(self, slot: &mut Slot) -> bool {
        match self {
            Op::Add {
                amount,
                limit,
                expires_at_ms,
            } => {
                if !cap_admits(slot.value, amount, limit) {
                    return false;
                }
                slot.value = slot.value.saturating_add(amount);
                slot.expires_at_ms = expires_at_ms;
            }
            Op::Mark { expires_at_ms } => {
                if slot.value > 0 {
                    return false;
                }
                *slot = Slot {
                    value: 1,
                    expires_at_ms,
                };
            }
            Op::Count {
                limit,
                window_end_ms,
            } => {
                if slot.value >= i64::from(limit) {
                    return false;
                }
                if slot.value == 0 {
                    slot.expires_at_ms = window_end_ms;
                }
                slot.value += 1;
            }
        }
        true
    }

    /// What undoes this op once applied and counted.
    pub fn taken(self) -> Taken {
        match self {
            Op::Add { amount, .. } => Taken::Added(amount),
            Op::Count { .. } => Taken::Added(1),
            Op::Mark { expires_at_ms } => Taken::Marked { expires_at_ms },
        }
    }
}
