//! `examples/batch-minimal`: the order gate on the batch layer alone, built with only the
//! features its own manifest names (no AWS SDK, no TLS), as a team builds it.

use tern_testkit::Emulator;

use crate::support::{
    event, example_with_own_features, failed_record, failures, log_line, poison_record,
};

#[test]
fn accepts_good_orders_and_reports_the_poison_pill_and_the_rejected_order() {
    let binary = example_with_own_features("batch-minimal");
    // The binary under test is the minimal one: no code of the SDK or of a TLS stack in it
    // (its symbols would name them; the workspace-built `example-batch-minimal` has both).
    let bytes = std::fs::read(&binary).expect("read the binary");
    for linked in ["aws_sdk_", "aws_smithy_", "aws_config", "rustls"] {
        let found = bytes
            .windows(linked.len())
            .any(|window| window == linked.as_bytes());
        assert!(!found, "{linked} in {}", binary.display());
    }
    let function = Emulator::builder(&binary).start();
    let answer = function.invoke(event("batch-minimal", "/events/sqs/1-orders.json"));
    assert_eq!(
        answer.body,
        failures(&[
            "4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03",
            "4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04"
        ])
    );
    for (order, total) in [("o-1001", 2598), ("o-1002", 4796), ("o-1005", 1400)] {
        let line = log_line(&function, "order accepted", ("order_id", order));
        assert_eq!(line["total_cents"], total, "{line}");
    }
    let rejected = failed_record(&function, "4f9e2a1c-0004-4c1e-9a51-1d2f3a4b5c04");
    assert_eq!(rejected["error_type"], "Orders.Rejected");
    assert_eq!(
        rejected["reason"],
        "order o-1004 rejected: line 0 (SKU-POT) has quantity 0; allowed 1 to 1000"
    );
    let poison = poison_record(&function, "4f9e2a1c-0003-4c1e-9a51-1d2f3a4b5c03");
    assert_eq!(
        poison["reason"],
        "body does not decode: at line 1 column 38: EOF while parsing a value"
    );
}
