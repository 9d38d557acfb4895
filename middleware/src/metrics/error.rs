//! Metrics errors.

use lambda_runtime::Diagnostic;

/// Metric definitions per EMF document (CloudWatch's limit; a larger buffer is split).
pub const MAX_METRICS: usize = 100;
/// Values of one metric per EMF document.
pub const MAX_VALUES: usize = 100;
/// Custom dimensions allowed next to `service` (EMF allows 30 per dimension set).
pub const MAX_DIMENSIONS: usize = 29;
/// Longest metric or dimension name.
pub const MAX_NAME_LEN: usize = 255;

/// What went wrong when recording or configuring metrics. The
/// [`error_type`](Self::error_type) of each variant is `Metrics.<variant>`
/// (`Metrics.InvalidName`, …).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A metric or dimension name is empty or longer than CloudWatch accepts.
    #[error("invalid {what} name {name:?}: names must be 1 to {MAX_NAME_LEN} characters")]
    InvalidName {
        /// `metric` or `dimension`.
        what: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A metric value is NaN or infinite.
    #[error(
        "metric `{name}` got a non-finite value ({value}); CloudWatch accepts finite numbers only"
    )]
    NonFiniteValue {
        /// The metric.
        name: String,
        /// The rejected value.
        value: f64,
    },
    /// The same metric was recorded with two units or resolutions in one invocation.
    #[error(
        "metric `{name}` was recorded as {first} and then as {second}; use one unit and resolution per metric"
    )]
    ConflictingDefinition {
        /// The metric.
        name: String,
        /// The first unit/resolution.
        first: String,
        /// The conflicting one.
        second: String,
    },
    /// More custom dimensions than EMF allows next to `service`.
    #[error(
        "dimension `{name}` would be custom dimension number {count}; at most {MAX_DIMENSIONS} custom \
         dimensions fit next to `service` in one EMF dimension set"
    )]
    TooManyDimensions {
        /// The rejected dimension.
        name: String,
        /// How many custom dimensions there would have been.
        count: usize,
    },
}

impl MetricsError {
    crate::error_types! {
        "Metrics": InvalidName, NonFiniteValue, ConflictingDefinition, TooManyDimensions,
    }
}

impl From<MetricsError> for Diagnostic {
    fn from(error: MetricsError) -> Self {
        crate::diagnostic(error.error_type(), &error)
    }
}
