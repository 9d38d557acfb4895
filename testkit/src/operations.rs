//! Counting AWS requests on the wire: an SDK interceptor that records each request's operation.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::{
    config::{
        ConfigBag, Intercept, RuntimeComponents, interceptors::BeforeTransmitInterceptorContextRef,
    },
    error::BoxError,
};

/// Records the operation of every request an SDK client puts on the wire (each attempt, retries
/// included), from the JSON protocols' `X-Amz-Target` header (`DynamoDB_20120810.PutItem` →
/// `PutItem`). Works for any client whose config builder takes `.interceptor(..)`.
///
/// ```no_run
/// # async fn example(sdk: &aws_config::SdkConfig) {
/// let calls = tern_testkit::OperationLog::default();
/// let client = aws_sdk_dynamodb::Client::from_conf(
///     aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(calls.clone()).build(),
/// );
/// // … use the client …
/// assert_eq!(calls.take(), ["PutItem"]);
/// # let _ = client;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct OperationLog(Arc<Mutex<Vec<String>>>);

impl OperationLog {
    /// The operations recorded since the last call, in order; clears the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// How many requests of `operation` were recorded (and not yet taken).
    pub fn count(&self, operation: &str) -> usize {
        let log = self.0.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().filter(|op| *op == operation).count()
    }
}

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "tern-testkit OperationLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(operation);
        Ok(())
    }
}
