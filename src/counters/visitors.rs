//! In-process recency marks and rate-limit windows, grouped by visitor.
//!
//! Every hit from a new visitor inserts here, and once the table outgrows the
//! CPU caches each insert is a cache miss. So an IP's own counters on an offer
//! and those of one user agent seen from it share one entry: a hit with all
//! four visitor rules on touches one cold entry, not four.
//!
//! An IP seen with several user agents at once (a carrier NAT, a bot farm)
//! keeps the bound user agent's counters inline and spills the others into a
//! second table keyed by the user agent too, so no entry grows with the crowd
//! behind one IP. Invariant: a user agent's live counters are all inline (it is
//! the entry's `ua`) or all spilled. The entry is rebound to another user agent
//! only when the bound one has no live counter left and nothing spilled can
//! still be live (`spilled_until_ms`), and it outlives its spilled counters.
//!
//! Lock order: an IP entry, then a spilled entry, never the reverse.

use std::net::IpAddr;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use smallvec::SmallVec;

use super::keys::{CounterKey, VisitorKind};
use super::reservation::Reservation;
use super::slot::{EntryCount, Op, Slot, TABLE_SHARDS, Taken, update_live};

/// foldhash instead of the default SipHash: keys carry client IPs, so the
/// hasher must stay seeded per process, but SipHash was a tenth of a hit.
type Hasher = foldhash::fast::RandomState;

/// A visitor counter's identity, taken apart from its [`CounterKey`].
#[derive(Debug, Clone, Copy)]
pub(super) struct VisitorKey {
    offer_id: i64,
    ip: IpAddr,
    ua: Option<u64>,
    counter: Counter,
}

impl VisitorKey {
    pub fn of(key: &CounterKey) -> Option<VisitorKey> {
        match *key {
            CounterKey::Visitor {
                kind,
                offer_id,
                ip,
                ua_hash,
                span,
            } => Some(VisitorKey {
                offer_id,
                ip,
                ua: ua_hash,
                counter: Counter {
                    kind,
                    span_ms: u64::try_from(span.as_millis()).unwrap_or(u64::MAX),
                    per_user_agent: ua_hash.is_some(),
                },
            }),
            _ => None,
        }
    }

    fn ip_visitor(&self) -> IpVisitor {
        IpVisitor {
            offer_id: self.offer_id,
            ip: self.ip,
        }
    }

    fn spilled(&self) -> Option<UaVisitor> {
        Some(UaVisitor {
            offer_id: self.offer_id,
            ip: self.ip,
            ua: self.ua?,
        })
    }
}

/// How many reservations from the start of `reservations` form a run for
/// [`VisitorTable::reserve`]: visitor counters of one entry, with one user
/// agent at most among them.
pub(super) fn run_length(reservations: &[Reservation]) -> usize {
    let mut run: Option<(IpVisitor, Option<u64>)> = None;
    reservations
        .iter()
        .take_while(|r| {
            let Some(key) = VisitorKey::of(r.key()) else {
                return false;
            };
            let (entry, ua) = run.get_or_insert((key.ip_visitor(), key.ua));
            if *entry != key.ip_visitor() || (ua.is_some() && key.ua.is_some() && *ua != key.ua) {
                return false;
            }
            *ua = ua.or(key.ua);
            true
        })
        .count()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IpVisitor {
    offer_id: i64,
    ip: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct UaVisitor {
    offer_id: i64,
    ip: IpAddr,
    ua: u64,
}

/// Which of a visitor's counters: recency or rate limit, over which span
/// (partner overrides may give one offer several), of the IP alone or of the
/// IP with a user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counter {
    /// Milliseconds, saturated: spans past 584 million years share a counter.
    /// Eight bytes instead of sixteen keep a visitor's entry in fewer cache
    /// lines.
    span_ms: u64,
    kind: VisitorKind,
    per_user_agent: bool,
}

#[derive(Debug, Clone, Copy)]
struct VisitorSlot {
    counter: Counter,
    slot: Slot,
}

/// The usual four (recency and rate limit, by IP and by IP + user agent) fit
/// inline.
type Slots<const N: usize> = SmallVec<[VisitorSlot; N]>;

#[derive(Debug)]
struct IpEntry {
    slots: Slots<4>,
    /// The user agent whose counters sit in `slots` beside the IP's own.
    ua: Option<u64>,
    /// From this instant on no spilled counter of this IP is live.
    spilled_until_ms: i64,
}

impl IpEntry {
    fn empty() -> Self {
        IpEntry {
            slots: SmallVec::new(),
            ua: None,
            spilled_until_ms: i64::MIN,
        }
    }

    fn holds_live_user_agent(&self, now_ms: i64) -> bool {
        self.slots
            .iter()
            .any(|s| s.counter.per_user_agent && s.slot.is_live(now_ms))
    }

    /// Whether `ua`'s counters are (or may now be placed) inline.
    fn inline_for(&self, ua: Option<u64>) -> bool {
        ua.is_none() || ua == self.ua
    }

    fn is_dead(&self, now_ms: i64) -> bool {
        now_ms >= self.spilled_until_ms && !self.slots.iter().any(|s| s.slot.is_live(now_ms))
    }
}

#[derive(Debug)]
pub(super) struct VisitorTable {
    by_ip: DashMap<IpVisitor, IpEntry, Hasher>,
    spilled: DashMap<UaVisitor, Slots<2>, Hasher>,
}

impl VisitorTable {
    pub fn new() -> Self {
        VisitorTable {
            by_ip: DashMap::with_hasher_and_shard_amount(Hasher::default(), TABLE_SHARDS),
            spilled: DashMap::with_hasher_and_shard_amount(Hasher::default(), TABLE_SHARDS),
        }
    }

    /// Reserve a run of reservations on one visitor under one lock: the
    /// router asks for up to four (recency and rate limit, by IP and by IP +
    /// user agent), all on one entry. Callers pass only runs that
    /// [`run_length`] accepts. All or nothing: on `Err(i)` the
    /// `i`-th refused and nothing of the run stays counted.
    pub fn reserve(
        &self,
        run: &[Reservation],
        now_ms: i64,
        count: &EntryCount,
    ) -> Result<SmallVec<[Taken; 4]>, usize> {
        let keys = || run.iter().map(|r| VisitorKey::of(r.key()));
        let Some(Some(first)) = keys().next() else {
            return Ok(SmallVec::new());
        };
        let mut taken = SmallVec::new();
        match self.by_ip.entry(first.ip_visitor()) {
            Entry::Vacant(vacant) => {
                if !count.has_room() {
                    return Ok(SmallVec::from_elem(Taken::Nothing, run.len()));
                }
                // Built aside and inserted only if every reservation passes. A
                // run has one user agent at most, so nothing spills from it.
                let mut entry = IpEntry::empty();
                for (i, (key, reservation)) in keys().zip(run).enumerate() {
                    let op = Op::of(reservation, now_ms);
                    let key = key.ok_or(i)?;
                    self.update_entry(&mut entry, key, now_ms, count, |slot| op.apply(slot))
                        .ok_or(i)?;
                    taken.push(op.taken());
                }
                vacant.insert(entry);
                count.added();
            }
            Entry::Occupied(mut occupied) => {
                let entry = occupied.get_mut();
                for (i, (key, reservation)) in keys().zip(run).enumerate() {
                    let op = Op::of(reservation, now_ms);
                    let counted = key.and_then(|key| {
                        self.update_entry(entry, key, now_ms, count, |slot| op.apply(slot))
                    });
                    match counted {
                        Some(true) => taken.push(op.taken()),
                        Some(false) => taken.push(Taken::Nothing),
                        None => {
                            for (key, step) in keys().zip(&taken).rev() {
                                if let Some(key) = key {
                                    self.take_back_in(entry, key, *step, count);
                                }
                            }
                            if entry.is_dead(now_ms) {
                                occupied.remove();
                                count.removed(1);
                            }
                            return Err(i);
                        }
                    }
                }
            }
        }
        Ok(taken)
    }

    /// Run `f` on the counter's live slot under the entry's lock; see
    /// `LocalCounters::update` for what the result means.
    pub fn update(
        &self,
        key: VisitorKey,
        now_ms: i64,
        count: &EntryCount,
        f: impl FnOnce(&mut Slot) -> bool,
    ) -> Option<bool> {
        match self.by_ip.entry(key.ip_visitor()) {
            Entry::Vacant(vacant) => {
                if !count.has_room() {
                    return Some(false);
                }
                let mut entry = IpEntry::empty();
                self.update_entry(&mut entry, key, now_ms, count, f)?;
                vacant.insert(entry);
                count.added();
                Some(true)
            }
            Entry::Occupied(mut occupied) => {
                self.update_entry(occupied.get_mut(), key, now_ms, count, f)
            }
        }
    }

    /// `update` on a locked entry, spilling when another user agent is bound.
    fn update_entry(
        &self,
        entry: &mut IpEntry,
        key: VisitorKey,
        now_ms: i64,
        count: &EntryCount,
        f: impl FnOnce(&mut Slot) -> bool,
    ) -> Option<bool> {
        if !entry.inline_for(key.ua) {
            if entry.holds_live_user_agent(now_ms) || now_ms < entry.spilled_until_ms {
                return self.update_spilled(entry, key, now_ms, count, f);
            }
            entry.slots.retain(|s| !s.counter.per_user_agent);
            entry.ua = key.ua;
        }
        update_in(&mut entry.slots, key.counter, now_ms, f)
    }

    fn update_spilled(
        &self,
        entry: &mut IpEntry,
        key: VisitorKey,
        now_ms: i64,
        count: &EntryCount,
        f: impl FnOnce(&mut Slot) -> bool,
    ) -> Option<bool> {
        let spilled_key = key.spilled()?;
        let (result, expires_at_ms) = match self.spilled.entry(spilled_key) {
            Entry::Vacant(vacant) => {
                if !count.has_room() {
                    return Some(false);
                }
                let slot = Slot::born(f)?;
                vacant.insert(SmallVec::from_elem(
                    VisitorSlot {
                        counter: key.counter,
                        slot,
                    },
                    1,
                ));
                count.added();
                (Some(true), slot.expires_at_ms)
            }
            Entry::Occupied(mut occupied) => {
                let slots = occupied.get_mut();
                let result = update_in(slots, key.counter, now_ms, f)?;
                let expires_at_ms = slots
                    .iter()
                    .find(|s| s.counter == key.counter)
                    .map_or(i64::MIN, |s| s.slot.expires_at_ms);
                (Some(result), expires_at_ms)
            }
        };
        entry.spilled_until_ms = entry.spilled_until_ms.max(expires_at_ms);
        result
    }

    /// The live value of the counter (0 when absent or expired).
    pub fn current(&self, key: VisitorKey, now_ms: i64) -> i64 {
        let Some(entry) = self.by_ip.get(&key.ip_visitor()) else {
            return 0;
        };
        let live = |slots: &[VisitorSlot]| {
            slots
                .iter()
                .find(|s| s.counter == key.counter)
                .map_or(0, |s| s.slot.live_value(now_ms))
        };
        match key.spilled() {
            Some(spilled_key) if !entry.inline_for(key.ua) => self
                .spilled
                .get(&spilled_key)
                .map_or(0, |slots| live(&slots)),
            _ => live(&entry.slots),
        }
    }

    /// Take back what a reservation counted, when a later one of the same
    /// hit was refused. A recency mark goes only if no other hit replaced it
    /// meanwhile.
    pub fn take_back(&self, key: VisitorKey, taken: Taken, now_ms: i64, count: &EntryCount) {
        let Entry::Occupied(mut occupied) = self.by_ip.entry(key.ip_visitor()) else {
            return;
        };
        self.take_back_in(occupied.get_mut(), key, taken, count);
        if occupied.get().is_dead(now_ms) {
            occupied.remove();
            count.removed(1);
        }
    }

    fn take_back_in(&self, entry: &mut IpEntry, key: VisitorKey, taken: Taken, count: &EntryCount) {
        match key.spilled() {
            Some(spilled_key) if !entry.inline_for(key.ua) => {
                if let Entry::Occupied(mut spilled) = self.spilled.entry(spilled_key) {
                    take_back_from(spilled.get_mut(), key.counter, taken);
                    if spilled.get().is_empty() {
                        spilled.remove();
                        count.removed(1);
                    }
                }
            }
            _ => take_back_from(&mut entry.slots, key.counter, taken),
        }
    }

    /// Drop expired counters and the entries left empty; returns how many
    /// entries went.
    pub fn sweep(&self, now_ms: i64) -> usize {
        let mut removed = 0;
        self.spilled.retain(|_, slots| {
            slots.retain(|s| s.slot.is_live(now_ms));
            let keep = !slots.is_empty();
            removed += usize::from(!keep);
            keep
        });
        self.by_ip.retain(|_, entry| {
            entry.slots.retain(|s| s.slot.is_live(now_ms));
            let keep = !entry.is_dead(now_ms);
            removed += usize::from(!keep);
            keep
        });
        removed
    }

    #[cfg(test)]
    pub fn entries(&self) -> (usize, usize) {
        (self.by_ip.len(), self.spilled.len())
    }
}

/// Run `f` on `counter`'s slot in `slots`, adding the slot if it is not held.
fn update_in<const N: usize>(
    slots: &mut Slots<N>,
    counter: Counter,
    now_ms: i64,
    f: impl FnOnce(&mut Slot) -> bool,
) -> Option<bool>
where
    [VisitorSlot; N]: smallvec::Array<Item = VisitorSlot>,
{
    if let Some(held) = slots.iter_mut().find(|s| s.counter == counter) {
        return update_live(&mut held.slot, now_ms, f);
    }
    let slot = Slot::born(f)?;
    // The entry's dead counters go while it is locked anyway.
    slots.retain(|s| s.slot.is_live(now_ms));
    slots.push(VisitorSlot { counter, slot });
    Some(true)
}

/// Undo `taken` on `counter`'s slot in `slots`.
fn take_back_from<const N: usize>(slots: &mut Slots<N>, counter: Counter, taken: Taken)
where
    [VisitorSlot; N]: smallvec::Array<Item = VisitorSlot>,
{
    match taken {
        Taken::Added(amount) => {
            if let Some(held) = slots.iter_mut().find(|s| s.counter == counter) {
                held.slot.value = held.slot.value.saturating_sub(amount);
            }
        }
        // Only if no other hit replaced the mark meanwhile.
        Taken::Marked { expires_at_ms } => {
            slots.retain(|s| !(s.counter == counter && s.slot.expires_at_ms == expires_at_ms))
        }
        Taken::Nothing => {}
    }
}

#[cfg(test)]
#[path = "visitors_tests.rs"]
mod tests;
