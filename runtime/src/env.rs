//! Configuration from environment variables: one reader for the runtime and every middleware.
//!
//! Every `XConfig::from_env()` of tern reads through [`Env`], so every variable follows the
//! same rules: surrounding whitespace is ignored and a blank value counts as unset; a value
//! that cannot be used is an [`InitError::InvalidEnv`] (`Runtime.InvalidEnvironmentVariable`)
//! and a required one that is unset is an [`InitError::MissingEnv`]
//! (`Runtime.MissingEnvironmentVariable`). The message names the variable, what is wrong with
//! the value, and what is accepted:
//!
//! ```text
//! environment variable `TERN_BATCH_CONCURRENCY` is invalid: `four` is not a whole number; use a whole number from 1 to 1000
//! ```
//!
//! [`names`] lists every `TERN_*` variable.
//!
//! ```
//! use std::time::Duration;
//! use tern_runtime::env::Env;
//!
//! let env = Env::from_vars([("TERN_BATCH_CONCURRENCY", " 4 "), ("TERN_BATCH_ALL_FAILED", "")]);
//! assert_eq!(env.integer("TERN_BATCH_CONCURRENCY", 1..=1000).unwrap(), Some(4));
//! assert_eq!(env.get("TERN_BATCH_ALL_FAILED"), None); // blank is unset
//! let bad = Env::from_vars([("TERN_SECRETS_TTL_SECONDS", "5m")]);
//! assert_eq!(
//!     bad.seconds("TERN_SECRETS_TTL_SECONDS", 1).unwrap_err().to_string(),
//!     "environment variable `TERN_SECRETS_TTL_SECONDS` is invalid: `5m` is not a whole number \
//!      of seconds; use a whole number of seconds from 1 to 18446744073709551615"
//! );
//! # let _ = Duration::ZERO;
//! ```

use std::{
    collections::HashMap, fmt, ops::RangeInclusive, str::FromStr, sync::Arc, time::Duration,
};

use crate::init::InitError;

pub mod names;

/// The longest part of a value quoted in an error message; longer values are cut with `…`.
const QUOTED_CHARS: usize = 40;

/// Defines a configuration type's `from_env` and `from_vars`, the one signature and error of
/// every tern configuration, over its `fn from(env: &Env) -> Result<Self, InitError>`. The
/// doc comments given document `from_env`.
#[doc(hidden)]
#[macro_export]
macro_rules! env_constructors {
    ($(#[doc = $doc:expr])*) => {
        $(#[doc = $doc])*
        pub fn from_env() -> ::core::result::Result<Self, $crate::InitError> {
            Self::from(&$crate::env::Env::process())
        }

        /// Like [`from_env`](Self::from_env), reading `vars` instead of the process
        /// environment.
        pub fn from_vars<I, K, V>(vars: I) -> ::core::result::Result<Self, $crate::InitError>
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<String>,
            V: Into<String>,
        {
            Self::from(&$crate::env::Env::from_vars(vars))
        }
    };
}

/// Where configuration is read: the process environment, or a fixed set of variables (tests,
/// embedding). Cheap to clone.
#[derive(Clone, Default)]
pub struct Env {
    fixed: Option<Arc<HashMap<String, String>>>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A fixed set may hold credentials (AWS_SESSION_TOKEN): show its size only.
        match &self.fixed {
            None => f.write_str("Env(process)"),
            Some(vars) => write!(f, "Env({} fixed variables)", vars.len()),
        }
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self::default()
    }

    /// A fixed set of variables instead of the process environment; a name given twice keeps
    /// its last value.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            fixed: Some(Arc::new(vars)),
        }
    }

    /// The variable's value without surrounding whitespace; unset, blank and non-Unicode
    /// values are `None`.
    pub fn get(&self, name: &str) -> Option<String> {
        let value = match &self.fixed {
            None => std::env::var(name).ok()?,
            Some(vars) => vars.get(name)?.clone(),
        };
        let trimmed = value.trim();
        if trimmed.len() == value.len() {
            (!value.is_empty()).then_some(value)
        } else {
            (!trimmed.is_empty()).then(|| trimmed.to_owned())
        }
    }

    /// The first of `names` that is set, and its value: for a variable with aliases, such as
    /// `TERN_METRICS_NAMESPACE` then `POWERTOOLS_METRICS_NAMESPACE`.
    pub fn first<'n>(&self, names: &[&'n str]) -> Option<(&'n str, String)> {
        names
            .iter()
            .find_map(|name| self.get(name).map(|value| (*name, value)))
    }

    /// A variable that must be set; `purpose` completes the sentence "it must hold …".
    pub fn required(&self, name: &str, purpose: &str) -> Result<String, InitError> {
        self.get(name).ok_or_else(|| InitError::MissingEnv {
            name: name.to_owned(),
            purpose: purpose.to_owned(),
        })
    }

    /// A whole number within `range`.
    pub fn integer<T>(&self, name: &str, range: RangeInclusive<T>) -> Result<Option<T>, InitError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        self.number(name, range, "")
    }

    /// A whole number of seconds, at least `min`.
    pub fn seconds(&self, name: &str, min: u64) -> Result<Option<Duration>, InitError> {
        Ok(self
            .number(name, min..=u64::MAX, " of seconds")?
            .map(Duration::from_secs))
    }

    /// A whole number of milliseconds within `range`.
    pub fn millis(
        &self,
        name: &str,
        range: RangeInclusive<u64>,
    ) -> Result<Option<Duration>, InitError> {
        Ok(self
            .number(name, range, " of milliseconds")?
            .map(Duration::from_millis))
    }

    /// A number from 0 to 1 (a share), e.g. `0.1`.
    pub fn fraction(&self, name: &str) -> Result<Option<f64>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        match value.parse::<f64>() {
            Ok(number) if (0.0..=1.0).contains(&number) => Ok(Some(number)),
            Ok(number) if number.is_finite() => Err(invalid(
                name,
                &value,
                "is out of range",
                "use a number from 0 to 1",
            )),
            _ => Err(invalid(
                name,
                &value,
                "is not a number",
                "use a number from 0 to 1, e.g. `0.1`",
            )),
        }
    }

    /// One of `choices` (`(text, value)`), matched without regard to case.
    pub fn choice<T: Copy>(
        &self,
        name: &str,
        choices: &[(&str, T)],
    ) -> Result<Option<T>, InitError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        choices
            .iter()
            .find(|(text, _)| text.eq_ignore_ascii_case(&value))
            .map(|(_, choice)| Some(*choice))
            .ok_or_else(|| {
                let accepted: Vec<String> = choices.iter().map(|(t, _)| format!("`{t}`")).collect();
                invalid(
                    name,
                    &value,
                    "is not one of the choices",
                    &format!("use {}", or_list(&accepted)),
                )
            })
    }

    /// `true` or `false` (any case).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, InitError> {
        self.choice(name, &[("true", true), ("false", false)])
    }

    fn number<T>(
        &self,
        name: &str,
        range: RangeInclusive<T>,
        unit: &str,
    ) -> Result<Option<T>, InitError>
    where
        T: FromStr + PartialOrd + fmt::Display,
    {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let accepted = format!(
            "use a whole number{unit} from {} to {}",
            range.start(),
            range.end()
        );
        match value.parse::<T>() {
            Ok(number) if range.contains(&number) => Ok(Some(number)),
            // A whole number too large (or negative) for `T` is out of range too.
            Ok(_) | Err(_) if value.parse::<i128>().is_ok() => {
                Err(invalid(name, &value, "is out of range", &accepted))
            }
            Ok(_) | Err(_) => Err(invalid(
                name,
                &value,
                &format!("is not a whole number{unit}"),
                &accepted,
            )),
        }
    }
}

/// The error for a value that cannot be used: `` `<value>` <problem>; <accepted> ``.
pub fn invalid(name: &str, value: &str, problem: &str, accepted: &str) -> InitError {
    InitError::InvalidEnv {
        name: name.to_owned(),
        reason: format!("`{}` {problem}; {accepted}", quoted(value)),
    }
}

/// `value`, cut to [`QUOTED_CHARS`] characters.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Scope {
        Key,
        Batch,
    }

    #[test]
    fn blank_is_unset_and_whitespace_is_ignored() {
        let env = Env::from_vars([("A", "  x "), ("B", " \t"), ("C", "y")]);
        assert_eq!(env.get("A").as_deref(), Some("x"));
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("UNSET"), None);
        assert_eq!(
            env.first(&["B", "UNSET", "C", "A"]),
            Some(("C", "y".to_owned()))
        );
        let missing = env.required("B", "the orders table").unwrap_err();
        assert_eq!(missing.error_type(), "Runtime.MissingEnvironmentVariable");
        assert_eq!(
            missing.to_string(),
            "environment variable `B` is not set; it must hold the orders table"
        );
    }

    #[test]
    fn every_problem_names_the_variable_the_value_and_what_is_accepted() {
        let env = Env::from_vars([
            ("N", "four"),
            ("BIG", "5000"),
            ("S", "-1"),
            ("PORT", "70000"),
            ("MS", "1s"),
            ("C", "shard"),
            ("F", "yes"),
            ("LONG", "x".repeat(100).as_str()),
        ]);
        let cases: Vec<(InitError, &str)> = vec![
            (
                env.integer::<u32>("N", 1..=1000).unwrap_err(),
                "environment variable `N` is invalid: `four` is not a whole number; use a whole \
                 number from 1 to 1000",
            ),
            (
                env.integer::<u32>("BIG", 1..=1000).unwrap_err(),
                "environment variable `BIG` is invalid: `5000` is out of range; use a whole \
                 number from 1 to 1000",
            ),
            (
                env.seconds("S", 0).unwrap_err(),
                "environment variable `S` is invalid: `-1` is out of range; use a whole number of \
                 seconds from 0 to 18446744073709551615",
            ),
            (
                env.integer::<u16>("PORT", 1..=u16::MAX).unwrap_err(),
                "environment variable `PORT` is invalid: `70000` is out of range; use a whole \
                 number from 1 to 65535",
            ),
            (
                env.millis("MS", 0..=60_000).unwrap_err(),
                "environment variable `MS` is invalid: `1s` is not a whole number of \
                 milliseconds; use a whole number of milliseconds from 0 to 60000",
            ),
            (
                env.choice("C", &[("key", Scope::Key), ("batch", Scope::Batch)])
                    .unwrap_err(),
                "environment variable `C` is invalid: `shard` is not one of the choices; use \
                 `key` or `batch`",
            ),
            (
                env.fraction("S").unwrap_err(),
                "environment variable `S` is invalid: `-1` is out of range; use a number from 0 \
                 to 1",
            ),
            (
                env.fraction("N").unwrap_err(),
                "environment variable `N` is invalid: `four` is not a number; use a number from \
                 0 to 1, e.g. `0.1`",
            ),
            (
                env.flag("F").unwrap_err(),
                "environment variable `F` is invalid: `yes` is not one of the choices; use \
                 `true` or `false`",
            ),
            (
                env.integer::<u8>("LONG", 0..=9).unwrap_err(),
                "environment variable `LONG` is invalid: `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…` \
                 is not a whole number; use a whole number from 0 to 9",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.error_type(), "Runtime.InvalidEnvironmentVariable");
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn good_values_parse() {
        let env = Env::from_vars([
            ("N", "7"),
            ("S", "30"),
            ("MS", "250"),
            ("C", "BATCH"),
            ("F", "True"),
        ]);
        assert_eq!(env.integer::<usize>("N", 1..=8).unwrap(), Some(7));
        assert_eq!(env.seconds("S", 1).unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(
            env.millis("MS", 0..=1000).unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            env.choice("C", &[("key", Scope::Key), ("batch", Scope::Batch)])
                .unwrap(),
            Some(Scope::Batch)
        );
        assert_eq!(env.flag("F").unwrap(), Some(true));
        let shares = Env::from_vars([("A", "0"), ("B", "0.25"), ("C", "1"), ("D", "1.0")]);
        for (name, share) in [("A", 0.0), ("B", 0.25), ("C", 1.0), ("D", 1.0)] {
            assert_eq!(shares.fraction(name).unwrap(), Some(share), "{name}");
        }
        assert_eq!(shares.fraction("UNSET").unwrap(), None);
        assert_eq!(env.flag("UNSET").unwrap(), None);
        assert_eq!(format!("{env:?}"), "Env(5 fixed variables)");
    }
}
