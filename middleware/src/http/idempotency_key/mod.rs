//! The Idempotency-Key layer: idempotent POSTs on the idempotency engine and store.

mod key;
mod layer;
mod outcome;
mod service;
mod stored;

pub use key::{IDEMPOTENCY_KEY, MAX_KEY_LEN};
pub use layer::IdempotencyKeyLayer;
pub use service::IdempotencyKeyService;
