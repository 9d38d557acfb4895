//! The bare `lambda_runtime` function (current-thread runtime) that also fetches a secret
//! before serving, the hand-written way: load the SDK configuration, build a Secrets Manager
//! client, `GetSecretValue` the ARN in `BENCH_SECRET_ARN`. With the `BENCH_*_PARAMETER`
//! variables set, it first fetches those three SSM parameters the way a hand-written function
//! would: an SSM client and one `GetParameters` call for the three names, then the secret. The
//! reference for what prefetching through tern's secrets and parameters layers costs at init.
//! A binary of its own, so that the bare function itself carries no SDK code. (The SDK's HTTP
//! client is `tern_runtime::aws`'s, as in every tern build: the SDK crates here have no
//! default HTTPS client.)

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tern_bench::stack;

async fn handler(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    Ok(stack::bare_sqs(&event.payload))
}

async fn serve() -> Result<(), Error> {
    let secret_id = std::env::var(stack::SECRET_ENV)
        .map_err(|_| format!("{} names the secret to fetch", stack::SECRET_ENV))?;
    let config = tern_runtime::aws::config_loader().load().await;
    let names: Vec<String> = stack::PARAMETER_ENVS
        .iter()
        .filter_map(|env| std::env::var(env).ok())
        .collect();
    if !names.is_empty() {
        let parameters = aws_sdk_ssm::Client::new(&config)
            .get_parameters()
            .set_names(Some(names.clone()))
            .with_decryption(true)
            .send()
            .await?;
        if parameters.parameters().len() != names.len() {
            return Err(format!("SSM lacks some of {names:?}").into());
        }
        std::hint::black_box(parameters);
    }
    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await?
        .secret_string
        .ok_or("the secret has no string value")?;
    std::hint::black_box(secret);
    lambda_runtime::run(service_fn(handler)).await
}

fn main() -> Result<(), Error> {
    tern_bench::run_bare(serve())
}
