//! What the environment asks of logging: the line format, the level, and what invocations do
//! with the lines below it.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::{
    env::{Env, names},
    init::InitError,
    invocation::DEFAULT_LOG_BUFFER_BYTES,
};

/// Powertools' name for [`names::LOG_SAMPLE_RATE`], honoured as an alias.
const POWERTOOLS_SAMPLE_RATE: &str = "POWERTOOLS_LOGGER_SAMPLE_RATE";

/// The largest log buffer an invocation may keep.
const MAX_LOG_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (default).
    Json,
    /// Human-readable text, span fields in braces.
    Text,
}

/// Where the level filter came from; reported once logging is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelSource {
    /// `AWS_LAMBDA_LOG_LEVEL`.
    LambdaLogLevel,
    /// `RUST_LOG`.
    RustLog,
    /// Neither was set (or usable): `INFO`.
    Default,
}

/// Resolved logging settings.
#[derive(Debug)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
    /// Level directives in `EnvFilter` syntax.
    pub directives: String,
    /// Where `directives` came from.
    pub level_source: LevelSource,
    /// Problems with the environment that should be logged as warnings once logging works.
    pub warnings: Vec<String>,
    /// Sampling and buffering, or why their variables cannot be used (an init error).
    pub invocations: Result<InvocationLogSettings, InitError>,
}

/// What invocations do with their lines below the level; read by the subscriber
/// ([`init`](super::init)) and by the [`InvocationLayer`](crate::InvocationLayer) alike.
///
/// | setting | environment | default |
/// |---|---|---|
/// | share of invocations logged at DEBUG | `TERN_LOG_SAMPLE_RATE`, `POWERTOOLS_LOGGER_SAMPLE_RATE` (0 to 1) | 0 |
/// | keep lines below the level, written if the invocation fails or logs at ERROR | `TERN_LOG_BUFFER` (`true`/`false`) | `false` |
/// | the most bytes of lines kept per invocation | `TERN_LOG_BUFFER_MAX_BYTES` | 20480 |
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InvocationLogSettings {
    /// The share of invocations logged at DEBUG (0: none, 1: all).
    pub sample_rate: f64,
    /// The bound of each invocation's buffer; `None` when buffering is off.
    pub buffer_bytes: Option<usize>,
}

impl InvocationLogSettings {
    /// Reads the variables in the table above from the process environment.
    pub fn from_env() -> Result<Self, InitError> {
        Self::from(&Env::process())
    }

    pub(crate) fn from(env: &Env) -> Result<Self, InitError> {
        let sample_rate = match env.first(&[names::LOG_SAMPLE_RATE, POWERTOOLS_SAMPLE_RATE]) {
            Some((name, _)) => env.fraction(name)?.unwrap_or_default(),
            None => 0.0,
        };
        let max_bytes = env
            .integer(names::LOG_BUFFER_MAX_BYTES, 1..=MAX_LOG_BUFFER_BYTES)?
            .unwrap_or(DEFAULT_LOG_BUFFER_BYTES);
        let buffer_bytes = env
            .flag(names::LOG_BUFFER)?
            .unwrap_or(false)
            .then_some(max_bytes);
        Ok(Self {
            sample_rate,
            buffer_bytes,
        })
    }

    /// Whether any invocation may log below the level.
    pub fn below_level(&self) -> bool {
        self.sample_rate > 0.0 || self.buffer_bytes.is_some()
    }
}

impl LogSettings {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`, and the sampling
    /// and buffering variables ([`InvocationLogSettings`]).
    pub fn from_env() -> Self {
        Self::from(&Env::process())
    }

    /// The same resolution from a fixed set of variables (tests, embedding).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::from(&Env::from_vars(vars))
    }

    /// Lambda's own variables are read leniently: a value Lambda would not set is a warning,
    /// and the next source decides.
    fn from(env: &Env) -> Self {
        let mut warnings = Vec::new();
        let format = match env.get("AWS_LAMBDA_LOG_FORMAT") {
            None => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(other) => {
                warnings.push(format!(
                    "AWS_LAMBDA_LOG_FORMAT={other:?} is not JSON or Text; using JSON"
                ));
                LogFormat::Json
            }
        };
        let (directives, level_source) = level(env, &mut warnings);
        let invocations = InvocationLogSettings::from(env);
        let below_level = invocations
            .as_ref()
            .is_ok_and(InvocationLogSettings::below_level);
        if below_level && plain_level(&directives).is_none() {
            warnings.push(format!(
                "{} and {} need one level (AWS_LAMBDA_LOG_LEVEL, or RUST_LOG naming a single \
                 level); with the RUST_LOG directives {directives:?} no line below the level is \
                 sampled or buffered",
                names::LOG_SAMPLE_RATE,
                names::LOG_BUFFER
            ));
        }
        Self {
            format,
            directives,
            level_source,
            warnings,
            invocations,
        }
    }

    /// The level the directives name when they are one bare level name (`info`, `WARN`, …):
    /// no target, span or field filter.
    pub(super) fn plain_level(&self) -> Option<LevelFilter> {
        plain_level(&self.directives)
    }
}

/// The level directives and where they came from: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
/// else `info`.
fn level(env: &Env, warnings: &mut Vec<String>) -> (String, LevelSource) {
    if let Some(level) = env.get("AWS_LAMBDA_LOG_LEVEL") {
        match lambda_level_directive(&level) {
            Some(directive) => return (directive.to_owned(), LevelSource::LambdaLogLevel),
            None => warnings.push(format!(
                "AWS_LAMBDA_LOG_LEVEL={level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; ignoring it"
            )),
        }
    }
    if let Some(rust_log) = env.get("RUST_LOG") {
        if EnvFilter::try_new(&rust_log).is_ok() {
            return (rust_log, LevelSource::RustLog);
        }
        warnings.push(format!(
            "RUST_LOG={rust_log:?} is not a valid filter; using INFO"
        ));
    }
    ("info".to_owned(), LevelSource::Default)
}

fn lambda_level_directive(level: &str) -> Option<&'static str> {
    Some(match level.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        // tracing has no level above ERROR.
        "ERROR" | "FATAL" => "error",
        _ => return None,
    })
}

fn plain_level(directives: &str) -> Option<LevelFilter> {
    let directive = directives.trim();
    let named = ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .any(|name| directive.eq_ignore_ascii_case(name));
    if named { directive.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_resolution_order() {
        // (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, RUST_LOG) -> (format, directives, source, #warnings)
        let cases = [
            (
                None,
                None,
                None,
                LogFormat::Json,
                "info",
                LevelSource::Default,
                0,
            ),
            (
                Some("Text"),
                None,
                None,
                LogFormat::Text,
                "info",
                LevelSource::Default,
                0,
            ),
            (
                Some("json"),
                Some("DEBUG"),
                Some("trace"),
                LogFormat::Json,
                "debug",
                LevelSource::LambdaLogLevel,
                0,
            ),
            (
                None,
                Some("FATAL"),
                None,
                LogFormat::Json,
                "error",
                LevelSource::LambdaLogLevel,
                0,
            ),
            (
                None,
                None,
                Some("warn,tern=debug"),
                LogFormat::Json,
                "warn,tern=debug",
                LevelSource::RustLog,
                0,
            ),
            (
                None,
                Some("LOUD"),
                Some("warn"),
                LogFormat::Json,
                "warn",
                LevelSource::RustLog,
                1,
            ),
            (
                Some("xml"),
                None,
                Some("=[bad"),
                LogFormat::Json,
                "info",
                LevelSource::Default,
                2,
            ),
            // Blank is unset, surrounding whitespace is ignored.
            (
                Some(" "),
                Some(" warn "),
                None,
                LogFormat::Json,
                "warn",
                LevelSource::LambdaLogLevel,
                0,
            ),
        ];
        for (format, level, rust_log, want_format, want_directives, want_source, warnings) in cases
        {
            let vars = [
                ("AWS_LAMBDA_LOG_FORMAT", format),
                ("AWS_LAMBDA_LOG_LEVEL", level),
                ("RUST_LOG", rust_log),
            ];
            let s = LogSettings::from_vars(
                vars.into_iter()
                    .filter_map(|(name, value)| Some((name, value?))),
            );
            let case = format!("{format:?} {level:?} {rust_log:?}");
            assert_eq!(s.format, want_format, "{case}");
            assert_eq!(s.directives, want_directives, "{case}");
            assert_eq!(s.level_source, want_source, "{case}");
            assert_eq!(s.warnings.len(), warnings, "{case}: {:?}", s.warnings);
        }
    }

    #[test]
    fn a_bare_level_name_is_a_plain_level_filter_and_anything_else_an_env_filter() {
        let cases = [
            ("info", Some(LevelFilter::INFO)),
            (" WARN ", Some(LevelFilter::WARN)),
            ("error", Some(LevelFilter::ERROR)),
            ("Debug", Some(LevelFilter::DEBUG)),
            ("trace", Some(LevelFilter::TRACE)),
            ("off", Some(LevelFilter::OFF)),
            ("", None),
            ("3", None),
            ("info,aws_smithy_runtime=warn", None),
            ("tern_runtime=debug", None),
            ("tern_runtime", None),
            ("[batch_record]=debug", None),
            ("[{record_id}]", None),
        ];
        for (directives, expected) in cases {
            assert_eq!(plain_level(directives), expected, "{directives:?}");
        }
        // Every level Lambda's setting can name resolves to a plain level.
        for level in [
            "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL",
        ] {
            let settings = LogSettings::from_vars([("AWS_LAMBDA_LOG_LEVEL", level)]);
            assert!(settings.plain_level().is_some(), "{level}");
        }
    }
}
