//! A bounded, least-recently-used cache of completed records, local to the execution
//! environment.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

/// What a completed record needs to answer a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedResponse {
    /// The serialized response.
    pub data: Arc<str>,
    /// Epoch seconds after which the record no longer counts.
    pub expiration: u64,
    /// The stored payload validation hash.
    pub validation: Option<Arc<str>>,
}

/// Entries ordered by last use: `order` maps a use tick to a key, so the oldest is first.
#[derive(Debug)]
struct Lru {
    entries: HashMap<Arc<str>, (CachedResponse, u64)>,
    order: BTreeMap<u64, Arc<str>>,
    tick: u64,
}

#[derive(Debug)]
pub(crate) struct CompletedCache {
    capacity: usize,
    lru: Mutex<Lru>,
}

impl CompletedCache {
    /// A cache of at most `capacity` (> 0) records.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            lru: Mutex::new(Lru {
                entries: HashMap::with_capacity(capacity),
                order: BTreeMap::new(),
                tick: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        // Each critical section keeps `entries` and `order` in step before it can panic.
        self.lru
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live record for `key` at `now_s` (epoch seconds), marked as just used. An expired
    /// record is dropped and reported as a miss.
    pub fn get(&self, key: &str, now_s: u64) -> Option<CachedResponse> {
        let mut lru = self.lock();
        let lru = &mut *lru;
        let (record, used) = lru.entries.get_mut(key)?;
        if record.expiration < now_s {
            let used = *used;
            lru.order.remove(&used);
            lru.entries.remove(key);
            return None;
        }
        lru.tick += 1;
        let owner = lru.order.remove(used).unwrap_or_else(|| Arc::from(key));
        *used = lru.tick;
        lru.order.insert(lru.tick, owner);
        Some(record.clone())
    }

    /// Stores (or replaces) the record for `key`, evicting the least recently used one when
    /// full.
    pub fn insert(&self, key: &str, record: CachedResponse) {
        let mut lru = self.lock();
        let lru = &mut *lru;
        lru.tick += 1;
        let tick = lru.tick;
        if let Some((old, used)) = lru.entries.get_mut(key) {
            *old = record;
            let owner = lru.order.remove(used).unwrap_or_else(|| Arc::from(key));
            *used = tick;
            lru.order.insert(tick, owner);
            return;
        }
        if lru.entries.len() >= self.capacity
            && let Some((_, oldest)) = lru.order.pop_first()
        {
            lru.entries.remove(&oldest);
        }
        let key: Arc<str> = Arc::from(key);
        lru.order.insert(tick, key.clone());
        lru.entries.insert(key, (record, tick));
    }

    /// Forgets `key` (its record was found invalid).
    pub fn remove(&self, key: &str) {
        let mut lru = self.lock();
        if let Some((_, used)) = lru.entries.remove(key) {
            lru.order.remove(&used);
        }
    }

    #[cfg(test)]
    fn keys_oldest_first(&self) -> Vec<String> {
        self.lock().order.values().map(|k| k.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(data: &str, expiration: u64) -> CachedResponse {
        CachedResponse {
            data: Arc::from(data),
            expiration,
            validation: None,
        }
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let cache = CompletedCache::new(2);
        cache.insert("a", response("1", 100));
        cache.insert("b", response("2", 100));
        assert_eq!(cache.get("a", 50), Some(response("1", 100)));
        cache.insert("c", response("3", 100)); // evicts b: a was used after it
        assert_eq!(cache.keys_oldest_first(), ["a", "c"]);
        assert_eq!(cache.get("b", 50), None);
        cache.insert("a", response("1b", 100)); // replacing refreshes, no eviction
        assert_eq!(cache.keys_oldest_first(), ["c", "a"]);
        assert_eq!(cache.get("a", 50), Some(response("1b", 100)));
        cache.insert("d", response("4", 100));
        assert_eq!(cache.keys_oldest_first(), ["a", "d"]);
        cache.remove("a");
        assert_eq!(cache.keys_oldest_first(), ["d"]);
        assert_eq!(cache.get("a", 50), None);
    }

    #[test]
    fn expired_records_are_misses_and_dropped() {
        let cache = CompletedCache::new(4);
        cache.insert("a", response("1", 100));
        assert_eq!(cache.get("a", 100), Some(response("1", 100)));
        assert_eq!(cache.get("a", 101), None);
        assert!(cache.keys_oldest_first().is_empty());
    }

    #[test]
    fn capacity_one_keeps_the_latest() {
        let cache = CompletedCache::new(1);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(key, response(&i.to_string(), 10));
        }
        assert_eq!(cache.keys_oldest_first(), ["c"]);
        assert_eq!(cache.get("c", 0), Some(response("2", 10)));
    }
}
