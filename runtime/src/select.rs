//! Which registered handler this process runs.

use std::fmt;

use crate::init::InitError;

/// Where the handler name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerSource {
    /// The first command-line argument (a container image's `CMD`).
    Argument,
    /// The `_HANDLER` environment variable (the `Handler` of a zip or layer function).
    HandlerEnv,
    /// Nothing named a handler and exactly one is registered.
    OnlyRegistered,
}

impl fmt::Display for HandlerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Argument => "the first command-line argument",
            Self::HandlerEnv => "_HANDLER",
            Self::OnlyRegistered => "the only registered handler",
        })
    }
}

/// The outcome of handler selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedHandler {
    /// The registered name that will run.
    pub name: String,
    /// Where the name came from.
    pub source: HandlerSource,
}

/// Picks the handler: argv[1], else `_HANDLER`, else the single registered handler.
/// Blank values count as absent, so an empty `CMD` argument does not shadow `_HANDLER`.
pub(crate) fn select_handler(
    registered: &[&str],
    argument: Option<&str>,
    handler_env: Option<&str>,
) -> Result<SelectedHandler, InitError> {
    let requested = present(argument)
        .map(|name| (name, HandlerSource::Argument))
        .or_else(|| present(handler_env).map(|name| (name, HandlerSource::HandlerEnv)));

    match requested {
        Some((name, source)) if registered.contains(&name) => Ok(SelectedHandler {
            name: name.to_owned(),
            source,
        }),
        Some((name, source)) => Err(InitError::UnknownHandler {
            requested: name.to_owned(),
            origin: source,
            registered: list(registered),
        }),
        None => match registered {
            [] => Err(InitError::NoHandlers),
            [only] => Ok(SelectedHandler {
                name: (*only).to_owned(),
                source: HandlerSource::OnlyRegistered,
            }),
            _ => Err(InitError::NoHandlerSelected {
                registered: list(registered),
            }),
        },
    }
}

fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn list(registered: &[&str]) -> String {
    if registered.is_empty() {
        "(none)".to_owned()
    } else {
        registered.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_rules() {
        use HandlerSource::*;
        let many = ["echo", "s3", "sqs"];
        // (registered, argv[1], _HANDLER, expected name and source, or expected errorType)
        type Case<'a> = (
            &'a [&'a str],
            Option<&'a str>,
            Option<&'a str>,
            Result<(&'a str, HandlerSource), &'a str>,
        );
        let cases: Vec<Case> = vec![
            (&many, Some("s3"), Some("sqs"), Ok(("s3", Argument))),
            (&many, None, Some("sqs"), Ok(("sqs", HandlerEnv))),
            (&many, Some("  "), Some("sqs"), Ok(("sqs", HandlerEnv))),
            (&many, Some(""), Some(""), Err("Runtime.NoHandlerSelected")),
            (&many, None, None, Err("Runtime.NoHandlerSelected")),
            (&["echo"], None, None, Ok(("echo", OnlyRegistered))),
            (&["echo"], None, Some("nope"), Err("Runtime.UnknownHandler")),
            (
                &many,
                Some("nope"),
                Some("sqs"),
                Err("Runtime.UnknownHandler"),
            ),
            (&[], None, None, Err("Runtime.NoHandlers")),
        ];
        for (registered, arg, env, expected) in cases {
            let got = select_handler(registered, arg, env);
            match (got, expected) {
                (Ok(sel), Ok((name, source))) => {
                    assert_eq!(
                        (sel.name.as_str(), sel.source),
                        (name, source),
                        "{arg:?} {env:?}"
                    )
                }
                (Err(err), Err(error_type)) => {
                    assert_eq!(err.error_type(), error_type, "{arg:?} {env:?}")
                }
                (got, expected) => panic!("{arg:?} {env:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn unknown_handler_lists_registered_names() {
        let err = select_handler(&["echo", "sqs"], Some("kinesis"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown handler `kinesis` (from the first command-line argument); registered handlers: \
             echo, sqs. Set the function's Handler (zip or layer) or the image CMD to one of them"
        );
    }
}
