//! Records in process memory: for tests and local runs.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use super::{IdempotencyStore, PutOutcome, StoreFuture};
use crate::idempotency::record::IdempotencyRecord;

/// An [`IdempotencyStore`] in a `Mutex<HashMap>`, with the same conditions as the DynamoDB
/// store. Time comes from the caller (`now_ms` of
/// [`put_in_progress`](IdempotencyStore::put_in_progress)), so the engine's clock
/// ([`IdempotencyConfig::with_clock`](crate::idempotency::IdempotencyConfig::with_clock))
/// drives expiry here too. Like DynamoDB before its TTL sweep, expired records stay until
/// they are replaced or deleted.
///
/// Records are per process: in Lambda each execution environment would have its own, so use
/// it for tests and local runs only.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are stored, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, IdempotencyRecord>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still usable.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl IdempotencyStore for MemoryStore {
    fn name(&self) -> &str {
        "in-memory"
    }

    fn put_in_progress<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: u64,
    ) -> StoreFuture<'a, PutOutcome> {
        Box::pin(async move {
            let mut records = self.lock();
            Ok(match records.get(&record.key) {
                Some(old) if !old.admits_new_lock(now_ms) => PutOutcome::Exists(old.clone()),
                _ => {
                    records.insert(record.key.clone(), record.clone());
                    PutOutcome::Acquired
                }
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>> {
        Box::pin(async move { Ok(self.lock().get(key).cloned()) })
    }

    fn update_completed<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut records = self.lock();
            // Like UpdateItem: creates the item if it is gone, keeps attributes not set.
            let stored = records
                .entry(record.key.clone())
                .or_insert_with(|| IdempotencyRecord {
                    in_progress_expiration: None,
                    validation: None,
                    omitted: None,
                    ..record.clone()
                });
            stored.status = record.status;
            stored.data.clone_from(&record.data);
            stored.omitted.clone_from(&record.omitted);
            stored.expiration = record.expiration;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.lock().remove(key);
            Ok(())
        })
    }
}
