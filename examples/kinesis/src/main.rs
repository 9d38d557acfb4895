//! `tern-example-kinesis`: audit events from a Kinesis stream, archived to S3 by tenant and day.
//!
//! Every service of a multi-tenant product writes its audit events to one stream, with the
//! tenant as the partition key: `{"event_id": "ae-9001", "tenant": "acme", "actor":
//! "user:1842", "action": "invoice.approved", "occurred_at": "2026-11-22T10:02:11Z"}` (base64
//! in the record, as Kinesis delivers it). This function keeps the long-term copy each tenant
//! can be handed: one S3 object per event at
//! `audit/tenant=<tenant>/date=<YYYY-MM-DD>/<event_id>.json`, a layout Athena and Glue
//! partition on. The key depends only on the event, so a redelivered record overwrites its
//! object with the same content.
//!
//! Kinesis resumes a shard from the lowest sequence number the function reports, so a record
//! processed after a failure would be delivered again anyway. By default the batch layer
//! therefore stops at the first failure (a record that does not decode or is invalid, or a
//! write S3 refused): that record and every one after it is reported and not run.
//! `TERN_BATCH_FAILURE_SCOPE=key` stops only the failed record's tenant instead; the other
//! tenants' events are archived in the same invocation (and again when Lambda resends them).
//!
//! - Event source: a Kinesis stream with `FunctionResponseTypes: [ReportBatchItemFailures]`
//!   (and, in production, `BisectBatchOnFunctionError` and an on-failure destination).
//! - Configuration: `AUDIT_BUCKET` (the role needs `s3:PutObject` on `audit/*`);
//!   `S3_FORCE_PATH_STYLE=true` for S3-compatible endpoints; the `TERN_BATCH_*` variables.
//! - Sample event: `events/audit-events.json`.
//!
//! # The same archive from Kafka (Amazon MSK or self-managed)
//!
//! When the services write to a Kafka topic instead (the tenant as the record key, so that a
//! tenant's events share a partition and keep their order), the archive stays as it is and
//! these change:
//!
//! - Layer: `BatchLayer::kafka` instead of `BatchLayer::kinesis`. The record handler takes
//!   `LambdaEvent<KafkaMessage<AuditEvent>>` (`tern_middleware::batch::decode::KafkaMessage`,
//!   the `batch` feature's Kafka decoder): the record's value decoded from base64 JSON is in
//!   `value` (so `archive.store(event.payload.value)`), next to `topic`, `partition`, `offset`,
//!   `key` and `headers`.
//! - What is reported: a failed record is `{"partition":"<topic>-<partition>","offset":<offset>}`
//!   instead of its sequence number. Lambda resumes each partition from its lowest reported
//!   offset, so the default (a failure stops the rest of the batch) holds for the same reason,
//!   and `TERN_BATCH_FAILURE_SCOPE=key` stops the failed record's topic-partition instead of
//!   its tenant's partition key.
//! - Event source: `Type: MSK` with the cluster ARN as `Stream`, or `Type: SelfManagedKafka`
//!   with `KafkaBootstrapServers` and the brokers' credentials in `SourceAccessConfigurations`;
//!   `Topics: [<topic>]` and a `ConsumerGroupId` (Kinesis has neither); `StartingPosition`
//!   `TRIM_HORIZON` or `LATEST`. `BatchSize` defaults to 100 for both, but
//!   `MaximumBatchingWindowInSeconds` defaults to 500 ms for Kafka (0 for Kinesis).
//!   `FunctionResponseTypes: [ReportBatchItemFailures]` as for Kinesis; the error handling
//!   settings (`BisectBatchOnFunctionError`, `MaximumRetryAttempts`,
//!   `MaximumRecordAgeInSeconds`; retries and record age are unlimited by default) apply to a
//!   Kafka mapping only in provisioned mode (`ProvisionedPollerConfig`). The on-failure
//!   destination (`DestinationConfig.OnFailure`) may be an SQS queue, an SNS topic, an S3
//!   bucket or a Kafka topic of the same cluster.
//! - Permissions: for MSK, the role needs the actions of the `AWSLambdaMSKExecutionRole`
//!   managed policy (besides `s3:PutObject`).
//!
//! The root `template.yaml` sketches such a trigger next to its own `kinesis` function.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{
    Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure, env::Env,
};

/// One audit event: the data of a Kinesis record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditEvent {
    event_id: String,
    tenant: String,
    actor: String,
    action: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    occurred_at: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    details: serde_json::Value,
}

impl AuditEvent {
    /// The object key, or why the event cannot have one.
    fn object_key(&self) -> Result<String, String> {
        // Both become part of the key: keep them to characters S3 and Athena take as they are.
        for (field, value) in [("event_id", &self.event_id), ("tenant", &self.tenant)] {
            let usable = (1..=64).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !usable {
                return Err(format!(
                    "{field} must be 1 to 64 letters, digits, `-` or `_`"
                ));
            }
        }
        let date = self.occurred_at.get(..10).filter(|date| {
            date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }) && self.occurred_at.as_bytes().get(10) == Some(&b'T')
        });
        let Some(date) = date else {
            return Err("occurred_at must be a UTC time such as 2026-11-22T10:02:11Z".to_owned());
        };
        Ok(format!(
            "audit/tenant={}/date={date}/{}.json",
            self.tenant, self.event_id
        ))
    }
}

/// The archive bucket, built once at init.
struct Archive {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl Archive {
    async fn store(&self, event: AuditEvent) -> Result<(), Diagnostic> {
        let key = event.object_key().map_err(|reason| Diagnostic {
            error_type: "Audit.InvalidEvent".to_owned(),
            error_message: format!("audit event {}: {reason}", event.event_id),
        })?;
        let body = serde_json::to_vec(&event).map_err(|error| Diagnostic {
            error_type: "Audit.InvalidEvent".to_owned(),
            error_message: format!("audit event {} does not serialize: {error}", event.event_id),
        })?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|error| {
                SdkFailure::from_sdk_error(&error).diagnostic(
                    "Audit.ArchiveFailed",
                    format_args!("PutObject of s3://{}/{key}", self.bucket),
                )
            })?;
        tracing::info!(event_id = %event.event_id, tenant = %event.tenant, key, "audit event archived");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("audit-archive", |init: InitContext| async move {
            let bucket = init.required_env("AUDIT_BUCKET", "the S3 bucket of the audit archive")?;
            let path_style = Env::process().flag("S3_FORCE_PATH_STYLE")?.unwrap_or(false);
            let batch = BatchLayer::kinesis(BatchConfig::from_env()?);
            let s3 = aws_sdk_s3::config::Builder::from(init.aws_config().await)
                .force_path_style(path_style)
                .build();
            let archive = Arc::new(Archive {
                s3: aws_sdk_s3::Client::from_conf(s3),
                bucket,
            });
            Ok::<_, InitError>(batch.service_fn(move |event: LambdaEvent<AuditEvent>| {
                let archive = archive.clone();
                async move { archive.store(event.payload).await }
            }))
        })
        .run()
}
