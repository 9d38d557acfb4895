//! AWS SDK failures as an error code and a message people can act on.

use std::{
    any::Any,
    borrow::Cow,
    error::Error,
    fmt::{self, Debug},
};

use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

use super::{
    cause::{Transport, chain, no_answer, plain_chain, unreadable},
    deadline::DeadlineExceeded,
};

/// The code of a call cut off at the invocation's deadline.
const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";

/// The [`DeadlineExceeded`] in `error`'s chain, if the call was cut off at the deadline.
fn deadline_in<'e>(error: &'e (dyn Error + 'static)) -> Option<&'e DeadlineExceeded> {
    chain(error).find_map(|cause| cause.downcast_ref::<DeadlineExceeded>())
}

/// A failed AWS SDK call as an error code and a plain message, never the SDK's `Debug` text.
///
/// | What happened | [`code`](Self::code) | [`message`](Self::message) |
/// |---|---|---|
/// | The service answered with an error | its AWS error code (`Unknown` when it sent none) | its message, or what was wrong with the answer |
/// | No answer: the connection failed or broke | `DispatchFailure` | the cause, naming the endpoint |
/// | No answer within a timeout (connect, read, the SDK's operation timeout) | `Timeout` | which timeout, naming the endpoint when known |
/// | No (whole) answer before the invocation's deadline, less the margin kept to answer ([`DeadlineExceeded`](super::DeadlineExceeded)) | `DeadlineExceeded` | naming the endpoint |
/// | An answer that cannot be read (cut off, or not the operation's output) | `ResponseError` (`Unknown` when the SDK reports a success status it cannot parse as a service error) | its HTTP status and why |
/// | A request that could not be built | `ConstructionFailure` | why |
///
/// Transport failures read like `could not connect to https://dynamodb.eu-west-1.amazonaws.com:
/// connection refused` or `the connection to https://sqs.eu-west-1.amazonaws.com was reset
/// before an answer came`. The endpoint is named as `scheme://host[:port]`, never with its
/// path, query or credentials; clients built from [`config_loader`](super::config_loader) (and
/// so `InitContext::aws_config`) know it, others read "the endpoint". A response body is
/// never quoted: for `GetSecretValue` it is the secret.
///
/// Callers add the operation and the resource:
///
/// ```no_run
/// use aws_sdk_dynamodb::types::AttributeValue;
/// use tern_runtime::aws::SdkFailure;
///
/// async fn store(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
///     client
///         .put_item()
///         .table_name(table)
///         .item("id", AttributeValue::S("o-1".into()))
///         .send()
///         .await
///         .map_err(|error| format!("PutItem {table} failed: {}", SdkFailure::from_sdk_error(&error)))?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkFailure {
    code: Cow<'static, str>,
    message: String,
}

impl SdkFailure {
    /// The code and message of `error`.
    pub fn from_sdk_error<E, R>(error: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + Error + 'static,
        R: Debug + 'static,
    {
        let status = |raw: &R| {
            (raw as &dyn Any)
                .downcast_ref::<HttpResponse>()
                .map(|response| response.status().as_u16())
        };
        let (code, message): (Cow<'static, str>, String) = match error {
            SdkError::ServiceError(service) => answered(service.err(), status(service.raw())),
            SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
                Some(connector) if let Some(exceeded) = deadline_in(connector) => (
                    Cow::Borrowed(DEADLINE_EXCEEDED),
                    format!(
                        "no answer from {} {}",
                        Transport::origin(connector).unwrap_or("the endpoint"),
                        exceeded.before_the_deadline()
                    ),
                ),
                Some(connector) => (
                    Cow::Borrowed(if connector.is_timeout() {
                        "Timeout"
                    } else {
                        "DispatchFailure"
                    }),
                    no_answer(connector),
                ),
                None => (
                    Cow::Borrowed("DispatchFailure"),
                    "the request was not sent".to_owned(),
                ),
            },
            SdkError::TimeoutError(_) => (
                Cow::Borrowed("Timeout"),
                "no answer before the SDK client's operation timeout (or attempt timeout) expired"
                    .to_owned(),
            ),
            SdkError::ResponseError(response) => match error.source().and_then(deadline_in) {
                Some(exceeded) => (
                    Cow::Borrowed(DEADLINE_EXCEEDED),
                    match status(response.raw()) {
                        Some(status) => format!(
                            "the answer (HTTP {status}) did not arrive whole {}",
                            exceeded.before_the_deadline()
                        ),
                        None => format!(
                            "the answer did not arrive whole {}",
                            exceeded.before_the_deadline()
                        ),
                    },
                ),
                None => (
                    Cow::Borrowed("ResponseError"),
                    unreadable(status(response.raw()), error.source()),
                ),
            },
            SdkError::ConstructionFailure(_) => (
                Cow::Borrowed("ConstructionFailure"),
                match plain_chain(error.source()) {
                    Some(why) => format!("the request could not be built: {why}"),
                    None => "the request could not be built".to_owned(),
                },
            ),
            // `SdkError` is non-exhaustive.
            _ => (
                Cow::Borrowed("SdkError"),
                plain_chain(Some(error)).unwrap_or_default(),
            ),
        };
        Self { code, message }
    }

    /// The AWS error code (`ThrottlingException`), or the kind of failure when no answer came
    /// (`DispatchFailure`, `Timeout`, `DeadlineExceeded`, `ResponseError`,
    /// `ConstructionFailure`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What happened, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The code and the message, by value.
    pub fn into_parts(self) -> (Cow<'static, str>, String) {
        (self.code, self.message)
    }

    /// The [`Diagnostic`] a handler returns when this call failed: `error_type` as its
    /// `errorType`, and `{call} failed: {self}` as its message, where `call` names the
    /// operation and the resource (never event content that must not be logged).
    ///
    /// ```
    /// use aws_sdk_dynamodb::operation::put_item::PutItemError;
    /// use aws_smithy_runtime_api::client::{orchestrator::HttpResponse, result::SdkError};
    /// use tern_runtime::aws::SdkFailure;
    ///
    /// let (order, table) = ("o-1", "orders");
    /// let error: SdkError<PutItemError, HttpResponse> = SdkError::timeout_error("slow");
    /// let diagnostic = SdkFailure::from_sdk_error(&error).diagnostic(
    ///     "Orders.StoreFailed",
    ///     format_args!("PutItem of order {order} in table {table}"),
    /// );
    /// assert_eq!(diagnostic.error_type, "Orders.StoreFailed");
    /// assert_eq!(
    ///     diagnostic.error_message,
    ///     "PutItem of order o-1 in table orders failed: Timeout: no answer before the SDK \
    ///      client's operation timeout (or attempt timeout) expired"
    /// );
    /// ```
    pub fn diagnostic(&self, error_type: impl Into<String>, call: impl fmt::Display) -> Diagnostic {
        Diagnostic {
            error_type: error_type.into(),
            error_message: format!("{call} failed: {self}"),
        }
    }
}

/// `code: message`.
impl fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The code and message of an error answer, which has a status when the raw response is the
/// SDK's `HttpResponse`.
fn answered(meta: &impl ProvideErrorMetadata, status: Option<u16>) -> (Cow<'static, str>, String) {
    let code = |code: &str| Cow::Owned(code.to_owned());
    match (meta.code(), meta.message(), status) {
        (Some(aws), Some(message), _) => (code(aws), message.to_owned()),
        (Some(aws), None, Some(status)) => (code(aws), format!("no message (HTTP {status})")),
        (Some(aws), None, None) => (code(aws), "no message".to_owned()),
        (None, Some(message), _) => (Cow::Borrowed("Unknown"), message.to_owned()),
        // A success status whose body is not the operation's output: the SDK reports it as an
        // unhandled service error, whose code has always been `Unknown` here.
        (None, None, Some(status @ 200..=299)) => {
            (Cow::Borrowed("Unknown"), unreadable(Some(status), None))
        }
        (None, None, Some(status)) => (
            Cow::Borrowed("Unknown"),
            format!("the answer (HTTP {status}) carries no AWS error code or message"),
        ),
        (None, None, None) => (
            Cow::Borrowed("Unknown"),
            "the answer carries no AWS error code or message".to_owned(),
        ),
    }
}

#[cfg(test)]
#[path = "failure_tests.rs"]
mod tests;
