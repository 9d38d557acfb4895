//! `tern-example-secrets`: a webhook inbox behind a Lambda function URL, with the signing key
//! in Secrets Manager.
//!
//! A partner (GitHub here; most webhook senders work alike) POSTs events to the function's
//! URL and signs each body with a shared secret: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
//! of the body>`, with a delivery id (`X-GitHub-Delivery`) and the event name
//! (`X-GitHub-Event`). The function checks the signature, then stores the delivery in an inbox
//! table that the processing side reads, and answers at once, as senders expect:
//!
//! | answer | when |
//! |---|---|
//! | `202` `{"delivery_id": …, "status": "queued"}` | a new delivery, stored |
//! | `200` `{"delivery_id": …, "status": "duplicate"}` | a delivery stored before (the sender redelivered it) |
//! | `401` | no signature, or one that does not match the body |
//! | `400` | a signed request without a delivery id or event name |
//! | `415` | a body the URL passed base64-encoded: not JSON |
//!
//! The secret is declared once, by the variable that holds its ARN, and fetched at init by
//! the secrets layer: a secret that does not exist or that the role may not read fails init
//! with an error naming the variable and the AWS error code, before any request is accepted.
//! It is cached and refreshed in the background, so a rotated secret takes effect within the
//! TTL (`TERN_SECRETS_TTL_SECONDS`) without a cold start, and a request never waits for
//! Secrets Manager. The value is compared in constant time and never logged.
//!
//! - Invocation: a function URL (`AuthType: NONE`: the signature is the authentication).
//! - Configuration: `WEBHOOK_SECRET_ARN` (the secret's ARN or name; its value is the webhook
//!   secret as text; the role needs `secretsmanager:GetSecretValue`); `WEBHOOK_INBOX_TABLE`
//!   (partition key `delivery_id`, S; the role needs `dynamodb:PutItem`); the
//!   `TERN_SECRETS_*` variables.
//! - Sample events: `events/push-signed.json`, `events/push-tampered.json`.

use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use aws_sdk_dynamodb::types::AttributeValue;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderValue, header::CONTENT_TYPE};
use serde_json::json;
use sha2::Sha256;
use tern_middleware::secrets::{Secrets, SecretsConfig, SecretsLayer};
use tern_runtime::{
    Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure, service_fn,
};
use tower::ServiceBuilder;

/// The name the handler reads the webhook secret by.
const WEBHOOK_SECRET: &str = "webhook";

fn respond(status: i64, body: serde_json::Value) -> LambdaFunctionUrlResponse {
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = status;
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(body.to_string());
    response
}

/// `sha256=<64 hex digits>` as bytes.
fn signature_bytes(header: &str) -> Option<[u8; 32]> {
    let hex = header.strip_prefix("sha256=")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

/// The secrets handle and the inbox table, built once at init.
struct Inbox {
    secrets: Secrets,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Inbox {
    async fn receive(
        &self,
        event: LambdaEvent<LambdaFunctionUrlRequest>,
    ) -> Result<LambdaFunctionUrlResponse, Diagnostic> {
        let request = event.payload;
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        if request.is_base64_encoded {
            return Ok(respond(
                415,
                json!({"message": "send the payload as application/json"}),
            ));
        }
        let body = request.body.as_deref().unwrap_or_default();
        let key = self.secrets.get(WEBHOOK_SECRET)?;
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_str()?.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        let signed = header("x-hub-signature-256")
            .and_then(signature_bytes)
            .is_some_and(|signature| mac.verify_slice(&signature).is_ok());
        let (delivery, event_name) = (header("x-github-delivery"), header("x-github-event"));
        if !signed {
            tracing::warn!(
                delivery = delivery.unwrap_or("none"),
                "webhook signature missing or wrong; rejected"
            );
            return Ok(respond(
                401,
                json!({"message": "signature missing or wrong"}),
            ));
        }
        let (Some(delivery), Some(event_name)) = (delivery, event_name) else {
            return Ok(respond(
                400,
                json!({"message": "X-GitHub-Delivery and X-GitHub-Event are required"}),
            ));
        };
        let text = |value: &str| AttributeValue::S(value.to_owned());
        let stored = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("delivery_id", text(delivery))
            .item("event", text(event_name))
            .item(
                "received_at_ms",
                AttributeValue::N(request.request_context.time_epoch.to_string()),
            )
            .item("payload", text(body))
            .condition_expression("attribute_not_exists(delivery_id)")
            .send()
            .await;
        match stored {
            Ok(_) => {
                tracing::info!(delivery, event = event_name, "webhook queued");
                Ok(respond(
                    202,
                    json!({"delivery_id": delivery, "status": "queued"}),
                ))
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                tracing::info!(delivery, "webhook delivered again; already queued");
                Ok(respond(
                    200,
                    json!({"delivery_id": delivery, "status": "duplicate"}),
                ))
            }
            Err(error) => Err(SdkFailure::from_sdk_error(&error).diagnostic(
                "Webhooks.StoreFailed",
                format_args!("PutItem of delivery {delivery} in table {}", self.table),
            )),
        }
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("webhooks", |init: InitContext| async move {
            let table = init.required_env(
                "WEBHOOK_INBOX_TABLE",
                "the DynamoDB table of received webhooks (partition key `delivery_id`)",
            )?;
            let config =
                SecretsConfig::from_env()?.with_secret(WEBHOOK_SECRET, "WEBHOOK_SECRET_ARN");
            let secrets = SecretsLayer::from_init(&init, config).await?;
            let inbox = Arc::new(Inbox {
                secrets: secrets.secrets().clone(),
                dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
                table,
            });
            let service = ServiceBuilder::new()
                .layer(secrets)
                .service(service_fn(move |event| {
                    let inbox = inbox.clone();
                    async move { inbox.receive(event).await }
                }));
            Ok::<_, InitError>(service)
        })
        .run()
}
