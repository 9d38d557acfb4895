//! Shared helpers of the idempotency integration tests: an SDK configuration for moto, the
//! table, a DynamoDB call recorder and a manual clock. Included as a module by the
//! `idempotency_*` test files (cargo also builds it alone, as a target without tests).
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use aws_config::{Region, SdkConfig, retry::RetryConfig};
use aws_sdk_dynamodb::{
    Client,
    config::Credentials,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    },
};
use tern_middleware::idempotency::{config::Clock, store::DynamoDbStore};
use tern_testkit::Moto;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

pub const TABLE: &str = "idempotency";

/// An SDK configuration for `moto`, built explicitly (tests never touch the process
/// environment). One attempt per call, so call counts are exact and outages show at once.
pub async fn sdk_config(moto: &Moto) -> SdkConfig {
    sdk_config_at(&moto.endpoint()).await
}

/// Like [`sdk_config`], for any endpoint (e.g. a [`SerialProxy`] in front of moto).
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    tern_runtime::aws::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "t"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// Creates the idempotency table as an operator would: partition key `id` (S), on demand.
pub async fn create_table(admin: &Client, table: &str) {
    admin
        .create_table()
        .table_name(table)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The raw item under `key`, read with a consistent `GetItem` by the admin client.
pub async fn raw_item(
    admin: &Client,
    table: &str,
    key: &str,
) -> Option<HashMap<String, AttributeValue>> {
    admin
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

/// Records the DynamoDB operation of every request sent on the wire (`x-amz-target`).
pub use tern_testkit::OperationLog as CallLog;

/// A store on `table` whose calls are recorded.
pub fn recorded_store(sdk: &SdkConfig, table: &str) -> (Arc<DynamoDbStore>, CallLog) {
    let calls = CallLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(calls.clone())
        .build();
    let store = DynamoDbStore::new(Client::from_conf(config), table);
    (Arc::new(store), calls)
}

/// A clock that moves only when told.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The item schema written out by hand (independent of the store's own mapping).
pub fn expected_item(
    key: &str,
    status: &str,
    expiration: u64,
    in_progress_expiration: Option<u64>,
    data: Option<&str>,
    validation: Option<&str>,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), AttributeValue::S(key.to_owned())),
        ("status".to_owned(), AttributeValue::S(status.to_owned())),
        (
            "expiration".to_owned(),
            AttributeValue::N(expiration.to_string()),
        ),
    ]);
    if let Some(lock) = in_progress_expiration {
        item.insert(
            "in_progress_expiration".to_owned(),
            AttributeValue::N(lock.to_string()),
        );
    }
    if let Some(data) = data {
        item.insert("data".to_owned(), AttributeValue::S(data.to_owned()));
    }
    if let Some(validation) = validation {
        item.insert(
            "validation".to_owned(),
            AttributeValue::S(validation.to_owned()),
        );
    }
    item
}

/// A loopback HTTP proxy that lets one request at a time reach moto.
///
/// DynamoDB applies the writes to one item one after the other, so of concurrent conditional
/// puts exactly one can win. `moto_server` serves each request on its own thread and checks a
/// `PutItem` condition and then writes with nothing holding a lock across the two, so two
/// concurrent puts can both pass
/// `attribute_not_exists` (seen here: 2 winners of 50 in about half the runs). Tests of
/// concurrent access put this in front of moto: the clients still race (50 connections in
/// flight); moto just sees the requests in sequence, as a DynamoDB partition applies them.
pub struct SerialProxy {
    endpoint: String,
    task: tokio::task::JoinHandle<()>,
}

impl SerialProxy {
    /// Starts proxying `127.0.0.1:<free port>` to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(client, upstream.clone(), turn.clone()));
            }
        });
        Self { endpoint, task }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for SerialProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays the requests of one client connection, each on a fresh upstream connection, holding
/// `turn` from sending a request until its whole response is read.
async fn serve(mut client: TcpStream, upstream: String, turn: Arc<tokio::sync::Mutex<()>>) {
    let mut pending = Vec::new();
    while let Some(request) = read_message(&mut client, &mut pending).await {
        let response = {
            let _turn = turn.lock().await;
            let mut server = TcpStream::connect(&upstream).await.unwrap();
            server.write_all(&request).await.unwrap();
            read_message(&mut server, &mut Vec::new())
                .await
                .expect("moto closed the connection without a response")
        };
        if client.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 message (head and `Content-Length` body) from `stream`; `None` at EOF.
/// Bytes read past the message stay in `pending` for the next one.
async fn read_message(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).to_ascii_lowercase();
    assert!(
        !head.contains("transfer-encoding: chunked"),
        "SerialProxy handles Content-Length bodies only:\n{head}"
    );
    let body_len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    while pending.len() < head_end + body_len {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..read]);
    }
    Some(pending.drain(..head_end + body_len).collect())
}
