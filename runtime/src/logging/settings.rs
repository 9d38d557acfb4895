//! What the environment asks of logging: the line format and the level.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

use crate::env::Env;

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
}

impl LogSettings {
    /// Reads `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`.
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
        let settings = |directives: &str, level_source, warnings| Self {
            format,
            directives: directives.to_owned(),
            level_source,
            warnings,
        };
        if let Some(level) = env.get("AWS_LAMBDA_LOG_LEVEL") {
            match lambda_level_directive(&level) {
                Some(directive) => {
                    return settings(directive, LevelSource::LambdaLogLevel, warnings);
                }
                None => warnings.push(format!(
                    "AWS_LAMBDA_LOG_LEVEL={level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; ignoring it"
                )),
            }
        }
        if let Some(rust_log) = env.get("RUST_LOG") {
            if EnvFilter::try_new(&rust_log).is_ok() {
                return settings(&rust_log, LevelSource::RustLog, warnings);
            }
            warnings.push(format!(
                "RUST_LOG={rust_log:?} is not a valid filter; using INFO"
            ));
        }
        settings("info", LevelSource::Default, warnings)
    }

    /// The level the directives name when they are one bare level name (`info`, `WARN`, …):
    /// no target, span or field filter.
    pub(super) fn plain_level(&self) -> Option<LevelFilter> {
        plain_level(&self.directives)
    }
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
