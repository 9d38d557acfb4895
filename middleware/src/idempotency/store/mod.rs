//! Where idempotency records live: the store interface and its two backends.

#[cfg(feature = "dynamodb")]
mod dynamodb;
#[cfg(feature = "dynamodb")]
mod item;
mod memory;

use std::{fmt, future::Future, pin::Pin};

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoDbStore;
#[cfg(feature = "dynamodb")]
pub use item::AttributeNames;
pub use memory::MemoryStore;

pub use super::{
    error::StoreError,
    record::{IdempotencyRecord, OmittedResponse, RecordState, RecordStatus},
};

/// The future every store operation returns (boxed, so the trait is object safe and the
/// engine holds any store as `Arc<dyn IdempotencyStore>`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The answer to [`IdempotencyStore::put_in_progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The `INPROGRESS` record was written: this invocation holds the key.
    Acquired,
    /// A record that the condition does not admit exists; here it is, as stored.
    Exists(IdempotencyRecord),
}

/// Persistence for idempotency records.
///
/// Implementations must make [`put_in_progress`](Self::put_in_progress) atomic: of any number
/// of concurrent calls for one key, at most one may see [`PutOutcome::Acquired`] while the
/// record it wrote is live.
pub trait IdempotencyStore: Send + Sync + fmt::Debug + 'static {
    /// What this store is called in messages: the DynamoDB table name, or `in-memory`.
    fn name(&self) -> &str;

    /// Writes `record` (an `INPROGRESS` record) if no record with its key exists, or the
    /// existing one is expired at `now_ms` (epoch milliseconds) as
    /// [`IdempotencyRecord::admits_new_lock`] defines. Otherwise returns the existing record.
    fn put_in_progress<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
        now_ms: u64,
    ) -> StoreFuture<'a, PutOutcome>;

    /// The stored record for `key`, expired or not (a consistent read).
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<IdempotencyRecord>>;

    /// Marks the record `COMPLETED`: sets `status`, `expiration` and `data` (or, for a
    /// response too large to store, `omitted`) from `record`, leaving its other attributes as
    /// stored.
    fn update_completed<'a>(&'a self, record: &'a IdempotencyRecord) -> StoreFuture<'a, ()>;

    /// Deletes the record for `key` (no error if there is none).
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;
}
