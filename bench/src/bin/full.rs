//! The benchmark's tern function: the runtime with the full middleware stack over the
//! 10-order SQS batch. With `BENCH_SECRET_ARN` set it prefetches that secret at init and
//! reads it (cached) per record; without, the stack has no secrets layer.

use tern_bench::stack;
use tern_middleware::{
    batch::BatchConfig,
    secrets::{SecretsConfig, SecretsLayer},
};
use tern_runtime::{Bootstrap, InitContext, InitError};

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("orders", |init: InitContext| async move {
            let secrets = match init.optional_env(stack::SECRET_ENV) {
                Some(_) => {
                    let config = SecretsConfig::from_env()?
                        .with_secret(stack::SECRET_NAME, stack::SECRET_ENV);
                    Some(SecretsLayer::from_init(&init, config).await?)
                }
                None => None,
            };
            let batch = BatchConfig::from_env()?;
            Ok::<_, InitError>(stack::full_stack(
                secrets,
                stack::memory_idempotency(1024),
                batch,
            ))
        })
        .run()
}
