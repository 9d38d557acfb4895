//! `cargo bench -p tern-bench`: the in-process comparisons alone (moto serves the secret the
//! full stack caches). `make bench` runs them too, next to Powertools and the emulator runs.

use tern_bench::{inprocess, log_line};

fn main() {
    let moto = tern_testkit::Moto::start();
    let secrets = tern_bench::harness_support::fetch_secret(&moto);
    let results = inprocess::run(Some(secrets), 15);
    println!(
        "SQS 10 records, µs per batch: full stack {} | bare {}",
        results.sqs_full.summary(1),
        results.sqs_bare.summary(1)
    );
    println!(
        "Kinesis 10,000 records, µs per batch: batch layer {} | bare {}",
        results.kinesis_full.summary(0),
        results.kinesis_bare.summary(0)
    );
    println!(
        "framework cost per Kinesis record: {:.3} µs",
        (results.kinesis_full.median() - results.kinesis_bare.median()) / 10_000.0
    );
    let line = log_line::run(15);
    println!(
        "JSON log line, ns: tern {} | tern with tracing-subscriber's clock {} | tracing-subscriber's JSON {}",
        line.tern.summary(0),
        line.library_clock.summary(0),
        line.library.summary(0)
    );
}
