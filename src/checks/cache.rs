//! Answers kept across hits for a TTL (prevalidation per request, search
//! latency per host), bounded so a flood of distinct visitors cannot grow it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::verdict::Answer;

#[derive(Debug)]
pub struct AnswerCache {
    max_entries: usize,
    entries: Mutex<FxHashMap<u64, (Answer, Instant)>>,
}

impl AnswerCache {
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            entries: Mutex::new(FxHashMap::default()),
        }
    }

    pub fn get(&self, key: u64, now: Instant) -> Option<Answer> {
        let entries = self.lock();
        entries
            .get(&key)
            .filter(|(_, expires)| now < *expires)
            .map(|(answer, _)| *answer)
    }

    pub fn put(&self, key: u64, answer: Answer, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| now < *expires);
            // Still full of live answers: forget them all rather than scan for
            // the oldest on every insert; they are asked again at worst.
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(key, (answer, now + ttl));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<u64, (Answer, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_the_cache_stays_bounded() {
        let cache = AnswerCache::new(2);
        let t = Instant::now();
        let ttl = Duration::from_secs(1);
        cache.put(1, Answer::Pass("accepted"), ttl, t);
        assert_eq!(cache.get(1, t), Some(Answer::Pass("accepted")));
        assert_eq!(cache.get(1, t + ttl), None);
        cache.put(2, Answer::Refuse("rejected"), ttl, t);
        cache.put(3, Answer::Refuse("rejected"), ttl, t);
        assert!(cache.len() <= 2);
        cache.put(4, Answer::Pass("accepted"), Duration::ZERO, t);
        assert_eq!(cache.get(4, t), None, "a zero TTL keeps nothing");
    }
}
