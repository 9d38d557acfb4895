//! `tern-middleware`: tower layers for AWS Lambda handlers.
//!
//! Each middleware lives in its own module with its `XLayer`, `XService`, a config builder
//! (`with_*`, `from_env`) and an error type, and composes with `tower::ServiceBuilder` in the
//! order described in the project's ARCHITECTURE.md (outermost first: logging/metrics →
//! secrets → idempotency → batch → per-record handler).
//!
//! Modules: [`secrets`], `parameters` (the `parameters` feature), [`idempotency`], [`batch`],
//! [`metrics`] and [`http`].
#![warn(missing_docs)]

#[cfg(feature = "batch")]
pub mod batch;
#[cfg(any(feature = "secrets", feature = "parameters"))]
mod cache;
#[cfg(any(feature = "http", feature = "idempotency"))]
pub mod future;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "idempotency")]
pub mod idempotency;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "parameters")]
pub mod parameters;
#[cfg(feature = "secrets")]
pub mod secrets;

/// Builder setters of a config: `with_x(arg: T) => field = value;` is
/// `pub fn with_x(mut self, arg: T) -> Self`, which stores `value` in `field` (a field path such
/// as `settings.ttl` too) and returns the config. The docs and attributes written before each
/// row are the setter's.
#[allow(
    unused_macros,
    reason = "used by whichever middleware the features enable"
)]
macro_rules! setters {
    ($(
        $(#[$attr:meta])*
        $setter:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )+) => {
        $(
            $(#[$attr])*
            pub fn $setter(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $value;
                self
            }
        )+
    };
}

#[allow(
    unused_imports,
    reason = "used by whichever middleware the features enable"
)]
pub(crate) use setters;

/// The `error_type` method of a middleware's error enum: each variant's `errorType` is
/// `Prefix.Variant`, or the one given after `=>`. A variant left out does not compile.
#[allow(
    unused_macros,
    reason = "used by whichever middleware the features enable"
)]
macro_rules! error_types {
    ($prefix:literal: $($variant:ident $(=> $error_type:literal)?),+ $(,)?) => {
        /// The stable `errorType` reported to Lambda; alarm on these.
        pub fn error_type(&self) -> &'static str {
            match self {
                $(Self::$variant { .. } => {
                    crate::error_types!(@one $prefix $variant $($error_type)?)
                })+
            }
        }
    };
    (@one $prefix:literal $variant:ident) => {
        concat!($prefix, ".", stringify!($variant))
    };
    (@one $prefix:literal $variant:ident $error_type:literal) => {
        $error_type
    };
}

#[allow(
    unused_imports,
    reason = "used by whichever middleware the features enable"
)]
pub(crate) use error_types;

/// The [`Diagnostic`](lambda_runtime::Diagnostic) of a middleware error: its stable
/// `errorType` and its message.
#[allow(dead_code, reason = "used by whichever middleware the features enable")]
pub(crate) fn diagnostic(
    error_type: &str,
    error: &dyn std::fmt::Display,
) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error_type.to_owned(),
        error_message: error.to_string(),
    }
}

/// Adds `value` to a built-in metric (`RecordsProcessed`, `IdempotencyHit`, …) of the current
/// invocation: a no-op without a metrics layer, or without the `metrics` feature.
#[allow(dead_code, reason = "used by whichever middleware the features enable")]
pub(crate) fn builtin_metric(name: &str, value: f64) {
    #[cfg(feature = "metrics")]
    let _ = metrics::Metrics::current().add(name, metrics::Unit::Count, value);
    #[cfg(not(feature = "metrics"))]
    let _ = (name, value);
}
