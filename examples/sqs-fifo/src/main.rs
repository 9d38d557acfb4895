//! `tern-example-sqs-fifo`: ledger entries from an SQS FIFO queue, applied to account balances
//! in order and exactly once.
//!
//! The payments service posts credits and debits to a FIFO queue with the account as the
//! message group: `{"entry_id": "le-5001", "account_id": "acct-1001", "kind": "debit",
//! "amount_cents": 4000}`. Within an account the entries must apply in order (a debit may only
//! be allowed after the credit before it), and exactly once, though Lambda can deliver a batch
//! again after a timeout or a lost response.
//!
//! Order comes from the batch layer: records of one message group run one after another, and
//! after a failure the rest of that group is reported without running (SQS FIFO's default
//! failure scope), so a later entry never overtakes one that failed; other accounts go on.
//! Exactly once comes from the table: each account item keeps the SQS `SequenceNumber` of the
//! last entry applied to it, which grows within a message group, and one conditional
//! `UpdateItem` changes the balance and that number together. An entry at or below the stored
//! number was applied before and succeeds without a change. A debit larger than the balance
//! fails (`Ledger.InsufficientFunds`) and holds back its account's later entries until it is
//! retried; after the queue's `maxReceiveCount` it goes to the dead-letter queue.
//!
//! The sequence number is a message attribute, not part of the body, so this function takes
//! whole `SqsMessage`s (`BatchLayer::sqs_raw`) and decodes the body itself.
//!
//! - Event source: a FIFO queue with `FunctionResponseTypes: [ReportBatchItemFailures]`.
//! - Configuration: `ACCOUNTS_TABLE` (partition key `account_id`, S; items hold `balance_cents`,
//!   N; the role needs `dynamodb:UpdateItem`); the `TERN_BATCH_*` variables, e.g.
//!   `TERN_BATCH_CONCURRENCY=8` to work on eight accounts at once.
//! - Sample event: `events/ledger-entries.json`.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use serde::Deserialize;
use tern_middleware::batch::{BatchConfig, BatchLayer};
use tern_runtime::{Bootstrap, Diagnostic, InitContext, InitError, LambdaEvent, aws::SdkFailure};

/// One ledger entry: the body of a message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    entry_id: String,
    account_id: String,
    kind: Kind,
    amount_cents: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Credit,
    Debit,
}

fn invalid(message: String) -> Diagnostic {
    Diagnostic {
        error_type: "Ledger.InvalidEntry".to_owned(),
        error_message: message,
    }
}

/// The accounts table, built once at init.
struct Ledger {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Ledger {
    /// Decodes one message and applies its entry, unless the account already has it.
    async fn post(&self, message: SqsMessage) -> Result<(), Diagnostic> {
        let body = message.body.as_deref().unwrap_or_default();
        // The reason names the field and withholds the body's content.
        let entry: Entry = tern_runtime::decode_json(body.as_bytes())
            .map_err(|reason| invalid(format!("the body is not a ledger entry: {reason}")))?;
        let attribute = |name: &str| message.attributes.get(name).map(String::as_str);
        if attribute("MessageGroupId") != Some(entry.account_id.as_str()) {
            return Err(invalid(format!(
                "entry {} was sent with another message group than its account {}; the \
                 sender must use the account id as MessageGroupId",
                entry.entry_id, entry.account_id
            )));
        }
        let sequence: u128 = attribute("SequenceNumber")
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| {
                invalid(format!(
                    "entry {} has no SequenceNumber: it did not come from a FIFO queue",
                    entry.entry_id
                ))
            })?;
        if entry.amount_cents == 0 {
            return Err(invalid(format!("entry {} has no amount", entry.entry_id)));
        }
        let (expression, funds) = match entry.kind {
            Kind::Credit => (
                "SET balance_cents = balance_cents + :amount, last_sequence = :seq",
                "",
            ),
            Kind::Debit => (
                "SET balance_cents = balance_cents - :amount, last_sequence = :seq",
                " AND balance_cents >= :amount",
            ),
        };
        let number = |n: String| AttributeValue::N(n);
        let result = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("account_id", AttributeValue::S(entry.account_id.clone()))
            .update_expression(expression)
            .condition_expression(format!(
                "attribute_exists(account_id) AND (attribute_not_exists(last_sequence) OR \
                 last_sequence < :seq){funds}"
            ))
            .expression_attribute_values(":amount", number(entry.amount_cents.to_string()))
            .expression_attribute_values(":seq", number(sequence.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => {
                tracing::info!(entry_id = %entry.entry_id, account_id = %entry.account_id, "entry posted");
                return Ok(());
            }
            Err(error) => error,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
            error.as_service_error()
        else {
            return Err(SdkFailure::from_sdk_error(&error).diagnostic(
                "Ledger.StoreFailed",
                format_args!(
                    "UpdateItem of account {} in table {}",
                    entry.account_id, self.table
                ),
            ));
        };
        // Which part of the condition failed: the stored item tells.
        let Some(account) = failed.item() else {
            return Err(invalid(format!(
                "entry {}: account {} does not exist",
                entry.entry_id, entry.account_id
            )));
        };
        let applied = account
            .get("last_sequence")
            .and_then(|value| value.as_n().ok())
            .and_then(|n| n.parse::<u128>().ok());
        if applied.is_some_and(|last| last >= sequence) {
            tracing::info!(entry_id = %entry.entry_id, account_id = %entry.account_id, "entry already posted (redelivery)");
            return Ok(());
        }
        Err(Diagnostic {
            error_type: "Ledger.InsufficientFunds".to_owned(),
            error_message: format!(
                "debit {} of {} cents exceeds the balance of account {}; the account's later \
                 entries wait until it succeeds",
                entry.entry_id, entry.amount_cents, entry.account_id
            ),
        })
    }
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("ledger", |init: InitContext| async move {
            let table = init.required_env(
                "ACCOUNTS_TABLE",
                "the DynamoDB table of account balances (partition key `account_id`)",
            )?;
            let batch = BatchLayer::sqs_raw(BatchConfig::from_env()?);
            let ledger = Arc::new(Ledger {
                dynamodb: aws_sdk_dynamodb::Client::new(init.aws_config().await),
                table,
            });
            Ok::<_, InitError>(batch.service_fn(move |event: LambdaEvent<SqsMessage>| {
                let ledger = ledger.clone();
                async move { ledger.post(event.payload).await }
            }))
        })
        .run()
}
