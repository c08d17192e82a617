//! One shard of the index: compact records in a ring of fixed-size chunks, in
//! arrival order (which is eviction order), and a hash table holding only each
//! record's position (4 bytes; hashed by the record it points at).
//!
//! Both grow in small steps, so memory follows the clicks held: the ring by one
//! chunk, the table by doubling a 256th of the index. Evicting the oldest record
//! frees its chunk once the chunk is all evicted.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::record::{Record, split};
use super::texts;
use super::{ClickFacts, NewClick};
use crate::catalog::ClickTexts;
use crate::routing::TransactionId;

/// Records per chunk: a power of two (so positions wrap cleanly at 2^32), small
/// enough that a half-filled chunk per shard is little beside the records held.
pub(super) const CHUNK: u32 = 64;

#[derive(Debug)]
struct Chunk {
    records: Vec<Record>,
    /// Kept texts of the chunk's records (see `texts`).
    texts: Vec<u8>,
}

impl Chunk {
    fn new() -> Self {
        Self {
            records: Vec::with_capacity(CHUNK as usize),
            texts: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Shard {
    /// Positions of the latest record of each click held.
    table: HashTable<u32>,
    chunks: VecDeque<Chunk>,
    /// Position of the oldest record in the ring. Positions count records ever
    /// added, wrapping at 2^32; the ring never holds anywhere near that many.
    head: u32,
    /// Position the next record gets.
    tail: u32,
    /// Full facts of clicks whose ids do not fit a `Record`.
    wide: FxHashMap<TransactionId, ClickFacts>,
    /// The last chunk emptied, reused for the next so a steady index stops allocating.
    spare: Option<Chunk>,
}

fn hash(tid: [u64; 2]) -> u64 {
    FxBuildHasher.hash_one(tid)
}

/// (chunk, slot) of `position`; chunks start at multiples of `CHUNK`.
fn locate(head: u32, position: u32) -> (usize, usize) {
    let offset = position.wrapping_sub(head & !(CHUNK - 1));
    ((offset / CHUNK) as usize, (offset % CHUNK) as usize)
}

fn record_at(chunks: &VecDeque<Chunk>, head: u32, position: u32) -> Option<&Record> {
    let (chunk, slot) = locate(head, position);
    chunks.get(chunk)?.records.get(slot)
}

impl Shard {
    /// Clicks held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Records in the ring, counting those of clicks remembered again since.
    fn ring_len(&self) -> usize {
        self.tail.wrapping_sub(self.head) as usize
    }

    /// Adds `click` (replacing an earlier one with its id), keeping only the
    /// texts in `keep`, then evicts beyond `max_entries` and before `oldest_kept_us`.
    pub fn remember(
        &mut self,
        click: &NewClick<'_>,
        keep: ClickTexts,
        max_entries: usize,
        oldest_kept_us: i64,
    ) {
        let position = self.tail;
        let (_, slot) = locate(self.head, position);
        if slot == 0 {
            let chunk = self.spare.take().unwrap_or_else(Chunk::new);
            self.chunks.push_back(chunk);
        }
        let Some(chunk) = self.chunks.back_mut() else {
            // A chunk was pushed at slot 0, and the chunk of slot > 0 is not
            // popped before its last record.
            return;
        };
        if chunk.texts.capacity() == 0 {
            // Sized once from the first entry (clicks of a chunk tend to carry
            // texts alike): grown by doubling, a buffer left the allocator a
            // trail of freed blocks, 20 MB at 2 M clicks echoing a sub.
            let entry = texts::entry_len(keep, click.subs, click.source_id);
            chunk.texts.reserve_exact(entry * CHUNK as usize);
        }
        let narrow = Record::narrow(click).filter(|_| {
            // The slot fits a u8: CHUNK is 64.
            texts::append(
                &mut chunk.texts,
                slot as u8,
                keep,
                click.subs,
                click.source_id,
            )
            .is_ok()
        });
        let record = match narrow {
            Some(record) => record,
            None => {
                self.wide.insert(click.transaction_id, click.to_facts());
                Record::wide(click)
            }
        };
        chunk.records.push(record);
        if slot + 1 == CHUNK as usize && chunk.texts.capacity() > chunk.texts.len() * 5 / 4 {
            chunk.texts.shrink_to_fit();
        }
        self.tail = position.wrapping_add(1);

        let tid = split(click.transaction_id);
        let hash = hash(tid);
        let Self {
            table,
            chunks,
            head,
            wide,
            ..
        } = self;
        let head = *head;
        let same_click = |&p: &u32| record_at(chunks, head, p).is_some_and(|r| r.is(tid));
        if let Some(held) = table.find_mut(hash, same_click) {
            // Remembered again (a spill replayed over memory): the newer record
            // wins, the older one stays in the ring until evicted, unreferenced.
            if record_at(chunks, head, *held).is_some_and(Record::is_wide) && !record.is_wide() {
                wide.remove(&click.transaction_id);
            }
            *held = position;
        } else {
            let rehash = |&p: &u32| {
                record_at(chunks, head, p).map_or(0, |r| self::hash(split(r.transaction_id())))
            };
            table.insert_unique(hash, position, rehash);
        }
        self.evict(max_entries, oldest_kept_us);
    }

    fn evict(&mut self, max_entries: usize, oldest_kept_us: i64) {
        while let Some(&oldest) = record_at(&self.chunks, self.head, self.head) {
            if self.ring_len() <= max_entries && oldest.created_us() >= oldest_kept_us {
                break;
            }
            let position = self.head;
            let tid = oldest.transaction_id();
            // Only if the table still points here: the click may have been
            // remembered again since, at a later position.
            if let Ok(entry) = self.table.find_entry(hash(split(tid)), |&p| p == position) {
                entry.remove();
                if oldest.is_wide() {
                    self.wide.remove(&tid);
                }
            }
            self.head = position.wrapping_add(1);
            if self.head.is_multiple_of(CHUNK)
                && let Some(mut chunk) = self.chunks.pop_front()
            {
                chunk.records.clear();
                chunk.texts.clear();
                self.spare = Some(chunk);
            }
        }
    }

    /// The click, if held and created at or after `oldest_kept_us`.
    pub fn get(&self, transaction_id: TransactionId, oldest_kept_us: i64) -> Option<ClickFacts> {
        let tid = split(transaction_id);
        let same_click =
            |&p: &u32| record_at(&self.chunks, self.head, p).is_some_and(|r| r.is(tid));
        let &position = self.table.find(hash(tid), same_click)?;
        let (chunk, slot) = locate(self.head, position);
        let chunk = self.chunks.get(chunk)?;
        let record = chunk.records.get(slot)?;
        if record.created_us() < oldest_kept_us {
            return None;
        }
        if record.is_wide() {
            return self.wide.get(&transaction_id).cloned();
        }
        let ids = record.ids();
        // The slot fits a u8: CHUNK is 64.
        let texts = texts::find(&chunk.texts, slot as u8);
        Some(ClickFacts {
            transaction_id,
            created_at: record.created_at(),
            offer_id: ids.offer_id,
            advertiser_id: ids.advertiser_id,
            partner_id: ids.partner_id,
            smart_link_id: ids.smart_link_id,
            subs: texts.subs,
            source_id: texts.source_id,
            kept: texts.kept,
            local: true,
        })
    }
}

#[cfg(test)]
impl Shard {
    pub fn wide_is_empty(&self) -> bool {
        self.wide.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn positions_wrap_around_without_losing_a_click() {
        // Chunk-aligned, a few chunks short of the wrap.
        let start = 0u32.wrapping_sub(3 * CHUNK);
        let mut shard = Shard {
            head: start,
            tail: start,
            ..Shard::default()
        };
        let now = Utc::now();
        let subs = [None, None, None, None, None];
        let max = 2 * CHUNK as usize;
        for n in 0..(8 * CHUNK as u128) {
            let click = NewClick {
                transaction_id: TransactionId(n << 8),
                created_at: now,
                offer_id: 1,
                advertiser_id: None,
                partner_id: n as i64,
                smart_link_id: None,
                subs: &subs,
                source_id: None,
            };
            shard.remember(&click, ClickTexts::NONE, max, 0);
        }
        assert!(shard.tail < start, "the positions wrapped");
        assert_eq!(shard.len(), max);
        for n in (8 * CHUNK as u128 - max as u128)..(8 * CHUNK as u128) {
            let facts = shard.get(TransactionId(n << 8), 0).unwrap();
            assert_eq!(facts.partner_id, n as i64);
        }
        assert!(shard.chunks.len() <= 3);
    }
}
