//! Unit tests of the engine itself: freshness, batches and their background refresh, on
//! Tokio's paused clock. Secrets and parameters test their behaviour over it in their modules.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::advance;

use super::*;

const NOW: Duration = Duration::ZERO;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn freshness_table() {
    let policy = Policy {
        ttl: secs(10),
        refresh_ahead: secs(2),
        grace: secs(5),
        fetch_timeout: secs(5),
    };
    let ms = Duration::from_millis;
    let cases = [
        (NOW, false, Freshness::Fresh),
        (ms(7_999), true, Freshness::Fresh),
        (secs(8), false, Freshness::RefreshDue),
        (secs(12), true, Freshness::RefreshDue),
        (ms(14_999), true, Freshness::RefreshDue),
        (secs(15), true, Freshness::Stale),
        (secs(15), false, Freshness::RefreshDue),
        (secs(3_600), false, Freshness::RefreshDue),
        (secs(3_600), true, Freshness::Stale),
    ];
    for (age, failed, expected) in cases {
        assert_eq!(
            policy.assess(age, failed),
            expected,
            "age {age:?}, failed {failed}"
        );
    }
    let always = Policy {
        refresh_ahead: secs(10),
        ..policy
    };
    assert_eq!(always.assess(NOW, false), Freshness::RefreshDue);
}

/// A back-end holding a value per key, recording the keys of every call. Keys starting with
/// `solo/` are fetched alone; the others are batched.
#[derive(Default)]
struct Board {
    values: Mutex<HashMap<String, Result<String, &'static str>>>,
    calls: Mutex<Vec<Vec<String>>>,
    delay: Duration,
}

impl Board {
    /// A board holding `<key>-1` for each of `keys`, answering after `delay`.
    fn holding(keys: &[&str], delay: Duration) -> Arc<Self> {
        let board = Self {
            delay,
            ..Self::default()
        };
        for key in keys {
            board.set(key, Ok(&format!("{key}-1")));
        }
        Arc::new(board)
    }

    fn set(&self, key: &str, value: Result<&str, &'static str>) {
        self.values
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.map(str::to_owned));
    }

    fn take_calls(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut self.calls.lock().unwrap())
    }
}

impl Source for Arc<Board> {
    type Key = String;
    type Value = String;

    fn label(&self) -> &'static str {
        "board"
    }

    fn batches(&self, key: &String) -> bool {
        !key.starts_with("solo/")
    }

    async fn fetch(&self, requests: &[Request<'_, String>]) -> Vec<Result<String, FetchError>> {
        let keys: Vec<String> = requests.iter().map(|r| r.key.clone()).collect();
        self.calls.lock().unwrap().push(keys.clone());
        tokio::time::sleep(self.delay).await;
        let values = self.values.lock().unwrap();
        keys.iter()
            .map(|key| match values.get(key) {
                Some(Ok(value)) => Ok(value.clone()),
                Some(Err(code)) => Err(FetchError::from_code(*code, "board failure")),
                None => Err(FetchError::from_code("ParameterNotFound", key.clone())),
            })
            .collect()
    }

    fn version(_value: &String) -> Option<&str> {
        None
    }
}

fn policy(ttl: u64) -> Policy {
    Policy {
        ttl: secs(ttl),
        refresh_ahead: secs(ttl) / 10,
        grace: secs(5),
        fetch_timeout: secs(5),
    }
}

fn slot(name: &str, key: &str, ttl: u64) -> Slot<String> {
    Slot {
        name: name.into(),
        env_var: format!("{}_ENV", name.to_ascii_uppercase()),
        key: Some(key.to_owned()),
        required: true,
        policy: policy(ttl),
    }
}

/// A cache of parameters `slots`, loaded from `board`.
async fn load_from(
    board: &Arc<Board>,
    slots: Vec<Slot<String>>,
) -> Result<Arc<Cache<Arc<Board>>>, Fault<String>> {
    Cache::load(Noun::Parameter, board.clone(), slots).await
}

fn read(cache: &Arc<Cache<Arc<Board>>>, name: &str) -> Result<Option<String>, String> {
    let index = cache.index_of(name).map_err(|f| format!("{f:?}"))?;
    cache
        .read(index, Instant::now())
        .map_err(|f| format!("{f:?}"))
}

async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn batchable_entries_with_one_policy_share_a_fetch_and_its_background_refresh() {
    let board = Board::holding(&["a", "b", "c", "solo/d", "e"], Duration::from_millis(100));
    let slots = vec![
        slot("a", "a", 10),
        slot("b", "b", 10),
        slot("d", "solo/d", 10),
        slot("c", "c", 10),
        // Another TTL: another batch.
        slot("e", "e", 20),
    ];
    let cache = load_from(&board, slots).await.unwrap();
    let mut calls = board.take_calls();
    calls.sort();
    assert_eq!(calls, [vec!["a", "b", "c"], vec!["e"], vec!["solo/d"]]);
    assert_eq!(read(&cache, "c"), Ok(Some("c-1".into())));

    for key in ["a", "b", "c", "solo/d"] {
        board.set(key, Ok(&format!("{key}-2")));
    }
    // Within the refresh-ahead window, one read starts one refresh of its whole batch; reads
    // of the other members while it runs start nothing.
    advance(secs(9)).await;
    assert_eq!(read(&cache, "b"), Ok(Some("b-1".into())));
    assert_eq!(read(&cache, "a"), Ok(Some("a-1".into())));
    assert_eq!(read(&cache, "c"), Ok(Some("c-1".into())));
    settle().await;
    assert_eq!(board.take_calls(), [vec!["b", "a", "c"]]);
    advance(Duration::from_millis(100)).await;
    settle().await;
    for name in ["a", "b", "c"] {
        assert_eq!(read(&cache, name), Ok(Some(format!("{name}-2"))));
    }
    assert_eq!(read(&cache, "e"), Ok(Some("e-1".into())), "fresh for 20 s");
    settle().await;
    assert_eq!(board.take_calls(), Vec::<Vec<String>>::new());
    // The entry fetched alone refreshes alone.
    assert_eq!(read(&cache, "d"), Ok(Some("solo/d-1".into())));
    settle().await;
    assert_eq!(board.take_calls(), [vec!["solo/d"]]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_member_that_fails_keeps_its_value_while_the_others_refresh() {
    let board = Board::holding(&["a", "b"], Duration::ZERO);
    let cache = load_from(&board, vec![slot("a", "a", 10), slot("b", "b", 10)])
        .await
        .unwrap();
    board.set("a", Ok("a-2"));
    board.set("b", Err("AccessDeniedException"));
    advance(secs(10)).await;
    assert_eq!(read(&cache, "a"), Ok(Some("a-1".into())));
    settle().await;
    assert_eq!(board.take_calls().len(), 2, "init, then one refresh");
    assert_eq!(read(&cache, "a"), Ok(Some("a-2".into())));
    assert_eq!(
        read(&cache, "b"),
        Ok(Some("b-1".into())),
        "kept through grace"
    );
    assert_eq!(cache.take_unreported_failures(), 1);
    // b retries alone once the retry interval has passed (a is fresh).
    advance(RETRY_INTERVAL).await;
    assert!(read(&cache, "b").unwrap_err().starts_with("Stale"));
    settle().await;
    assert_eq!(board.take_calls(), [vec!["b"]]);
}

#[tokio::test(start_paused = true)]
async fn a_required_batch_member_that_is_missing_fails_the_load_naming_it() {
    let board = Board::holding(&["a"], Duration::ZERO);
    let fault = load_from(&board, vec![slot("a", "a", 10), slot("missing", "m", 10)])
        .await
        .err()
        .unwrap();
    let Fault::Fetch {
        name,
        env_var,
        key,
        source,
    } = fault
    else {
        panic!("{fault:?}")
    };
    assert_eq!(
        (&*name, env_var.as_str(), key.as_str(), source.code()),
        ("missing", "MISSING_ENV", "m", "ParameterNotFound")
    );
    assert_eq!(board.take_calls(), [vec!["a", "m"]]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_outlasts_its_timeout_fails_every_member() {
    let board = Board::holding(&["a", "b"], secs(60));
    let mut slots = vec![slot("a", "a", 10), slot("b", "b", 10)];
    slots[1].required = false;
    let fault = load_from(&board, slots).await.err().unwrap();
    let Fault::Fetch { name, source, .. } = fault else {
        panic!("{fault:?}")
    };
    assert_eq!(
        (&*name, source.to_string().as_str()),
        ("a", "Timeout: no answer within 5s")
    );
}
