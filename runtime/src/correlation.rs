//! The correlation id of an invocation: the `correlation_id` of every line it logs.
//!
//! It is read from the raw event before the handler's type decodes it, along paths chosen
//! once per handler at init: a JSON Pointer when one is configured, else what the event's type
//! says it can carry (an API Gateway or ALB request, SQS records), else none and the request id
//! stands in. The read stops as soon as it has what it looks for, and skips every value on the
//! way without building it, so a type with nothing to look for costs nothing and an SQS batch
//! costs a look at its first record. Before that, a search of the raw bytes for the member names
//! the paths need settles most events that carry no id at all (see [`Correlation::find`]).

use std::{
    borrow::Cow,
    fmt,
    sync::{Arc, LazyLock},
};

use memchr::memmem::Finder;

use serde::{
    Deserializer,
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor},
};

use crate::{
    env::{Env, names},
    init::InitError,
};

/// The SQS message attribute read when none is configured.
pub const DEFAULT_SQS_ATTRIBUTE: &str = "correlation_id";

/// The longest correlation id taken from an event; a longer one is ignored (every line
/// carries it) and the request id stands in.
const MAX_LEN: usize = 256;

/// Where an invocation's correlation id comes from; without a source, or when the event does
/// not hold one, it is the request id.
///
/// ```
/// use tern_runtime::Correlation;
///
/// let from_header = Correlation::pointer("/detail/correlation_id").unwrap();
/// let bad = Correlation::pointer("detail").unwrap_err();
/// assert_eq!(bad.to_string(), "a JSON Pointer starts with `/` (RFC 6901), e.g. `/detail/id`");
/// # let _ = from_header;
/// ```
#[derive(Clone, Default)]
pub struct Correlation {
    /// Paths into the event, the first found wins; empty for the request id.
    paths: Arc<[Path]>,
    /// Per path, a member name it needs, as it must appear in the raw event (quoted), when
    /// the path has one that JSON can spell only that way or with a `\u` escape.
    needles: Arc<[Option<Finder<'static>>]>,
}

type Path = Box<[Step]>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// An object member.
    Key(&'static str),
    /// An object member, the name compared without regard to ASCII case (HTTP headers).
    KeyAnyCase(&'static str),
    /// An array element.
    Index(usize),
    /// A JSON Pointer reference token: an object member, or an array index when it is one.
    Token(Box<str>),
}

impl Correlation {
    /// The request id: no look into the event (the default).
    pub fn request_id() -> Self {
        Self::default()
    }

    /// The string (or number) at a JSON Pointer (RFC 6901) into the event, e.g.
    /// `/detail/correlation_id` or `/Records/0/messageAttributes/trace/stringValue`.
    pub fn pointer(pointer: &str) -> Result<Self, InvalidPointer> {
        let Some(tokens) = pointer.strip_prefix('/') else {
            return Err(InvalidPointer::NoLeadingSlash);
        };
        let steps = tokens
            .split('/')
            .map(|token| unescape(token).map(|token| Step::Token(token.into_boxed_str())))
            .collect::<Result<Box<[Step]>, _>>()?;
        Ok(Self::paths([steps]))
    }

    /// What API Gateway (REST and HTTP APIs, WebSocket) and function URLs send as
    /// `requestContext.requestId`, else what an Application Load Balancer sends as its
    /// `X-Amzn-Trace-Id` header.
    pub fn http() -> Self {
        Self::paths(HTTP_PATHS.map(|steps| steps.to_vec().into_boxed_slice()))
    }

    /// The SQS message attribute `name` (its `stringValue`) of the batch's first record.
    pub fn sqs_attribute(name: &str) -> Self {
        Self::paths([sqs_path(name)])
    }

    /// The source the bootstrap uses for a handler of events of type `E`:
    /// `TERN_LOG_CORRELATION_ID_POINTER` when set, else by what `E`'s `Deserialize` declares —
    /// a struct with `requestContext` is an HTTP event ([`http`](Self::http)), one with
    /// `Records` a batch whose first record may carry the SQS attribute
    /// `TERN_LOG_CORRELATION_ID_ATTRIBUTE` (default `correlation_id`), a type that takes any
    /// JSON (`serde_json::Value`, untagged enums) is looked at for all of these, and any
    /// other type uses the request id.
    pub fn for_event<E: DeserializeOwned>(env: &Env) -> Result<Self, InitError> {
        if let Some(pointer) = env.get(names::LOG_CORRELATION_ID_POINTER) {
            return Self::pointer(&pointer).map_err(|problem| {
                crate::env::invalid(
                    names::LOG_CORRELATION_ID_POINTER,
                    &pointer,
                    "is not a JSON Pointer",
                    &problem.to_string(),
                )
            });
        }
        let attribute = env.get(names::LOG_CORRELATION_ID_ATTRIBUTE);
        if let Some(name) = attribute
            .as_deref()
            .filter(|name| !is_sqs_attribute_name(name))
        {
            return Err(crate::env::invalid(
                names::LOG_CORRELATION_ID_ATTRIBUTE,
                name,
                "is not an SQS message attribute name",
                "use up to 256 letters, digits, `_`, `-` and `.` (not starting or ending with \
                 `.`, no `..`, not starting with `AWS.` or `Amazon.`)",
            ));
        }
        let attribute = attribute.as_deref().unwrap_or(DEFAULT_SQS_ATTRIBUTE);
        Ok(match Shape::of::<E>() {
            Shape::Struct(fields) if fields.contains(&"requestContext") => Self::http(),
            Shape::Struct(fields) if fields.contains(&"Records") => Self::sqs_attribute(attribute),
            Shape::Struct(_) | Shape::Other => Self::request_id(),
            Shape::Any => Self::paths(
                HTTP_PATHS
                    .map(|steps| steps.to_vec().into_boxed_slice())
                    .into_iter()
                    .chain([sqs_path(attribute)]),
            ),
        })
    }

    fn paths(paths: impl IntoIterator<Item = Path>) -> Self {
        let paths: Arc<[Path]> = paths.into_iter().collect();
        debug_assert!(paths.len() <= 8, "paths are tracked in a u8");
        let needles = paths.iter().map(|path| needle(path)).collect();
        Self { paths, needles }
    }

    /// Whether no path can be in `event`: each needs a member name that the raw bytes do not
    /// hold, quoted, and there is no `\u` escape that could spell it otherwise.
    ///
    /// Most events carry no correlation id (an SQS batch without the attribute): a search of
    /// the bytes (memchr's SIMD substring search) settles them for ~1,000 instructions, where
    /// reading the first record's JSON costs ~12,000 (callgrind, the 10-record SQS batch of
    /// `make bench`; BENCHMARKS.md "Session 11").
    fn absent_from(&self, event: &[u8]) -> bool {
        self.needles.iter().all(|needle| {
            needle
                .as_ref()
                .is_some_and(|needle| needle.find(event).is_none())
        }) && UNICODE_ESCAPE.find(event).is_none()
    }

    /// The correlation id in `event` (the raw invocation body), if its source finds one.
    pub(crate) fn find<'a>(&self, event: &'a [u8]) -> Option<Cow<'a, str>> {
        if self.paths.is_empty() || self.absent_from(event) {
            return None;
        }
        let mut found: [Option<Cow<'a, str>>; 8] = Default::default();
        let mut resolved = 0;
        let all = u8::MAX >> (8 - self.paths.len());
        let seed = Level {
            paths: &self.paths,
            active: all,
            depth: 0,
            all,
            found: &mut found,
            resolved: &mut resolved,
        };
        // An error is the early stop, or an event that is not JSON: what was found stands.
        let _ = seed.deserialize(&mut serde_json::Deserializer::from_slice(event));
        found.into_iter().flatten().next()
    }
}

const HTTP_PATHS: [&[Step]; 3] = [
    &[Step::Key("requestContext"), Step::Key("requestId")],
    &[Step::Key("headers"), Step::KeyAnyCase("x-amzn-trace-id")],
    // ALB with multi-value headers on the target group sends only these.
    &[
        Step::Key("multiValueHeaders"),
        Step::KeyAnyCase("x-amzn-trace-id"),
        Step::Index(0),
    ],
];

/// The only way JSON can spell a plain member name other than as itself.
static UNICODE_ESCAPE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\\u"));

/// The member name of `path` to look for in the raw event, quoted: the most telling one that
/// JSON can write only as itself or with a `\u` escape (no quote, backslash, `/` or control
/// character). A pointer token or SQS attribute name comes before a fixed name (the attribute
/// `correlation_id` rather than `stringValue`); a token that is a number is left out, as it may
/// be an array index.
fn needle(path: &[Step]) -> Option<Finder<'static>> {
    let plain = |name: &&str| {
        !name
            .bytes()
            .any(|b| b < 0x20 || matches!(b, b'"' | b'\\' | b'/'))
    };
    let tokens = path.iter().rev().filter_map(|step| match step {
        Step::Token(token) if token.parse::<usize>().is_err() => Some(&**token),
        _ => None,
    });
    let keys = path.iter().rev().filter_map(|step| match step {
        Step::Key(name) => Some(*name),
        _ => None,
    });
    let name = tokens.chain(keys).find(plain)?;
    Some(Finder::new(format!("\"{name}\"").as_bytes()).into_owned())
}

/// SQS's rules for a message attribute name (what `SendMessage` accepts).
fn is_sqs_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

fn sqs_path(attribute: &str) -> Path {
    Box::new([
        Step::Key("Records"),
        Step::Index(0),
        Step::Key("messageAttributes"),
        Step::Token(attribute.into()),
        Step::Key("stringValue"),
    ])
}

impl fmt::Debug for Correlation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.paths.is_empty() {
            return f.write_str("Correlation(request id)");
        }
        f.debug_tuple("Correlation").field(&self.paths).finish()
    }
}

/// Why a JSON Pointer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPointer {
    /// It does not start with `/` (the empty pointer, the whole event, is not an id either).
    #[error("a JSON Pointer starts with `/` (RFC 6901), e.g. `/detail/id`")]
    NoLeadingSlash,
    /// A `~` not followed by `0` or `1`.
    #[error("`~` must be followed by `0` (for `~`) or `1` (for `/`) (RFC 6901)")]
    BadEscape,
}

fn unescape(token: &str) -> Result<String, InvalidPointer> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        out.push(match (c, c == '~') {
            (_, false) => c,
            (_, true) => match chars.next() {
                Some('0') => '~',
                Some('1') => '/',
                _ => return Err(InvalidPointer::BadEscape),
            },
        });
    }
    Ok(out)
}

/// What an event type's `Deserialize` asks of the deserializer at the top level.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// A struct with these members.
    Struct(&'static [&'static str]),
    /// Anything (`deserialize_any`, a map).
    Any,
    /// Something else (a string, a number, a sequence, …).
    Other,
}

impl Shape {
    fn of<E: DeserializeOwned>() -> Self {
        let mut shape = Shape::Other;
        // The probe answers every request with an error after noting what was asked.
        let _ = E::deserialize(ShapeProbe(&mut shape));
        shape
    }
}

struct ShapeProbe<'s>(&'s mut Shape);

impl ShapeProbe<'_> {
    fn note<T>(self, shape: Shape) -> Result<T, de::value::Error> {
        *self.0 = shape;
        Err(de::Error::custom("shape noted"))
    }
}

/// `Deserializer` methods that note `Shape::Other`, each given as its name and the types of
/// its arguments before the visitor.
macro_rules! other {
    ($($method:ident($($arg:ty),*))*) => {
        $(fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _: V) -> Result<V::Value, Self::Error> {
            self.note(Shape::Other)
        })*
    };
}

impl<'de> Deserializer<'de> for ShapeProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.note(Shape::Any)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        self.note(Shape::Any)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.note(Shape::Struct(fields))
    }

    other! {
        deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32() deserialize_i64()
        deserialize_u8() deserialize_u16() deserialize_u32() deserialize_u64() deserialize_f32()
        deserialize_f64() deserialize_char() deserialize_str() deserialize_string()
        deserialize_bytes() deserialize_byte_buf() deserialize_option() deserialize_unit()
        deserialize_seq() deserialize_identifier() deserialize_ignored_any()
        deserialize_unit_struct(&'static str)
        deserialize_tuple(usize)
        deserialize_tuple_struct(&'static str, usize)
        deserialize_enum(&'static str, &'static [&'static str])
    }

    /// serde_json's `RawValue` (how lambda_http's `LambdaRequest` takes the event before it
    /// tells the kinds apart) asks for a newtype struct of this name: it takes any JSON.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        if name == "$serde_json::private::RawValue" {
            self.note(Shape::Any)
        } else {
            self.note(Shape::Other)
        }
    }
}

/// One level of the event: which paths are still being followed through it, how deep.
struct Level<'p, 'r, 'a> {
    paths: &'p [Path],
    /// The paths followed into this value, one bit each.
    active: u8,
    depth: usize,
    /// Every path's bit.
    all: u8,
    found: &'r mut [Option<Cow<'a, str>>; 8],
    /// Paths found, or known not to be in the event.
    resolved: &'r mut u8,
}

impl<'a> Level<'_, '_, 'a> {
    /// The paths of `self.active` whose step at this depth is `matches`.
    fn next(&self, matches: impl Fn(&Step) -> bool) -> u8 {
        bits(self.active)
            .filter(|&i| self.paths[i].get(self.depth).is_some_and(&matches))
            .fold(0, |mask, i| mask | 1 << i)
    }

    fn child(&mut self, active: u8) -> Level<'_, '_, 'a> {
        Level {
            paths: self.paths,
            active,
            depth: self.depth + 1,
            all: self.all,
            found: &mut *self.found,
            resolved: &mut *self.resolved,
        }
    }

    /// Marks `mask` resolved; an error (the early stop) once every path is.
    fn resolve<E: de::Error>(&mut self, mask: u8) -> Result<(), E> {
        *self.resolved |= mask;
        if *self.resolved == self.all || self.found[0].is_some() {
            return Err(E::custom("correlation id found"));
        }
        Ok(())
    }

    /// A string value: the id of every path that ends here.
    fn leaf<E: de::Error>(mut self, value: Cow<'a, str>) -> Result<(), E> {
        let ending = bits(self.active).filter(|&i| self.paths[i].len() == self.depth);
        if value.len() <= MAX_LEN && !value.is_empty() {
            for i in ending {
                self.found[i].get_or_insert_with(|| value.clone());
            }
        }
        let active = self.active;
        self.resolve(active)
    }
}

fn bits(mask: u8) -> impl Iterator<Item = usize> {
    (0..8).filter(move |i| mask & (1 << i) != 0)
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Level<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Level<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(matching) = map.next_key_seed(KeyMatch(&self))? {
            if matching == 0 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(self.child(matching))?;
            self.resolve(matching)?;
        }
        let active = self.active;
        self.resolve(active)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let matching = self.next(|step| match step {
                Step::Index(wanted) => *wanted == index,
                Step::Token(token) => token.parse::<usize>() == Ok(index),
                _ => false,
            });
            let more = if matching == 0 {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                let more = seq.next_element_seed(self.child(matching))?.is_some();
                self.resolve(matching)?;
                more
            };
            if !more {
                break;
            }
            index += 1;
        }
        let active = self.active;
        self.resolve(active)
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<(), E> {
        self.leaf(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.leaf(Cow::Owned(value.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.leaf(Cow::Owned(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.leaf(Cow::Owned(value.to_string()))
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        let active = self.active;
        self.resolve(active)
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        let active = self.active;
        self.resolve(active)
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        let active = self.active;
        self.resolve(active)
    }
}

/// Reads an object member's name and answers which followed paths continue into its value.
struct KeyMatch<'l, 'p, 'r, 'a>(&'l Level<'p, 'r, 'a>);

impl<'de> DeserializeSeed<'de> for KeyMatch<'_, '_, '_, '_> {
    type Value = u8;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u8, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_, '_, '_, '_> {
    type Value = u8;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<u8, E> {
        Ok(self.0.next(|step| match step {
            Step::Key(name) => *name == key,
            Step::KeyAnyCase(name) => name.eq_ignore_ascii_case(key),
            Step::Token(token) => **token == *key,
            Step::Index(_) => false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(correlation: &Correlation, event: &serde_json::Value) -> Option<String> {
        correlation
            .find(event.to_string().as_bytes())
            .map(Cow::into_owned)
    }

    fn api_gateway_rest() -> serde_json::Value {
        serde_json::from_str(include_str!("../fixtures/api-gateway-rest.json")).unwrap()
    }

    #[test]
    fn http_events_give_their_request_id_and_alb_its_trace_header() {
        let http = Correlation::http();
        // (event, the id found in it)
        let cases = [
            (
                api_gateway_rest(),
                Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
            ),
            // The request id wins over the header wherever the two come in the event.
            (
                json!({
                    "headers": {"X-Amzn-Trace-Id": "Root=1-hdr"},
                    "requestContext": {"requestId": "req-from-context"},
                }),
                Some("req-from-context"),
            ),
            // An ALB event: its trace header.
            (
                json!({
                    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:…"}},
                    "httpMethod": "GET",
                    "headers": {"x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"},
                    "body": "",
                }),
                Some("Root=1-5bdb40ca-556d8b0c50dc66f0511bf520"),
            ),
            // A target group with multi-value headers sends only `multiValueHeaders`.
            (
                json!({
                    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:…"}},
                    "httpMethod": "GET",
                    "multiValueHeaders": {"X-Amzn-Trace-Id": ["Root=1-5bdb40ca-multi"]},
                }),
                Some("Root=1-5bdb40ca-multi"),
            ),
            (json!({"message": "hi"}), None),
        ];
        for (event, id) in cases {
            assert_eq!(find(&http, &event).as_deref(), id, "{event}");
        }
    }

    #[test]
    fn lambda_http_requests_are_http_events() {
        // lambda_http's `LambdaRequest` takes the event as a `RawValue` before it tells the
        // kinds apart: any JSON, looked at for every source.
        let env = Env::from_vars([("UNRELATED", "1")]);
        let raw = Correlation::for_event::<Box<serde_json::value::RawValue>>(&env).unwrap();
        assert_eq!(raw.paths.len(), 4);
        assert_eq!(
            raw.find(br#"{"requestContext":{"requestId":"r-7"}}"#)
                .as_deref(),
            Some("r-7")
        );
    }

    /// The search of the raw bytes only ever skips events that cannot hold the id: the names a
    /// path needs written with `\u` escapes are still found, a name with `/` (which JSON may
    /// write as `\/`) and numeric tokens (array indexes) are never searched for, and an event
    /// that does not name the member settles without a read.
    #[test]
    fn the_byte_search_never_hides_an_id() {
        let sqs = Correlation::sqs_attribute("correlation_id");
        let pointer = |p: &str| Correlation::pointer(p).unwrap();
        let raw = |correlation: &Correlation, event: &str| {
            correlation.find(event.as_bytes()).map(Cow::into_owned)
        };
        let cases: [(&str, Correlation, &str, Option<&str>); 9] = [
            (
                "an escaped attribute name",
                sqs.clone(),
                r#"{"Records":[{"messageAttributes":{"correlation\u005fid":{"stringValue":"c-1"}}}]}"#,
                Some("c-1"),
            ),
            (
                "the attribute name spelled out",
                sqs.clone(),
                r#"{"Records":[{"messageAttributes":{"correlation_id":{"stringValue":"c-2"}}}]}"#,
                Some("c-2"),
            ),
            (
                "no such attribute",
                sqs.clone(),
                r#"{"Records":[{"messageAttributes":{"trace":{"stringValue":"c-3"}}}]}"#,
                None,
            ),
            (
                "the name only as a value",
                sqs.clone(),
                r#"{"Records":[{"body":"correlation_id","messageAttributes":{}}]}"#,
                None,
            ),
            (
                "a token with a slash",
                pointer("/a~1b"),
                r#"{"a\/b":"s-1"}"#,
                Some("s-1"),
            ),
            (
                "a token with a slash, plain",
                pointer("/a~1b"),
                r#"{"a/b":"s-2"}"#,
                Some("s-2"),
            ),
            ("an index token", pointer("/0"), r#"["i-1"]"#, Some("i-1")),
            (
                "an escaped key",
                pointer("/detail/id"),
                r#"{"detail":{"\u0069d":"p-1"}}"#,
                Some("p-1"),
            ),
            (
                "a missing key",
                pointer("/detail/id"),
                r#"{"detail":{"ref":"p-2"}}"#,
                None,
            ),
        ];
        for (what, correlation, event, expected) in cases {
            assert_eq!(raw(&correlation, event).as_deref(), expected, "{what}");
        }
        // The needles chosen: the attribute over `stringValue`, nothing for a slash or an index.
        let needles = |c: &Correlation| c.needles.iter().map(Option::is_some).collect::<Vec<_>>();
        assert_eq!(needles(&sqs), [true]);
        assert!(
            sqs.absent_from(br#"{"Records":[{"messageAttributes":{"a":{"stringValue":"x"}}}]}"#)
        );
        assert!(!sqs.absent_from(br#"{"x":"correlation\u005fid"}"#));
        assert_eq!(needles(&pointer("/a~1b")), [false]);
        assert_eq!(needles(&pointer("/0")), [false]);
        assert_eq!(needles(&Correlation::http()), [true, true, true]);
    }

    #[test]
    fn sqs_batches_give_the_first_records_attribute() {
        let sqs = Correlation::sqs_attribute("correlation_id");
        let record = |value: serde_json::Value| json!({"messageId": "m", "body": "{}", "messageAttributes": value});
        let event = json!({"Records": [
            record(json!({"correlation_id": {"stringValue": "corr-1", "dataType": "String"}})),
            record(json!({"correlation_id": {"stringValue": "corr-2", "dataType": "String"}})),
        ]});
        assert_eq!(find(&sqs, &event).as_deref(), Some("corr-1"));
        // Only the first record is looked at.
        let later = json!({"Records": [
            record(json!({})),
            record(json!({"correlation_id": {"stringValue": "corr-2", "dataType": "String"}})),
        ]});
        assert_eq!(find(&sqs, &later), None);
        assert_eq!(find(&sqs, &json!({"Records": []})), None);
        assert_eq!(find(&sqs, &json!({"Records": 5})), None);
    }

    #[test]
    fn pointers_follow_rfc_6901() {
        let event = json!({
            "detail": {"ids": ["zero", {"a/b": "slash", "m~n": "tilde"}], "n": 42, "flag": true},
            "0": "key zero",
        });
        let cases = [
            ("/detail/ids/0", Some("zero")),
            ("/detail/ids/1/a~1b", Some("slash")),
            ("/detail/ids/1/m~0n", Some("tilde")),
            ("/detail/n", Some("42")),
            ("/0", Some("key zero")),
            ("/detail/flag", None),
            ("/detail/ids", None),
            ("/detail/ids/2", None),
            ("/missing", None),
        ];
        for (pointer, expected) in cases {
            let correlation = Correlation::pointer(pointer).unwrap();
            assert_eq!(find(&correlation, &event).as_deref(), expected, "{pointer}");
        }
        let invalid = [
            ("detail", InvalidPointer::NoLeadingSlash),
            ("", InvalidPointer::NoLeadingSlash),
            ("/a~2", InvalidPointer::BadEscape),
            ("/a~", InvalidPointer::BadEscape),
        ];
        for (pointer, error) in invalid {
            assert_eq!(
                Correlation::pointer(pointer).unwrap_err(),
                error,
                "{pointer}"
            );
        }
    }

    #[test]
    fn escaped_long_and_empty_values() {
        let correlation = Correlation::pointer("/id").unwrap();
        assert_eq!(
            find(&correlation, &json!({"id": "a\"b\u{e9}"})).as_deref(),
            Some("a\"b\u{e9}")
        );
        assert_eq!(find(&correlation, &json!({"id": "x".repeat(257)})), None);
        assert_eq!(
            find(&correlation, &json!({"id": "x".repeat(256)})).map(|id| id.len()),
            Some(256)
        );
        assert_eq!(find(&correlation, &json!({"id": ""})), None);
        // Not JSON, or cut off: what was found before the problem stands.
        assert_eq!(
            correlation.find(b"{\"id\":\"early\",\"x\":"),
            Some("early".into())
        );
        assert_eq!(correlation.find(b"\xff\xfe"), None);
        assert_eq!(Correlation::request_id().find(b"{\"id\":\"x\"}"), None);
    }

    /// The read stops once it has what it looks for: what comes after is not even parsed.
    #[test]
    fn the_read_stops_early() {
        let sqs = Correlation::sqs_attribute("trace");
        let event = br#"{"Records":[{"messageAttributes":{"trace":{"stringValue":"t-1"}}}, this is not JSON"#;
        assert_eq!(sqs.find(event), Some("t-1".into()));
        let http = Correlation::http();
        let event = br#"{"requestContext":{"requestId":"r-1"}, this is not JSON"#;
        assert_eq!(http.find(event), Some("r-1".into()));
        // Nothing found in the first record: the rest of the batch is not read either.
        let event = br#"{"Records":[{"messageId":"m"}, this is not JSON"#;
        assert_eq!(sqs.find(event), None);
    }

    #[test]
    fn the_source_follows_the_events_type() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Custom {
            message: String,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Batch {
            #[serde(rename = "Records")]
            records: Vec<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        #[serde(rename_all = "camelCase")]
        struct Request {
            request_context: serde_json::Value,
        }
        let env = Env::from_vars([("UNRELATED", "1")]);
        let paths = |c: Correlation| c.paths.len();
        assert_eq!(paths(Correlation::for_event::<Custom>(&env).unwrap()), 0);
        assert_eq!(paths(Correlation::for_event::<u8>(&env).unwrap()), 0);
        assert_eq!(paths(Correlation::for_event::<Request>(&env).unwrap()), 3);
        assert_eq!(
            paths(Correlation::for_event::<serde_json::Value>(&env).unwrap()),
            4
        );
        let batch = Correlation::for_event::<Batch>(&env).unwrap();
        assert_eq!(batch.paths[0], sqs_path("correlation_id"));
        let named = Env::from_vars([(names::LOG_CORRELATION_ID_ATTRIBUTE, "trace")]);
        assert_eq!(
            Correlation::for_event::<Batch>(&named).unwrap().paths[0],
            sqs_path("trace")
        );
        // A pointer wins over the type.
        let pointer = Env::from_vars([(names::LOG_CORRELATION_ID_POINTER, "/message")]);
        let custom = Correlation::for_event::<Custom>(&pointer).unwrap();
        assert_eq!(
            find(&custom, &json!({"message": "m-1"})).as_deref(),
            Some("m-1")
        );
        for name in ["trace id", ".trace", "AWS.trace", "a..b", ""] {
            let env = Env::from_vars([(names::LOG_CORRELATION_ID_ATTRIBUTE, name)]);
            let result = Correlation::for_event::<Batch>(&env);
            // A blank value is unset.
            assert_eq!(result.is_err(), !name.is_empty(), "{name:?}");
        }
        let bad = Env::from_vars([(names::LOG_CORRELATION_ID_POINTER, "message")]);
        assert_eq!(
            Correlation::for_event::<Custom>(&bad)
                .unwrap_err()
                .to_string(),
            "environment variable `TERN_LOG_CORRELATION_ID_POINTER` is invalid: `message` is not \
             a JSON Pointer; a JSON Pointer starts with `/` (RFC 6901), e.g. `/detail/id`"
        );
    }
}
