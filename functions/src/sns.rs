//! `sns`: payment notifications, processed exactly once.
//!
//! SNS delivers at least once, so the handler runs behind the idempotency layer keyed by the
//! notifications' `MessageId`s: a redelivered notification returns the first report and writes
//! nothing. Each notification's `Message` is a payment event (JSON); its `event_type` message
//! attribute — the one the subscription's filter policy matches on — must be accepted by this
//! function (`ACCEPTED_EVENT_TYPES`) and agree with the payload, so a too-broad filter policy
//! cannot feed it events it does not understand. The stored record is signed with HMAC-SHA256
//! under a key fetched from Secrets Manager at init, so downstream readers can verify it came
//! from here.
//!
//! Configuration: `NOTIFICATIONS_TABLE` (partition key `message_id`, S), `SIGNING_KEY_SECRET_ARN`,
//! `TERN_IDEMPOTENCY_TABLE`, optional `ACCEPTED_EVENT_TYPES` (comma-separated; default
//! `payment.captured,payment.refunded,payment.failed`).

use std::sync::Arc;

use aws_lambda_events::event::sns::{SnsEvent, SnsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tern_middleware::{
    idempotency::{IdempotencyConfig, IdempotencyLayer, KeySelector},
    secrets::{Secrets, SecretsConfig, SecretsError, SecretsLayer},
};
use tern_runtime::{Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure, service_fn};
use tower::ServiceBuilder;

const DEFAULT_ACCEPTED: &str = "payment.captured,payment.refunded,payment.failed";

/// A payment event, the JSON in an SNS `Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentEvent {
    /// Payment id.
    pub payment_id: String,
    /// The order paid for.
    pub order_id: String,
    /// Amount in minor units.
    pub amount_cents: u64,
    /// ISO 4217 code.
    pub currency: String,
    /// `captured`, `refunded` or `failed`.
    pub status: String,
}

/// One stored notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processed {
    /// SNS `MessageId`.
    pub message_id: String,
    /// The payment.
    pub payment_id: String,
    /// The `event_type` attribute.
    pub event_type: String,
    /// Hex HMAC-SHA256 of the stored record.
    pub signature: String,
}

/// One notification this function does not handle (its `event_type` is not accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    /// SNS `MessageId`.
    pub message_id: String,
    /// Why.
    pub reason: String,
}

/// The response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SnsReport {
    /// Stored notifications.
    pub processed: Vec<Processed>,
    /// Notifications left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Ignored>,
}

/// Why a notification could not be processed (the invocation fails; SNS retries, then the
/// subscription's dead-letter queue keeps it).
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    /// The message is not a valid payment event.
    #[error("message {message_id}: {reason}")]
    InvalidMessage {
        /// SNS `MessageId`.
        message_id: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing to the notifications table failed.
    #[error("storing message {message_id} in table {table}: PutItem failed with {code}: {message}")]
    Store {
        /// SNS `MessageId`.
        message_id: String,
        /// The table.
        table: String,
        /// AWS error code, or the kind of failure when no answer came (`SdkFailure::code`).
        code: String,
        /// AWS error message, or the plain cause (`SdkFailure::message`).
        message: String,
    },
    /// The signing key is unavailable.
    #[error(transparent)]
    Secret(#[from] SecretsError),
}

impl From<SnsError> for Diagnostic {
    fn from(error: SnsError) -> Self {
        match error {
            SnsError::Secret(secret) => secret.into(),
            other => Diagnostic {
                error_type: match other {
                    SnsError::InvalidMessage { .. } => "Sns.InvalidMessage",
                    _ => "Sns.StoreFailed",
                }
                .to_owned(),
                error_message: other.to_string(),
            },
        }
    }
}

/// State built at init.
pub struct PaymentNotifications {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    accepted: Vec<String>,
    secrets: Secrets,
}

/// Builds the `sns` service: secrets → idempotency → handler.
pub async fn build(
    init: InitContext,
) -> Result<impl crate::FunctionService<SnsEvent, SnsReport>, InitError> {
    let table = init.required_env(
        "NOTIFICATIONS_TABLE",
        "the DynamoDB table that stores payment notifications",
    )?;
    let accepted = init
        .optional_env("ACCEPTED_EVENT_TYPES")
        .unwrap_or_else(|| DEFAULT_ACCEPTED.to_owned())
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let secrets_layer = SecretsLayer::from_init(
        &init,
        SecretsConfig::from_env()?.with_secret("signing_key", "SIGNING_KEY_SECRET_ARN"),
    )
    .await?;
    let by_message_ids = KeySelector::from_fn(|event: &SnsEvent| {
        Some(
            event
                .records
                .iter()
                .map(|r| r.sns.message_id.clone())
                .collect::<Vec<_>>(),
        )
    });
    let idempotency =
        IdempotencyLayer::from_init(&init, IdempotencyConfig::from_env()?, by_message_ids).await?;
    let processor = Arc::new(PaymentNotifications {
        dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
        table,
        accepted,
        secrets: secrets_layer.secrets().clone(),
    });
    Ok(ServiceBuilder::new()
        .layer(crate::observability::metrics_layer())
        .layer(secrets_layer)
        .layer(idempotency)
        .service(service_fn(move |event: LambdaEvent<SnsEvent>| {
            let processor = processor.clone();
            async move { processor.handle(&event.payload).await }
        })))
}

impl PaymentNotifications {
    /// Processes every notification of the event, in order.
    pub async fn handle(&self, event: &SnsEvent) -> Result<SnsReport, SnsError> {
        let key = self.secrets.get("signing_key")?;
        let mut report = SnsReport::default();
        for record in &event.records {
            let message = &record.sns;
            let event_type = attribute(message, "event_type");
            match event_type {
                Some(t) if self.accepted.iter().any(|a| a == t) => {}
                other => {
                    let reason = match other {
                        // The value is the event's: withheld.
                        Some(_) => "event_type is not one of ACCEPTED_EVENT_TYPES".to_owned(),
                        None => "no event_type message attribute".to_owned(),
                    };
                    tracing::warn!(message_id = %message.message_id, %reason, "notification ignored");
                    report.ignored.push(Ignored {
                        message_id: message.message_id.clone(),
                        reason,
                    });
                    continue;
                }
            }
            let event_type = event_type.unwrap_or_default();
            let payment = parse_payment(message, event_type)?;
            let signature = sign(key.expose_bytes(), &message.message_id, &payment);
            self.store(message, event_type, &payment, &signature)
                .await?;
            tracing::info!(message_id = %message.message_id, payment_id = %payment.payment_id, event_type, "notification stored");
            report.processed.push(Processed {
                message_id: message.message_id.clone(),
                payment_id: payment.payment_id,
                event_type: event_type.to_owned(),
                signature,
            });
        }
        Ok(report)
    }

    async fn store(
        &self,
        message: &SnsMessage,
        event_type: &str,
        payment: &PaymentEvent,
        signature: &str,
    ) -> Result<(), SnsError> {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let mut put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("message_id", s(&message.message_id))
            .item("payment_id", s(&payment.payment_id))
            .item("order_id", s(&payment.order_id))
            .item(
                "amount_cents",
                AttributeValue::N(payment.amount_cents.to_string()),
            )
            .item("currency", s(&payment.currency))
            .item("status", s(&payment.status))
            .item("event_type", s(event_type))
            .item("published_at", s(&message.timestamp.to_rfc3339()))
            .item("signature", s(signature))
            // Idempotency already stops duplicates; this guards a redelivery after the
            // idempotency record expired from overwriting what was stored.
            .condition_expression("attribute_not_exists(message_id)");
        if let Some(tenant) = attribute(message, "tenant") {
            put = put.item("tenant", s(tenant));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                tracing::info!(message_id = %message.message_id, "already stored; not overwritten");
                Ok(())
            }
            Err(err) => {
                let (code, failure) = SdkFailure::from_sdk_error(&err).into_parts();
                Err(SnsError::Store {
                    message_id: message.message_id.clone(),
                    table: self.table.clone(),
                    code: code.into_owned(),
                    message: failure,
                })
            }
        }
    }
}

fn attribute<'a>(message: &'a SnsMessage, name: &str) -> Option<&'a str> {
    message
        .message_attributes
        .get(name)
        .map(|a| a.value.as_str())
}

fn parse_payment(message: &SnsMessage, event_type: &str) -> Result<PaymentEvent, SnsError> {
    let invalid = |reason: String| SnsError::InvalidMessage {
        message_id: message.message_id.clone(),
        reason,
    };
    let payment: PaymentEvent = tern_runtime::decode_json(message.message.as_bytes())
        .map_err(|reason| invalid(format!("not a payment event: {reason}")))?;
    if payment.payment_id.trim().is_empty() || payment.order_id.trim().is_empty() {
        return Err(invalid(
            "payment_id and order_id must not be empty".to_owned(),
        ));
    }
    if payment.currency.len() != 3 || !payment.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "currency is not an ISO 4217 code (three capital letters)".to_owned(),
        ));
    }
    if event_type != format!("payment.{}", payment.status) {
        return Err(invalid(format!(
            "the event_type attribute `{event_type}` (accepted) does not match the payload's \
             status"
        )));
    }
    Ok(payment)
}

/// Hex HMAC-SHA256 over the stored fields in a fixed order, each as `<byte length>:<bytes>`,
/// so no choice of field values can make two different records sign alike (a plain separator
/// could be forged by a value that contains it).
pub fn sign(key: &[u8], message_id: &str, payment: &PaymentEvent) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    let amount = payment.amount_cents.to_string();
    for field in [
        message_id,
        &payment.payment_id,
        &payment.order_id,
        &amount,
        &payment.currency,
        &payment.status,
    ] {
        mac.update(field.len().to_string().as_bytes());
        mac.update(b":");
        mac.update(field.as_bytes());
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str, event_type: &str) -> SnsMessage {
        let mut event: SnsEvent =
            serde_json::from_str(include_str!("../../events/sns/1-payment-captured.json")).unwrap();
        let mut message = event.records.remove(0).sns;
        message.message = body.to_owned();
        message
            .message_attributes
            .get_mut("event_type")
            .unwrap()
            .value = event_type.to_owned();
        message
    }

    #[test]
    fn payments_are_validated_against_their_attribute() {
        let ok = r#"{"payment_id":"p-1","order_id":"o-1","amount_cents":5,"currency":"EUR","status":"captured"}"#;
        assert!(parse_payment(&message(ok, "payment.captured"), "payment.captured").is_ok());
        let cases = [
            (
                ok,
                "payment.refunded",
                "the event_type attribute `payment.refunded` (accepted) does not match the payload's status",
            ),
            (
                r#"{"payment_id":"p-1","order_id":"o-1","amount_cents":5,"currency":"euro","status":"captured"}"#,
                "payment.captured",
                "currency is not an ISO 4217 code (three capital letters)",
            ),
            (
                r#"{"payment_id":"","order_id":"o-1","amount_cents":5,"currency":"EUR","status":"captured"}"#,
                "payment.captured",
                "payment_id and order_id must not be empty",
            ),
            (
                r#"{"payment_id":"p-1","amount_cents":5}"#,
                "payment.captured",
                "not a payment event: missing field `order_id` at line 1 column 37",
            ),
            (
                r#"{"payment_id":"p-1","order_id":"o-1","amount_cents":"12","currency":"EUR","status":"captured"}"#,
                "payment.captured",
                "not a payment event: [amount_cents] invalid type: string, expected u64 at line 1 column 56",
            ),
            (
                r#"{"payment_id":"p-1","order_id":"o-1","amount_cents":-5,"currency":"EUR","status":"captured"}"#,
                "payment.captured",
                "not a payment event: [amount_cents] invalid value: integer, expected u64 at line 1 column 54",
            ),
            (
                r#"{"payment_id":"p-1","order_id":"o-1","amount_cents":1e400,"currency":"EUR","status":"captured"}"#,
                "payment.captured",
                "not a payment event: [amount_cents] number out of range at line 1 column 57",
            ),
        ];
        for (body, event_type, reason) in cases {
            let err = parse_payment(&message(body, event_type), event_type).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("message d2a8c1f0-6b3e-5a9d-8c7f-1e2d3c4b5a01: {reason}")
            );
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_canonical_fields() {
        let payment = PaymentEvent {
            payment_id: "p-1".into(),
            order_id: "o-1".into(),
            amount_cents: 5,
            currency: "EUR".into(),
            status: "captured".into(),
        };
        // Expected value computed independently with Python:
        // f = ["m-1", "p-1", "o-1", "5", "EUR", "captured"]
        // hmac.new(b"k3y", b"".join(f"{len(x)}:{x}".encode() for x in f), hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"k3y", "m-1", &payment),
            "8141d26923a78bbbf04311125b3fa1a044e58a7be872c885c59da62e6865264e"
        );
        // Moving a newline between fields changes the signature.
        let shifted = PaymentEvent {
            payment_id: "p-1
o"
            .into(),
            order_id: "-1".into(),
            ..payment.clone()
        };
        let original = PaymentEvent {
            payment_id: "p-1".into(),
            order_id: "o-1".into(),
            ..payment.clone()
        };
        assert_ne!(
            sign(b"k3y", "m-1", &shifted),
            sign(b"k3y", "m-1", &original)
        );
    }
}
