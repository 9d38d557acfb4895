//! A bounded, least-recently-used cache of completed records, local to the execution
//! environment.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard},
};

use lru::LruCache;

use super::record::OmittedResponse;

/// What a completed record needs to answer a duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedResponse {
    /// The serialized response, or what is known of one too large to store.
    pub data: Result<Arc<str>, OmittedResponse>,
    /// Epoch seconds after which the record no longer counts.
    pub expiration: u64,
    /// The stored payload validation hash.
    pub validation: Option<Arc<str>>,
}

/// The records by key, most recently used first. `lru` hashes with foldhash (keys end in a
/// SHA-256 digest, and the map is bounded), not SipHash: a lookup is on every record's path.
#[derive(Debug)]
pub(crate) struct CompletedCache {
    lru: Mutex<LruCache<Box<str>, CachedResponse>>,
}

impl CompletedCache {
    /// A cache of at most `capacity` records.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 (the engine builds no cache then).
    pub fn new(capacity: usize) -> Self {
        let capacity =
            NonZeroUsize::new(capacity).expect("a local cache holds at least one record");
        Self {
            lru: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Box<str>, CachedResponse>> {
        // No critical section below can panic half-way through an update.
        self.lru
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live record for `key` at `now_s` (epoch seconds), marked as just used. An expired
    /// record is dropped and reported as a miss.
    pub fn get(&self, key: &str, now_s: u64) -> Option<CachedResponse> {
        let mut lru = self.lock();
        let record = lru.get(key)?;
        if record.expiration < now_s {
            lru.pop(key);
            return None;
        }
        Some(record.clone())
    }

    /// Stores (or replaces) the record for `key`, evicting the least recently used one when
    /// full.
    pub fn insert(&self, key: &str, record: CachedResponse) {
        let mut lru = self.lock();
        if let Some(old) = lru.get_mut(key) {
            // Replacing refreshes the entry without a new key allocation.
            *old = record;
            return;
        }
        lru.put(Box::from(key), record);
    }

    /// Forgets `key` (its record was found invalid).
    pub fn remove(&self, key: &str) {
        self.lock().pop(key);
    }

    #[cfg(test)]
    fn keys_oldest_first(&self) -> Vec<String> {
        self.lock()
            .iter()
            .rev()
            .map(|(k, _)| k.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(data: &str, expiration: u64) -> CachedResponse {
        CachedResponse {
            data: Ok(Arc::from(data)),
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
