//! `examples/dynamodb-streams`: reorder requests from inventory changes, REMOVE records
//! included.

use crate::support::{event, example, failures, log_line, poison_record, with_table};
use serde_json::json;

const TABLE: &str = "reorders";

fn reorders() -> (tern_testkit::Scenario, tern_testkit::EmulatorBuilder) {
    with_table(example!("dynamodb-streams"), TABLE, "sku", "REORDERS_TABLE")
}

#[test]
fn low_stock_opens_one_reorder_and_a_removed_product_is_nothing_to_do() {
    let (scenario, function) = reorders();
    let function = function.start();
    let answer = function.invoke(event("dynamodb-streams", "inventory-changes.json"));
    assert_eq!(answer.body, failures(&[]));
    // The mug ran low twice (records 2 and 5): one request, from the first.
    assert_eq!(
        json!(scenario.table_items(TABLE)),
        json!([
            {"sku": "SKU-LID-BAMBOO", "name": "Bamboo lid", "quantity": 50,
             "stock_at_request": 0, "status": "OPEN"},
            {"sku": "SKU-MUG-STONE", "name": "Stoneware mug", "quantity": 24,
             "stock_at_request": 3, "status": "OPEN"}
        ])
    );
    // The REMOVE record reached the handler as `None`, inside its record's span.
    log_line(
        &function,
        "product removed from the inventory; nothing to reorder",
        ("record_id", "442158450000000001745043903"),
    );
    log_line(
        &function,
        "a reorder request is already open",
        ("sku", "SKU-MUG-STONE"),
    );
}

#[test]
fn an_image_that_does_not_decode_stops_the_batch() {
    let (scenario, function) = reorders();
    let function = function.start();
    let answer = function.invoke(event("dynamodb-streams", "inventory-bad-image.json"));
    // The kettle (record 6) is reordered; the filters' image (record 7) does not decode; the
    // grinder (record 8) is low too, but does not run after it.
    assert_eq!(
        answer.body,
        failures(&["442158450000000001745043907", "442158450000000001745043908"])
    );
    assert_eq!(
        json!(scenario.table_items(TABLE)),
        json!([{"sku": "SKU-KETTLE", "name": "Gooseneck kettle", "quantity": 12,
                "stock_at_request": 1, "status": "OPEN"}])
    );
    let poison = poison_record(&function, "442158450000000001745043907");
    assert_eq!(
        poison["reason"],
        "NewImage does not decode: a custom deserialization error (message withheld: it may \
         quote the record)"
    );
}
