//! `examples/sqs-fifo`: ledger entries applied in order and exactly once per account.

use serde_json::json;
use tern_testkit::Scenario;

use crate::support::{event, example, failed_record, failures, log_line, table_with, with_moto};

const TABLE: &str = "accounts";

fn balances(scenario: &Scenario) -> Vec<(String, u64)> {
    scenario
        .table_items(TABLE)
        .iter()
        .map(|item| {
            let id = item["account_id"].as_str().expect("account_id").to_owned();
            (id, item["balance_cents"].as_u64().expect("balance_cents"))
        })
        .collect()
}

#[test]
fn an_overdraft_holds_back_its_account_and_a_redelivery_posts_nothing_twice() {
    let scenario = Scenario::start();
    table_with(
        &scenario,
        TABLE,
        "account_id",
        &[
            json!({"account_id": "acct-1001", "balance_cents": 10000}),
            json!({"account_id": "acct-1002", "balance_cents": 500}),
        ],
    );
    let function = with_moto(example!("sqs-fifo"), &scenario)
        .env("ACCOUNTS_TABLE", TABLE)
        .start();
    let entries = event("sqs-fifo", "ledger-entries.json");
    // acct-1002's debit of 1200 (record 2) fails; its credit (record 4) waits behind it.
    let expected = failures(&[
        "9c3d7e21-5f0a-4b8c-a1d2-3e4f5a6b7c02",
        "9c3d7e21-5f0a-4b8c-a1d2-3e4f5a6b7c04",
    ]);
    let after = vec![
        ("acct-1001".to_owned(), 4500),
        ("acct-1002".to_owned(), 500),
    ];
    assert_eq!(function.invoke(&entries).body, expected);
    assert_eq!(balances(&scenario), after);
    let refused = failed_record(&function, "9c3d7e21-5f0a-4b8c-a1d2-3e4f5a6b7c02");
    assert_eq!(refused["error_type"], "Ledger.InsufficientFunds");
    assert_eq!(
        refused["reason"],
        "debit le-5002 of 1200 cents exceeds the balance of account acct-1002; the account's \
         later entries wait until it succeeds"
    );

    // Lambda delivers the batch again (say its response was lost): the posted entries are
    // recognised by their sequence numbers, the balances stay.
    assert_eq!(function.invoke(&entries).body, expected);
    assert_eq!(balances(&scenario), after);
    log_line(
        &function,
        "entry already posted (redelivery)",
        ("entry_id", "le-5005"),
    );
}
