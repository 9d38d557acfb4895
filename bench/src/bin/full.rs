//! The benchmark's tern function: the runtime with the full middleware stack over the
//! 10-order SQS batch. With `BENCH_SECRET_ARN` set it prefetches that secret at init and reads
//! it (cached) per record; with the `BENCH_*_PARAMETER` variables set it also prefetches those
//! three SSM parameters (one `GetParameters`), concurrently with the secret, and reads one per
//! record. Without them, the stack has neither layer.

use tern_bench::stack;
use tern_middleware::{
    batch::BatchConfig,
    parameters::{Parameter, ParametersConfig, ParametersLayer},
    secrets::{SecretsConfig, SecretsLayer},
};
use tern_runtime::{Bootstrap, InitContext, InitError};

async fn secrets(init: &InitContext) -> Result<Option<SecretsLayer>, InitError> {
    if init.optional_env(stack::SECRET_ENV).is_none() {
        return Ok(None);
    }
    let config = SecretsConfig::from_env()?.with_secret(stack::SECRET_NAME, stack::SECRET_ENV);
    Ok(Some(SecretsLayer::from_init(init, config).await?))
}

async fn parameters(init: &InitContext) -> Result<Option<ParametersLayer>, InitError> {
    if init.optional_env(stack::PARAMETER_ENVS[0]).is_none() {
        return Ok(None);
    }
    let declared = stack::PARAMETER_NAMES.iter().zip(stack::PARAMETER_ENVS);
    let config = declared.fold(ParametersConfig::from_env()?, |config, (name, env)| {
        config.with_parameter(Parameter::ssm(*name, env))
    });
    Ok(Some(ParametersLayer::from_init(init, config).await?))
}

fn main() -> std::process::ExitCode {
    Bootstrap::new()
        .handler("orders", |init: InitContext| async move {
            // Both prefetches at once: their requests overlap.
            let (secrets, parameters) = tokio::try_join!(secrets(&init), parameters(&init))?;
            let batch = BatchConfig::from_env()?;
            Ok::<_, InitError>(stack::full_stack(
                secrets,
                parameters,
                stack::memory_idempotency(1024),
                batch,
            ))
        })
        .run()
}
