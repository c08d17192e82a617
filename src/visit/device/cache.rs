//! A bounded cache of user agent → `DeviceInfo`.
//!
//! Real traffic repeats a few thousand user agents, so nearly every hit is a
//! cache hit; a flood of unique user agents must not grow memory, though. Each
//! shard keeps two generations: when the young one is full it becomes the old
//! one and the previous old one is dropped. Entries read from the old
//! generation move to the young one, so the working set survives rotations
//! (LRU-like eviction at the cost of one map swap, no per-entry bookkeeping).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

use super::DeviceInfo;

const SHARDS: usize = 16;

pub(super) struct UaCache {
    shards: Box<[Mutex<Shard>]>,
    /// Keyed and random per process: user agents are attacker-chosen, so the
    /// hash must not be predictable (hash flooding).
    hasher: RandomState,
    generation_capacity: usize,
}

type Map = HashMap<u64, (Box<str>, DeviceInfo), BuildHasherDefault<Prehashed>>;

#[derive(Default)]
struct Shard {
    young: Map,
    old: Map,
}

impl UaCache {
    /// Holds at least `capacity` entries and at most twice that.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            generation_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub(super) fn get(&self, ua: &str) -> Option<DeviceInfo> {
        let hash = self.hasher.hash_one(ua);
        let mut shard = self.shard(hash);
        if let Some((key, info)) = shard.young.get(&hash) {
            return (**key == *ua).then(|| info.clone());
        }
        let entry = shard.old.remove(&hash)?;
        if *entry.0 != *ua {
            return None;
        }
        let info = entry.1.clone();
        shard.insert(hash, entry, self.generation_capacity);
        Some(info)
    }

    pub(super) fn insert(&self, ua: &str, info: DeviceInfo) {
        let hash = self.hasher.hash_one(ua);
        self.shard(hash)
            .insert(hash, (ua.into(), info), self.generation_capacity);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.young.len() + s.old.len()
            })
            .sum()
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        // The low bits pick the bucket inside the map; the high bits pick the shard.
        let index = (hash >> 60) as usize % SHARDS;
        // A panic while holding the lock leaves at worst a stale entry, never a
        // broken map invariant: keep serving.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shard {
    fn insert(&mut self, hash: u64, entry: (Box<str>, DeviceInfo), capacity: usize) {
        if self.young.len() >= capacity && !self.young.contains_key(&hash) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(hash, entry);
    }
}

/// The map's keys are already SipHash values; hashing them again is wasted work.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visit::device::DeviceType;

    fn info(t: DeviceType) -> DeviceInfo {
        DeviceInfo {
            device_type: t,
            ..DeviceInfo::default()
        }
    }

    #[test]
    fn returns_what_was_stored() {
        let cache = UaCache::new(100);
        cache.insert("a", info(DeviceType::Mobile));
        assert_eq!(cache.get("a"), Some(info(DeviceType::Mobile)));
        assert_eq!(cache.get("b"), None);
    }

    #[test]
    fn stays_bounded_under_a_flood_of_unique_user_agents() {
        let cache = UaCache::new(160);
        for i in 0..10_000 {
            cache.insert(&format!("ua {i}"), DeviceInfo::default());
        }
        assert!(cache.len() <= 2 * 160, "{}", cache.len());
        assert!(cache.len() >= 160, "{}", cache.len());
    }

    #[test]
    fn entries_in_use_survive_rotation() {
        let cache = UaCache::new(160);
        cache.insert("hot", info(DeviceType::Desktop));
        for i in 0..10_000 {
            cache.insert(&format!("ua {i}"), DeviceInfo::default());
            assert!(cache.get("hot").is_some(), "lost after {i}");
        }
    }
}
