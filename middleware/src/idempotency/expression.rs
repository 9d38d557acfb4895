//! Key expressions: where in an event its idempotency key is, as a JSON Pointer (RFC 6901) or,
//! with the `jmespath` feature, a JMESPath expression (what Powertools' `event_key_jmespath`
//! takes).
//!
//! JMESPath comes from the [`jmespath`](https://docs.rs/jmespath) crate, the JMESPath project's
//! own Rust implementation (MIT; 0.5 is edition 2024 and depends on serde and serde_json only,
//! where `jmespath_community` pulls in regex and a parser generator and switches on
//! serde_json's `preserve_order` for the whole build, and `jmespatch` is a 2020 fork). It sits
//! behind a cargo feature so that a function keyed by closures or pointers does not compile it.

use std::{fmt, sync::Arc};

use serde::Serialize;
use serde_json::Value;

/// Where the key is in an event (as it serializes to JSON).
///
/// - A **JSON Pointer** (RFC 6901) starts with `/`: `/body/order_id`,
///   `/Records/0/messageId`. Each `/` steps into an object member or an array index; `~1`
///   stands for a `/` and `~0` for a `~` inside a member name (`/headers/x~1request~1id`
///   is the member `x/request/id`). The empty pointer is the whole event.
/// - A **JMESPath** expression (the `jmespath` feature), as in Powertools:
///   `body.order_id`, `Records[0].messageId`, `[user, order.id]`,
///   `powertools_json(body).order_id` (`powertools_json` parses a string holding JSON and
///   `powertools_base64` decodes one holding base64 text, as Powertools' functions of those
///   names do).
///
/// [`parse`](Self::parse) tells the two apart by the leading `/` (a JMESPath expression
/// never starts with one).
#[derive(Clone)]
pub struct KeyExpression {
    text: Arc<str>,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Pointer,
    #[cfg(feature = "jmespath")]
    JmesPath(Arc<jmespath::Expression<'static>>),
}

/// A key expression that does not parse: the expression, what it was read as, and what is
/// wrong. Its message never holds event content (there is none at init).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}` is not a valid {syntax}: {problem}")]
pub struct ExpressionError {
    /// The expression as given.
    pub expression: String,
    /// `JSON Pointer` or `JMESPath expression`.
    pub syntax: &'static str,
    /// What is wrong, and where.
    pub problem: String,
}

impl ExpressionError {
    /// What a valid expression of this kind looks like, for the end of a message.
    pub fn hint(&self) -> &'static str {
        match self.syntax {
            POINTER => "write a JSON Pointer such as `/body/order_id` (`~0` for `~`, `~1` for `/`)",
            _ => "write a JMESPath expression such as `body.order_id` (see jmespath.org)",
        }
    }

    fn new(expression: &str, syntax: &'static str, problem: impl Into<String>) -> Self {
        Self {
            expression: expression.to_owned(),
            syntax,
            problem: problem.into(),
        }
    }
}

impl From<ExpressionError> for tern_runtime::InitError {
    fn from(error: ExpressionError) -> Self {
        let message = format!("{error}; {}", error.hint());
        tern_runtime::InitError::failed("Idempotency.InvalidKeyExpression", message)
    }
}

const POINTER: &str = "JSON Pointer";
#[cfg(feature = "jmespath")]
const JMESPATH: &str = "JMESPath expression";

impl KeyExpression {
    /// A JSON Pointer (starts with `/`) or, with the `jmespath` feature, a JMESPath
    /// expression (anything else).
    pub fn parse(text: &str) -> Result<Self, ExpressionError> {
        if text.is_empty() || text.starts_with('/') {
            return Self::pointer(text);
        }
        #[cfg(feature = "jmespath")]
        return Self::jmespath(text);
        #[cfg(not(feature = "jmespath"))]
        Err(ExpressionError::new(
            text,
            POINTER,
            "it does not start with `/` (JMESPath expressions need the `jmespath` feature of \
             tern-middleware)",
        ))
    }

    /// A JSON Pointer (RFC 6901): empty (the whole event) or `/`-separated reference tokens,
    /// in which `~` is followed by `0` or `1`.
    pub fn pointer(text: &str) -> Result<Self, ExpressionError> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(ExpressionError::new(
                text,
                POINTER,
                "it does not start with `/`",
            ));
        }
        let bytes = text.as_bytes();
        if let Some(at) = (0..bytes.len())
            .find(|&i| bytes[i] == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')))
        {
            return Err(ExpressionError::new(
                text,
                POINTER,
                format!("the `~` at byte {at} is not followed by `0` or `1`"),
            ));
        }
        Ok(Self {
            text: Arc::from(text),
            kind: Kind::Pointer,
        })
    }

    /// A JMESPath expression (the `jmespath` feature). Functions are JMESPath's built-in ones,
    /// `powertools_json` and `powertools_base64`; naming any other is an error here, not at the
    /// first event.
    #[cfg(feature = "jmespath")]
    pub fn jmespath(text: &str) -> Result<Self, ExpressionError> {
        let compiled = jmes::RUNTIME
            .compile(text)
            .map_err(|error| ExpressionError::new(text, JMESPATH, jmes::problem(&error)))?;
        if let Some(name) = jmes::unknown_function(compiled.as_ast()) {
            return Err(ExpressionError::new(
                text,
                JMESPATH,
                format!("there is no function `{name}`"),
            ));
        }
        Ok(Self {
            text: Arc::from(text),
            kind: Kind::JmesPath(Arc::new(compiled)),
        })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `JSON Pointer `/a/b`` or `JMESPath `a.b``, for messages.
    pub fn description(&self) -> String {
        let syntax = match self.kind {
            Kind::Pointer => "JSON Pointer",
            #[cfg(feature = "jmespath")]
            Kind::JmesPath(_) => "JMESPath",
        };
        format!("{syntax} `{}`", self.text)
    }

    /// The value this expression selects in `event` serialized, `Value::Null` when it leads
    /// nowhere. Fails when the event does not serialize, or a JMESPath function is given an
    /// argument of the wrong type (the message names the expression and the types, never a
    /// value).
    pub fn select<T: Serialize + ?Sized>(&self, event: &T) -> Result<Value, serde_json::Error> {
        match &self.kind {
            Kind::Pointer => {
                let mut event = serde_json::to_value(event)?;
                Ok(event
                    .pointer_mut(&self.text)
                    .map(Value::take)
                    .unwrap_or(Value::Null))
            }
            #[cfg(feature = "jmespath")]
            Kind::JmesPath(expression) => jmes::search(expression, event),
        }
    }
}

impl fmt::Display for KeyExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for KeyExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

impl PartialEq for KeyExpression {
    fn eq(&self, other: &Self) -> bool {
        self.description() == other.description()
    }
}

#[cfg(feature = "jmespath")]
mod jmes {
    use std::sync::LazyLock;

    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use jmespath::{
        Context, ErrorReason, JmespathError, Rcvar, Runtime, Variable,
        ast::{Ast, KeyValuePair},
        functions::{ArgumentType, CustomFunction, Signature},
    };
    use serde::{Serialize, ser::Error as _};
    use serde_json::Value;

    /// JMESPath's built-in functions and Powertools' `powertools_json` (a string holding
    /// JSON, parsed) and `powertools_base64` (a string holding base64, decoded to text).
    pub(super) static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
        let mut runtime = Runtime::new();
        runtime.register_builtin_functions();
        register_string_function(&mut runtime, "powertools_json", "JSON", |text| {
            Variable::from_json(text).ok()
        });
        register_string_function(
            &mut runtime,
            "powertools_base64",
            "base64 of UTF-8 text",
            |text| {
                let bytes = STANDARD.decode(text).ok()?;
                String::from_utf8(bytes).ok().map(Variable::String)
            },
        );
        runtime
    });

    /// Registers `name`, a function of one string that `convert` turns into a value; a string
    /// it refuses fails the search with a message naming the function and `expected`, never
    /// the string.
    fn register_string_function(
        runtime: &mut Runtime,
        name: &'static str,
        expected: &'static str,
        convert: fn(&str) -> Option<Variable>,
    ) {
        let function = move |args: &[Rcvar], context: &mut Context<'_>| {
            let text = args[0].as_string().map_or("", String::as_str);
            convert(text).map(Rcvar::new).ok_or_else(|| {
                let reason = format!("{name} was given a string that is not {expected}");
                JmespathError::from_ctx(context, ErrorReason::Parse(reason))
            })
        };
        let signature = Signature::new(vec![ArgumentType::String], None);
        runtime.register_function(
            name,
            Box::new(CustomFunction::new(signature, Box::new(function))),
        );
    }

    /// The reason of `error` and where, without the parser's Debug rendering of the token it
    /// found or the multi-line caret drawing of `JmespathError`'s Display.
    pub(super) fn problem(error: &JmespathError) -> String {
        let reason = match &error.reason {
            ErrorReason::Parse(text) => text.split(" -- found ").next().unwrap_or(text).to_owned(),
            ErrorReason::Runtime(runtime) => runtime.to_string(),
        };
        format!("{reason} (at character {})", error.offset)
    }

    /// The first function `ast` calls that the runtime does not know.
    pub(super) fn unknown_function(ast: &Ast) -> Option<String> {
        let children: Vec<&Ast> = match ast {
            Ast::Function { name, args, .. } => {
                if RUNTIME.get_function(name).is_none() {
                    return Some(name.clone());
                }
                args.iter().collect()
            }
            Ast::Comparison { lhs, rhs, .. }
            | Ast::And { lhs, rhs, .. }
            | Ast::Or { lhs, rhs, .. }
            | Ast::Projection { lhs, rhs, .. }
            | Ast::Subexpr { lhs, rhs, .. } => vec![lhs, rhs],
            Ast::Condition {
                predicate, then, ..
            } => vec![predicate, then],
            Ast::Expref { ast: node, .. }
            | Ast::Flatten { node, .. }
            | Ast::Not { node, .. }
            | Ast::ObjectValues { node, .. } => vec![node],
            Ast::MultiList { elements, .. } => elements.iter().collect(),
            Ast::MultiHash { elements, .. } => elements
                .iter()
                .map(|KeyValuePair { value, .. }| value)
                .collect(),
            Ast::Identity { .. }
            | Ast::Field { .. }
            | Ast::Index { .. }
            | Ast::Literal { .. }
            | Ast::Slice { .. } => Vec::new(),
        };
        children.into_iter().find_map(unknown_function)
    }

    /// Searches `event` (serialized straight into JMESPath's value type).
    pub(super) fn search<T: Serialize + ?Sized>(
        expression: &jmespath::Expression<'static>,
        event: &T,
    ) -> Result<Value, serde_json::Error> {
        let failed = |error: JmespathError| {
            serde_json::Error::custom(format!(
                "JMESPath `{}` failed: {}",
                expression.as_str(),
                problem(&error)
            ))
        };
        let found = expression.search(event).map_err(failed)?;
        serde_json::to_value(&*found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> Value {
        json!({
            "Records": [{"messageId": "m-1"}, {"messageId": "m-2"}],
            "body": {"order_id": 42, "a/b": {"m~n": "escaped"}, "none": null, "": "empty"},
            "matrix": [[0, 1], [2, 3]],
            "rows": [{"cells": [{"v": "x"}, {"v": "y"}]}],
        })
    }

    /// Found, missing, null, nested arrays and RFC 6901 escaping.
    #[test]
    fn pointer_selection() {
        let cases = [
            ("/Records/1/messageId", json!("m-2")),
            ("/Records/0", json!({"messageId": "m-1"})),
            ("/body/order_id", json!(42)),
            ("/body/a~1b/m~0n", json!("escaped")),
            ("/body/", json!("empty")),
            ("/matrix/1/0", json!(2)),
            ("/rows/0/cells/1/v", json!("y")),
            ("/body/none", Value::Null),
            ("/Records/2/messageId", Value::Null),
            ("/Records/01", Value::Null),
            ("/Records/-", Value::Null),
            ("/body/order_id/deeper", Value::Null),
            ("/body/a/b", Value::Null),
            ("/missing", Value::Null),
            ("", event()),
        ];
        for (pointer, expected) in cases {
            for parsed in [
                KeyExpression::pointer(pointer).unwrap(),
                KeyExpression::parse(pointer).unwrap(),
            ] {
                assert_eq!(parsed.select(&event()).unwrap(), expected, "{pointer}");
                assert_eq!(parsed.to_string(), pointer);
                assert_eq!(parsed.description(), format!("JSON Pointer `{pointer}`"));
            }
        }
    }

    #[test]
    fn invalid_pointers_are_named_with_the_problem() {
        let cases = [
            ("body/order_id", "it does not start with `/`"),
            ("/a~2b", "the `~` at byte 2 is not followed by `0` or `1`"),
            ("/a/b~", "the `~` at byte 4 is not followed by `0` or `1`"),
        ];
        for (pointer, problem) in cases {
            let error = KeyExpression::pointer(pointer).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{pointer}` is not a valid JSON Pointer: {problem}"),
            );
        }
        let init = tern_runtime::InitError::from(KeyExpression::pointer("/~").unwrap_err());
        assert_eq!(init.error_type(), "Idempotency.InvalidKeyExpression");
        assert_eq!(
            init.to_string(),
            "`/~` is not a valid JSON Pointer: the `~` at byte 1 is not followed by `0` or `1`; \
             write a JSON Pointer such as `/body/order_id` (`~0` for `~`, `~1` for `/`)"
        );
    }

    #[cfg(not(feature = "jmespath"))]
    #[test]
    fn without_the_feature_only_pointers_parse() {
        let error = KeyExpression::parse("body.order_id").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`body.order_id` is not a valid JSON Pointer: it does not start with `/` (JMESPath \
             expressions need the `jmespath` feature of tern-middleware)"
        );
    }

    /// Found, missing, null, nested arrays (indices, projections, flattening), multi-select,
    /// quoted names and Powertools' `powertools_json`.
    #[cfg(feature = "jmespath")]
    #[test]
    fn jmespath_selection() {
        let mut event = event();
        event["raw"] = json!(r#"{"order": {"id": "o-7"}}"#);
        event["encoded"] = json!("eyJpZCI6ICJiLTEifQ=="); // {"id": "b-1"}
        let cases = [
            ("Records[1].messageId", json!("m-2")),
            ("Records[-1].messageId", json!("m-2")),
            ("Records[*].messageId", json!(["m-1", "m-2"])),
            ("body.order_id", json!(42)),
            (r#"body."a/b"."m~n""#, json!("escaped")),
            ("matrix[1][0]", json!(2)),
            ("matrix[]", json!([0, 1, 2, 3])),
            ("rows[0].cells[*].v", json!(["x", "y"])),
            ("rows[].cells[].v", json!(["x", "y"])),
            ("[body.order_id, Records[0].messageId]", json!([42, "m-1"])),
            ("{id: body.order_id}", json!({"id": 42})),
            ("powertools_json(raw).order.id", json!("o-7")),
            (
                "powertools_json(powertools_base64(encoded)).id",
                json!("b-1"),
            ),
            ("length(Records)", json!(2)),
            ("body.none", Value::Null),
            ("Records[2].messageId", Value::Null),
            ("body.order_id.deeper", Value::Null),
            ("missing", Value::Null),
            ("[missing, nope]", json!([null, null])),
        ];
        for (expression, expected) in cases {
            for parsed in [
                KeyExpression::jmespath(expression).unwrap(),
                KeyExpression::parse(expression).unwrap(),
            ] {
                assert_eq!(parsed.select(&event).unwrap(), expected, "{expression}");
                assert_eq!(parsed.as_str(), expression);
                assert_eq!(parsed.description(), format!("JMESPath `{expression}`"));
            }
        }
    }

    #[cfg(feature = "jmespath")]
    #[test]
    fn invalid_jmespath_is_named_with_the_problem_and_no_debug_text() {
        let cases = [
            (
                "body.",
                "Expected identifier, '*', '{', '[', '&', or '[?' (at character 5)",
            ),
            ("Records[0", "Expected ':', or ']' (at character 9)"),
            (
                "a = b",
                "'=' is not valid. Did you mean '=='? (at character 2)",
            ),
            ("nope(body)", "there is no function `nope`"),
            (
                "Records[?length(x_powertools(@)) > `1`]",
                "there is no function `x_powertools`",
            ),
        ];
        for (expression, problem) in cases {
            let error = KeyExpression::jmespath(expression).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{expression}` is not a valid JMESPath expression: {problem}"),
            );
        }
    }

    #[cfg(feature = "jmespath")]
    #[test]
    fn jmespath_type_errors_fail_the_selection_without_event_content() {
        let secret = json!({"body": "card 4111-1111", "raw": "not json: 4111", "b": "4111!"});
        let cases = [
            (
                "abs(body)",
                "Argument 0 expects type number, given string (at character 3)",
            ),
            (
                "powertools_json(raw)",
                "powertools_json was given a string that is not JSON (at character 15)",
            ),
            (
                "powertools_base64(b)",
                "powertools_base64 was given a string that is not base64 of UTF-8 text (at \
                 character 17)",
            ),
        ];
        for (expression, problem) in cases {
            let parsed = KeyExpression::jmespath(expression).unwrap();
            let error = parsed.select(&secret).unwrap_err().to_string();
            assert_eq!(error, format!("JMESPath `{expression}` failed: {problem}"));
            assert!(!error.contains("4111"), "{error}");
        }
    }
}
