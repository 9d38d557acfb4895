//! Which lines are written: lambda_runtime's lines tern replaces, and the lines below the level
//! that a sampled or buffering invocation lets through.

use tracing::{Level, Metadata, Subscriber, level_filters::LevelFilter, subscriber::Interest};
use tracing_subscriber::{filter::FilterFn, layer::Context};

/// lambda_runtime's layer that decodes the event and builds the Runtime API request.
const API_RESPONSE_TARGET: &str = "lambda_runtime::layers::api_response";
/// lambda_runtime's layer that catches handler panics and logs handler errors.
const PANIC_TARGET: &str = "lambda_runtime::layers::panic";

/// Whether `meta` is one of lambda_runtime's lines that tern never writes:
///
/// - its TRACE line with the raw invocation body: it would put the event's content in the
///   logs, and lambda_runtime 1.5 converts the body to UTF-8 with `?` for it, so a body that
///   is not UTF-8 would end the run loop (and the process) at TRACE while it is answered with
///   `Runtime.UnmarshalError` at any other level;
/// - its ERROR lines, each the `Debug` text of something tern reports in words: every failed
///   invocation's `Diagnostic` (`Diagnostic { error_type: …, error_message: … }`; the
///   runtime's guard writes one structured line per failed invocation instead), and a panic
///   payload, an undecodable event or a request it could not build, which cannot happen
///   behind the guard (it catches panics first, and the event it hands lambda_runtime always
///   decodes).
///
/// Disabled here, those callsites are off for good: their arguments are never evaluated.
pub(super) fn is_replaced_lambda_runtime_line(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        return false;
    }
    match *meta.level() {
        Level::TRACE => meta.target() == API_RESPONSE_TARGET,
        Level::ERROR => meta.target() == PANIC_TARGET || meta.target() == API_RESPONSE_TARGET,
        _ => false,
    }
}

/// A global filter that turns off [`is_replaced_lambda_runtime_line`] and nothing else.
pub(super) fn lambda_runtime_lines() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    FilterFn::new(|meta| !is_replaced_lambda_runtime_line(meta))
}

/// The level filter when invocations may log below the level: callsites at the level are on;
/// those below it down to DEBUG are on inside an invocation that is sampled or buffering
/// (asked per line, of the invocation on the current task), and off elsewhere.
#[derive(Debug, Clone, Copy)]
pub(super) struct InvocationLevel {
    pub(super) level: LevelFilter,
}

/// The most detailed level a sampled or buffering invocation logs at.
pub(super) const BELOW_LEVEL_DOWN_TO: LevelFilter = LevelFilter::DEBUG;

impl InvocationLevel {
    fn at_level(&self, meta: &Metadata<'_>) -> bool {
        self.level >= *meta.level()
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for InvocationLevel {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.at_level(meta) {
            Interest::always()
        } else if BELOW_LEVEL_DOWN_TO >= *meta.level() {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.at_level(meta) || logs_below_level()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.level.max(BELOW_LEVEL_DOWN_TO))
    }
}

/// Whether the invocation on this task writes or keeps lines below the level.
fn logs_below_level() -> bool {
    crate::invocation::with_current(|current| current.log.sampled || current.log.buffer.is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn lambda_runtimes_raw_event_and_debug_error_lines_are_never_enabled() {
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::TRACE)
            .with(lambda_runtime_lines());
        tracing::subscriber::with_default(subscriber, || {
            use tracing::Level;
            assert!(
                !tracing::enabled!(target: "lambda_runtime::layers::api_response", Level::TRACE)
            );
            assert!(
                !tracing::enabled!(target: "lambda_runtime::layers::api_response", Level::ERROR)
            );
            assert!(!tracing::enabled!(target: "lambda_runtime::layers::panic", Level::ERROR));
            assert!(
                tracing::enabled!(target: "lambda_runtime::layers::api_response", Level::DEBUG)
            );
            assert!(tracing::enabled!(target: "lambda_runtime::layers::api_response", Level::WARN));
            assert!(tracing::enabled!(target: "lambda_runtime::layers::panic", Level::WARN));
            assert!(tracing::enabled!(target: "lambda_runtime::runtime", Level::TRACE));
            assert!(tracing::enabled!(target: "lambda_runtime::runtime", Level::ERROR));
            assert!(tracing::enabled!(target: "lambda_runtime::layers::api_client", Level::ERROR));
        });
    }

    #[test]
    fn below_the_level_only_inside_an_invocation_that_asks_for_it() {
        let subscriber = tracing_subscriber::registry().with(InvocationLevel {
            level: LevelFilter::INFO,
        });
        tracing::subscriber::with_default(subscriber, || {
            use tracing::Level;
            // Outside an invocation: the level alone.
            assert!(tracing::enabled!(Level::INFO));
            assert!(!tracing::enabled!(Level::DEBUG));
            assert!(!tracing::enabled!(Level::TRACE));
        });
        assert_eq!(
            tracing_subscriber::Layer::<tracing_subscriber::Registry>::max_level_hint(
                &InvocationLevel {
                    level: LevelFilter::WARN
                }
            ),
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(
            tracing_subscriber::Layer::<tracing_subscriber::Registry>::max_level_hint(
                &InvocationLevel {
                    level: LevelFilter::TRACE
                }
            ),
            Some(LevelFilter::TRACE)
        );
    }
}
