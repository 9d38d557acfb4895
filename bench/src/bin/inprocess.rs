//! `tern-bench-inprocess`: the in-process SQS comparison alone, for alternating two builds of
//! tern (`bench/compare-inprocess.sh REV` runs this program built from REV's tree and from this
//! one, turn by turn).
//!
//! ```text
//! tern-bench-inprocess [SAMPLES]
//! ```
//! Starts moto, fetches the benchmark secret into the full stack's secrets layer (as the
//! harness does), runs `inprocess::run` with SAMPLES samples per side (default 5) and prints
//! one line: `sqs_full <µs> sqs_bare <µs>`, the medians per 10-record batch.

use tern_bench::{harness_support, inprocess};
use tern_testkit::Moto;

fn main() {
    let samples = std::env::args()
        .nth(1)
        .map(|arg| arg.parse().expect("SAMPLES is a whole number"))
        .unwrap_or(5);
    let moto = Moto::start();
    let secrets = harness_support::fetch_secret(&moto);
    let measured = inprocess::run(Some(secrets), samples);
    println!(
        "sqs_full {:.3} sqs_bare {:.3}",
        measured.sqs_full.median(),
        measured.sqs_bare.median()
    );
}
