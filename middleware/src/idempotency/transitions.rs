//! The transitions of one keyed call: lock, run once, record the outcome, answer duplicates.

use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Duration};

use tokio::time::Instant;

use futures_util::FutureExt;
use serde::{Serialize, de::DeserializeOwned};

use super::{
    IdempotencyError,
    cache::CachedResponse,
    engine::Idempotency,
    key::IdempotencyKey,
    record::{IdempotencyRecord, OmittedResponse, RecordState},
    store::{PutOutcome, StoreError},
};

/// Conditional puts tried before giving up on a store that keeps returning a record its own
/// condition should have admitted.
const PUT_ATTEMPTS: usize = 3;

/// Store calls end this long before the invocation's deadline, so the error response still
/// leaves in time (the batch layer's default abandon margin is the same).
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// How long after its own deadline a store call is cut off here, leaving the runtime's bound
/// of SDK calls (the same instant) to end it first.
const AFTER_THE_SDK_BOUND: Duration = Duration::from_millis(2);

/// Metric: a duplicate answered with the stored response (local cache or store).
const HIT: &str = "IdempotencyHit";
/// Metric: a new key; the handler ran.
const MISS: &str = "IdempotencyMiss";

/// Adds one to a built-in metric of the current invocation (a no-op without a metrics layer).
fn count(metric: &str) {
    crate::builtin_metric(metric, 1.0);
}

impl Idempotency {
    /// The state machine for one keyed call.
    pub(crate) async fn execute<R, E, F, Fut>(
        &self,
        key: IdempotencyKey,
        validation: Option<String>,
        time_left: TimeLeft,
        handler: F,
    ) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let engine = &*self.inner;
        let now_ms = engine.clock.now_ms();
        let (remaining, lock_until_ms) = time_left.at(now_ms);
        if let Some(cache) = &engine.cache
            && let Some(hit) = cache.get(key.as_str(), now_ms / 1000)
        {
            check_validation(&key, hit.validation.as_deref(), validation.as_deref())?;
            tracing::debug!(key = %key, "idempotency: duplicate answered from the local cache");
            count(HIT);
            return match &hit.data {
                Ok(data) => decode(&key, data).inspect_err(|_| cache.remove(key.as_str())),
                Err(omitted) => Err(not_stored(key, omitted)),
            };
        }

        let calls_until = store_calls_until(remaining);
        // The record must not expire (and become takeable, or be removed by TTL) while its own
        // lock is live, even when the configured expiry is shorter than the invocation.
        let expiration = (now_ms / 1000 + engine.expires_after_s).max(lock_until_ms.div_ceil(1000));
        let lock =
            IdempotencyRecord::in_progress(key.as_str(), expiration, lock_until_ms, validation);
        for _ in 0..PUT_ATTEMPTS {
            let outcome = bounded(
                calls_until,
                "PutItem",
                engine.store.put_in_progress(&lock, now_ms),
            )
            .await
            .map_err(|source| self.persistence(false, source))?;
            let old = match outcome {
                PutOutcome::Acquired => {
                    count(MISS);
                    return self.run_locked(key, lock, calls_until, handler).await;
                }
                PutOutcome::Exists(old) => old,
            };
            match old.state(now_ms) {
                RecordState::Completed => {
                    check_validation(&key, old.validation.as_deref(), lock.validation.as_deref())?;
                    count(HIT);
                    let data = match (old.data, old.omitted) {
                        (None, Some(omitted)) => {
                            let error = not_stored(key.clone(), &omitted);
                            self.cache_completed(
                                &key,
                                Err(omitted),
                                old.expiration,
                                old.validation,
                            );
                            return Err(error);
                        }
                        (data, _) => data.unwrap_or_default(),
                    };
                    let response = decode(&key, &data)?;
                    tracing::debug!(key = %key, "idempotency: duplicate answered from the store");
                    self.cache_completed(&key, Ok(data), old.expiration, old.validation);
                    return Ok(response);
                }
                RecordState::InProgress => {
                    check_validation(&key, old.validation.as_deref(), lock.validation.as_deref())?;
                    return Err(IdempotencyError::AlreadyInProgress {
                        key: key.into_string(),
                        lock_expires_at_ms: old.in_progress_expiration,
                    });
                }
                // The store's condition disagreed with its own answer; ask again.
                RecordState::Expired => continue,
            }
        }
        Err(self.persistence(
            false,
            StoreError::new(
                "PutItem",
                "InconsistentState",
                format!(
                    "the store refused the lock for `{key}` {PUT_ATTEMPTS} times while returning \
                     an expired record"
                ),
            ),
        ))
    }

    /// Runs the handler holding the lock, then records its outcome.
    async fn run_locked<R, E, F, Fut>(
        &self,
        key: IdempotencyKey,
        lock: IdempotencyRecord,
        calls_until: Option<Instant>,
        handler: F,
    ) -> Result<R, IdempotencyError<E>>
    where
        R: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let engine = &*self.inner;
        // A panicking handler frees its key like a failing one; the panic then continues to
        // the runtime, which reports it.
        let outcome = match AssertUnwindSafe(handler()).catch_unwind().await {
            Ok(outcome) => outcome,
            Err(panic) => {
                self.release(&key, calls_until, "panicked").await;
                std::panic::resume_unwind(panic);
            }
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                self.release(&key, calls_until, "failed").await;
                return Err(IdempotencyError::Handler(error));
            }
        };
        let data = match serde_json::to_string(&response) {
            Ok(data) => data,
            Err(source) => {
                self.release(&key, calls_until, "returned an unserializable response")
                    .await;
                return Err(IdempotencyError::ResponseNotSerializable {
                    key: key.into_string(),
                    source,
                });
            }
        };
        let expiration = engine.clock.now_ms() / 1000 + engine.expires_after_s;
        let completed = if data.len() > engine.max_response_bytes {
            let omitted = OmittedResponse {
                bytes: data.len() as u64,
                sha256: super::key::sha256_hex(data.as_bytes()),
            };
            tracing::warn!(
                key = %key,
                bytes = omitted.bytes,
                limit = engine.max_response_bytes,
                "idempotency: the response is larger than the limit for stored responses; the \
                 record is completed without it, and duplicates fail with \
                 Idempotency.ResponseNotStored instead of running the handler again"
            );
            lock.completed_without_data(omitted, expiration)
        } else {
            lock.completed(data, expiration)
        };
        bounded(
            calls_until,
            "UpdateItem",
            engine.store.update_completed(&completed),
        )
        .await
        .map_err(|source| self.persistence(true, source))?;
        let data = match (completed.data, completed.omitted) {
            (None, Some(omitted)) => Err(omitted),
            (data, _) => Ok(data.unwrap_or_default()),
        };
        self.cache_completed(&key, data, completed.expiration, completed.validation);
        Ok(response)
    }

    /// Deletes the record of a handler that did not complete, so a retry runs it again. If
    /// that fails the handler's outcome still wins: the lock then frees itself when it expires.
    async fn release(&self, key: &IdempotencyKey, calls_until: Option<Instant>, why: &str) {
        let deleted = bounded(
            calls_until,
            "DeleteItem",
            self.inner.store.delete(key.as_str()),
        );
        if let Err(error) = deleted.await {
            tracing::error!(
                table = self.inner.store.name(),
                key = %key,
                code = error.code(),
                error = %error,
                "the handler {why} and its idempotency record could not be deleted; retries of \
                 this key fail with Idempotency.AlreadyInProgress until the lock expires"
            );
        }
    }

    fn cache_completed(
        &self,
        key: &IdempotencyKey,
        data: Result<String, OmittedResponse>,
        expiration: u64,
        validation: Option<String>,
    ) {
        if let Some(cache) = &self.inner.cache {
            cache.insert(
                key.as_str(),
                CachedResponse {
                    data: data.map(Arc::from),
                    expiration,
                    validation: validation.map(Arc::from),
                },
            );
        }
    }

    fn persistence<E>(&self, handler_ran: bool, source: StoreError) -> IdempotencyError<E> {
        IdempotencyError::Persistence {
            table: self.inner.store.name().to_owned(),
            handler_ran,
            source,
        }
    }
}

/// How long the invocation has left, as the caller knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TimeLeft {
    /// This long from now.
    For(Duration),
    /// Until this instant, in epoch milliseconds (the context's deadline).
    Until(u64),
}

impl TimeLeft {
    /// The time left at `now_ms`, and when the in-progress lock ends: exactly the deadline when
    /// one is known (not `now` plus a remaining time read at another instant).
    fn at(self, now_ms: u64) -> (Duration, u64) {
        match self {
            Self::For(remaining) => {
                let ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
                (remaining, now_ms.saturating_add(ms))
            }
            Self::Until(deadline_ms) => (
                Duration::from_millis(deadline_ms.saturating_sub(now_ms)),
                deadline_ms.max(now_ms),
            ),
        }
    }
}

/// Until when store calls may run: the deadline less [`DEADLINE_MARGIN`]. A zero remaining
/// time (a context without a deadline, as in unit tests) leaves them unbounded.
fn store_calls_until(remaining: Duration) -> Option<Instant> {
    (!remaining.is_zero()).then(|| Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN))
}

/// Runs a store call, failing it with `DeadlineExceeded` at `until`: the SDK's retries (or an
/// endpoint that never answers) must not outlast the invocation, which would then time out
/// with no response at all.
async fn bounded<T>(
    until: Option<Instant>,
    operation: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let Some(until) = until else {
        return call.await;
    };
    // A little after `until`: a client built from `tern_runtime::aws::config_loader` is cut
    // off at the same instant inside an invocation, and its error, which names the endpoint,
    // is the one to report (it comes first, deterministically, rather than in the same tick).
    tokio::time::timeout_at(until + AFTER_THE_SDK_BOUND, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::new(
                operation,
                "DeadlineExceeded",
                "no answer before the invocation's deadline (less 100 ms to send the error)",
            ))
        })
}

/// A mismatch only when both the stored record and this call carry a hash: records written
/// before validation was switched on stay usable.
fn check_validation<E>(
    key: &IdempotencyKey,
    stored: Option<&str>,
    current: Option<&str>,
) -> Result<(), IdempotencyError<E>> {
    match (stored, current) {
        (Some(stored), Some(current)) if stored != current => {
            Err(IdempotencyError::PayloadMismatch {
                key: key.as_str().to_owned(),
            })
        }
        _ => Ok(()),
    }
}

fn not_stored<E>(key: IdempotencyKey, omitted: &OmittedResponse) -> IdempotencyError<E> {
    IdempotencyError::ResponseNotStored {
        key: key.into_string(),
        bytes: omitted.bytes,
        sha256: omitted.sha256.clone(),
    }
}

fn decode<R: DeserializeOwned, E>(
    key: &IdempotencyKey,
    data: &str,
) -> Result<R, IdempotencyError<E>> {
    serde_json::from_str(data).map_err(|source| IdempotencyError::StoredResponseInvalid {
        key: key.as_str().to_owned(),
        source,
    })
}
