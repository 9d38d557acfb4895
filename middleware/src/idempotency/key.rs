//! Idempotency keys: which part of an event identifies it, and how that part is hashed.

use std::{
    fmt,
    io::{self, Write},
    sync::Arc,
};

use ring::digest;
use serde::Serialize;
use serde_json::Value;

use super::expression::{ExpressionError, KeyExpression};

/// The key of one idempotency record: `<prefix>#<hex SHA-256 of the canonical JSON of the
/// selected data>`.
///
/// The canonical JSON has the keys of every object sorted (by their UTF-8 bytes) and no
/// whitespace, so two events that carry the same selected data in a different key order or
/// layout get the same key. Note that Powertools for Python hashes differently (MD5 of
/// `json.dumps` with spaces): records written by it and by this crate share a table and its
/// schema but never a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key for `data` under `prefix`.
    pub fn from_value(prefix: &str, data: &Value) -> Self {
        let digest = digest_value(data);
        let mut key = String::with_capacity(prefix.len() + 1 + 2 * digest.as_ref().len());
        key.push_str(prefix);
        key.push('#');
        push_hex(&mut key, digest.as_ref());
        Self(key)
    }

    /// The key as stored in the `id` attribute.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `value` as canonical JSON: object keys sorted recursively, no whitespace.
///
/// Written here rather than left to `serde_json`, whose map order depends on the
/// `preserve_order` feature that any crate in a build can switch on.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out).expect("writing to memory does not fail");
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// Writes the canonical JSON of `value` to `out`, piece by piece.
fn write_canonical(value: &Value, out: &mut impl Write) -> io::Result<()> {
    match value {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        // `Number`'s Display is its JSON text.
        Value::Number(n) => write!(out, "{n}"),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(item, out)?;
            }
            out.write_all(b"]")
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.write_all(b"{")?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_string(key, out)?;
                out.write_all(b":")?;
                write_canonical(item, out)?;
            }
            out.write_all(b"}")
        }
    }
}

fn write_string(s: &str, out: &mut impl Write) -> io::Result<()> {
    // serde_json's escaping is the JSON standard one; a `str` serializes without error.
    serde_json::to_writer(out, s).map_err(io::Error::other)
}

/// Hex SHA-256 of the canonical JSON of `value`.
///
/// The canonical text goes straight into the hash as it is written (no intermediate
/// string); ring's SHA-256 uses the CPU's SHA or vector instructions where it has them.
pub fn hash_value(value: &Value) -> String {
    let digest = digest_value(value);
    let mut hex = String::with_capacity(2 * digest.as_ref().len());
    push_hex(&mut hex, digest.as_ref());
    hex
}

/// Hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    sha256_hex_of(&[bytes])
}

/// Hex SHA-256 of the concatenation of `parts`, without concatenating them.
pub(crate) fn sha256_hex_of(parts: &[&[u8]]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    parts.iter().for_each(|part| context.update(part));
    let digest = context.finish();
    let mut hex = String::with_capacity(2 * digest.as_ref().len());
    push_hex(&mut hex, digest.as_ref());
    hex
}

fn digest_value(value: &Value) -> digest::Digest {
    let mut hasher = Sha256Writer(digest::Context::new(&digest::SHA256));
    write_canonical(value, &mut hasher).expect("hashing does not fail");
    hasher.0.finish()
}

/// Feeds what is written into a SHA-256.
struct Sha256Writer(digest::Context);

impl Write for Sha256Writer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends `bytes` in lowercase hex (a SHA-256 digest: 64 characters, one copy).
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 2 * digest::MAX_OUTPUT_LEN];
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    let text = &text[..2 * bytes.len()];
    out.push_str(std::str::from_utf8(text).expect("hex digits are ASCII"));
}

/// Whether selected data counts as "no key": JSON `null`, or an array whose items are all
/// `null` (a multi-field selection that found none of its fields).
pub(crate) fn is_missing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(Value::is_null),
        _ => false,
    }
}

type SelectFn<T> = dyn Fn(&T) -> Result<Option<Value>, serde_json::Error> + Send + Sync;

/// Selects the part of an event of type `T` that identifies it (the idempotency key data), or
/// the fields that payload validation hashes.
///
/// - [`from_fn`](Self::from_fn): a typed closure, the cheapest: only the selected data is
///   serialized.
/// - [`pointer`](Self::pointer) / [`pointers`](Self::pointers): a JSON Pointer (RFC 6901)
///   such as `/body/order_id` or `/Records/0/messageId` into the event as it serializes (the
///   whole event is serialized to find it, on every invocation).
/// - `jmespath` (the `jmespath` feature): a JMESPath expression such as `body.order_id`, as
///   Powertools' `event_key_jmespath` takes; [`expression`](Self::expression): either, parsed
///   beforehand (e.g. from `TERN_IDEMPOTENCY_EVENT_KEY`).
/// - [`whole_event`](Self::whole_event): the entire event.
///
/// The selection is missing when the closure returns `None`, the expression leads nowhere, or
/// the data is `null` (or an array of nothing but `null`: several pointers that all lead
/// nowhere).
pub struct KeySelector<T> {
    select: Arc<SelectFn<T>>,
    description: Arc<str>,
}

impl<T> Clone for KeySelector<T> {
    fn clone(&self) -> Self {
        Self {
            select: self.select.clone(),
            description: self.description.clone(),
        }
    }
}

impl<T> fmt::Debug for KeySelector<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeySelector")
            .field(&self.description)
            .finish()
    }
}

impl<T> KeySelector<T> {
    /// Selects with a closure; `None` means the event carries no key.
    ///
    /// ```
    /// # use tern_middleware::idempotency::KeySelector;
    /// struct Payment { order_id: String, amount_cents: u64 }
    /// let key = KeySelector::from_fn(|p: &Payment| Some(p.order_id.clone()));
    /// let fields = KeySelector::from_fn(|p: &Payment| Some((p.order_id.clone(), p.amount_cents)));
    /// # let _ = (key, fields);
    /// ```
    pub fn from_fn<K, F>(select: F) -> Self
    where
        K: Serialize,
        F: Fn(&T) -> Option<K> + Send + Sync + 'static,
    {
        Self {
            select: Arc::new(move |event: &T| match select(event) {
                Some(data) => serde_json::to_value(data).map(|v| (!is_missing(&v)).then_some(v)),
                None => Ok(None),
            }),
            description: Arc::from("a key extractor closure"),
        }
    }

    /// The selected data of `event`; `Ok(None)` when it is missing. Fails only when the
    /// selected data cannot be serialized (e.g. a map with non-string keys).
    pub fn select(&self, event: &T) -> Result<Option<Value>, serde_json::Error> {
        (self.select)(event)
    }

    /// What this selector selects (`JSON Pointer `/body/order_id``), for messages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl<T: Serialize> KeySelector<T> {
    /// Selects with a [`KeyExpression`], e.g. the one
    /// [`IdempotencyConfig::event_key`](super::IdempotencyConfig::event_key) read from
    /// `TERN_IDEMPOTENCY_EVENT_KEY`.
    pub fn expression(expression: KeyExpression) -> Self {
        let description = Arc::from(expression.description());
        Self {
            select: Arc::new(move |event: &T| {
                let selected = expression.select(event)?;
                Ok((!is_missing(&selected)).then_some(selected))
            }),
            description,
        }
    }

    /// Selects the value at a JSON Pointer (RFC 6901) into the serialized event (the whole
    /// event is serialized to find it, on every invocation).
    ///
    /// ```
    /// # use tern_middleware::idempotency::KeySelector;
    /// # #[derive(serde::Serialize)] struct Event;
    /// let key = KeySelector::<Event>::pointer("/detail/order_id").unwrap();
    /// assert_eq!(key.description(), "JSON Pointer `/detail/order_id`");
    /// ```
    pub fn pointer(pointer: &str) -> Result<Self, ExpressionError> {
        KeyExpression::pointer(pointer).map(Self::expression)
    }

    /// Selects with a JMESPath expression, as Powertools' `event_key_jmespath` does (the
    /// `jmespath` feature). Several fields at once are a multi-select list:
    /// `[user, order.id]`.
    ///
    /// ```
    /// # use tern_middleware::idempotency::KeySelector;
    /// # #[derive(serde::Serialize)] struct Event;
    /// let key = KeySelector::<Event>::jmespath("powertools_json(body).order_id").unwrap();
    /// assert_eq!(key.description(), "JMESPath `powertools_json(body).order_id`");
    /// ```
    #[cfg(feature = "jmespath")]
    pub fn jmespath(expression: &str) -> Result<Self, ExpressionError> {
        KeyExpression::jmespath(expression).map(Self::expression)
    }

    /// Selects several JSON Pointers at once, as a JSON array of their values (`null` where a
    /// pointer leads nowhere); missing only when all of them are.
    pub fn pointers<'p>(
        pointers: impl IntoIterator<Item = &'p str>,
    ) -> Result<Self, ExpressionError> {
        let pointers = pointers
            .into_iter()
            .map(KeyExpression::pointer)
            .collect::<Result<Vec<_>, _>>()?;
        let listed = pointers
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Self {
            select: Arc::new(move |event: &T| {
                let event = serde_json::to_value(event)?;
                let selected = Value::Array(
                    pointers
                        .iter()
                        .map(|p| event.pointer(p.as_str()).cloned().unwrap_or(Value::Null))
                        .collect(),
                );
                Ok((!is_missing(&selected)).then_some(selected))
            }),
            description: Arc::from(format!("JSON Pointers [{listed}]")),
        })
    }

    /// Selects the whole event.
    pub fn whole_event() -> Self {
        Self {
            select: Arc::new(|event: &T| {
                serde_json::to_value(event).map(|v| (!is_missing(&v)).then_some(v))
            }),
            description: Arc::from("the whole event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_recursively_without_whitespace() {
        let value: Value =
            serde_json::from_str(r#"{ "z": null, "b": [2, {"d": "x y", "c": 3}], "a": 1 }"#)
                .unwrap();
        let canonical = r#"{"a":1,"b":[2,{"c":3,"d":"x y"}],"z":null}"#;
        assert_eq!(canonical_json(&value), canonical);
        // sha256 of the canonical text, computed independently (Python hashlib).
        assert_eq!(
            hash_value(&value),
            "1480f02b926eec623bc763bdb0d2425ee17a2cb6b2afc069ba421a94873cbec6"
        );
        assert_eq!(
            canonical_json(&json!({"é": "\"q\"\n", "E": [1.5, -2, true]})),
            r#"{"E":[1.5,-2,true],"é":"\"q\"\n"}"#
        );
    }

    /// The hash is fed piece by piece as the canonical text is written: it must equal the
    /// hash of the whole text, for every kind of value and escape.
    #[test]
    fn streamed_hash_is_the_hash_of_the_canonical_text() {
        let values = [
            json!(null),
            json!(true),
            json!(-0.5),
            json!(18446744073709551615u64),
            json!(""),
            json!("o-1000"),
            json!("tab\there \"quoted\" back\\slash \u{1} é 😀"),
            json!([]),
            json!({}),
            json!([1, [2, [3, {"z": 1, "a": [null, "x"]}]]]),
            json!({"b": {"d": 1, "c": 2}, "a": "x".repeat(200), "é": [1.25e-7, -3]}),
        ];
        for value in values {
            let whole = digest::digest(&digest::SHA256, canonical_json(&value).as_bytes());
            let hex: String = whole.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hash_value(&value), hex, "{value}");
            assert_eq!(
                IdempotencyKey::from_value("orders", &value).as_str(),
                format!("orders#{hex}"),
                "{value}"
            );
        }
    }

    #[test]
    fn key_is_prefix_hash_of_the_selected_data() {
        let key = IdempotencyKey::from_value("orders.pay", &json!("order-1"));
        assert_eq!(
            key.as_str(),
            "orders.pay#4b08242598e89818f98b9cf7ec0d8ee9033be2c56e579847b0d60b6db516f746"
        );
        assert_eq!(key.to_string(), key.clone().into_string());
    }

    #[derive(Serialize)]
    struct Event {
        user: Option<String>,
        count: u32,
        body: Value,
    }

    #[test]
    fn selectors_extract_or_report_missing() {
        let event = Event {
            user: Some("u1".into()),
            count: 7,
            body: json!({"order": {"id": "o-9"}, "items": [{"sku": "a"}]}),
        };
        let empty = Event {
            user: None,
            count: 0,
            body: Value::Null,
        };
        let by_fn = KeySelector::from_fn(|e: &Event| e.user.clone());
        assert_eq!(by_fn.select(&event).unwrap(), Some(json!("u1")));
        assert_eq!(by_fn.select(&empty).unwrap(), None);
        assert_eq!(by_fn.description(), "a key extractor closure");

        let tuple = KeySelector::from_fn(|e: &Event| Some((e.user.clone(), e.count)));
        assert_eq!(tuple.select(&event).unwrap(), Some(json!(["u1", 7])));
        let nulls = KeySelector::from_fn(|e: &Event| Some((e.user.clone(), None::<u8>)));
        assert_eq!(nulls.select(&empty).unwrap(), None);

        let path = KeySelector::<Event>::pointer("/body/items/0/sku").unwrap();
        assert_eq!(path.select(&event).unwrap(), Some(json!("a")));
        assert_eq!(path.select(&empty).unwrap(), None);

        let paths = KeySelector::<Event>::pointers(["/user", "/body/order/id", "/nope"]).unwrap();
        assert_eq!(
            paths.select(&event).unwrap(),
            Some(json!(["u1", "o-9", null]))
        );
        assert_eq!(paths.select(&empty).unwrap(), None);
        assert_eq!(
            paths.description(),
            "JSON Pointers [`/user`, `/body/order/id`, `/nope`]"
        );

        let whole = KeySelector::<Event>::whole_event();
        assert_eq!(
            whole.select(&empty).unwrap(),
            Some(json!({"user": null, "count": 0, "body": null}))
        );
        assert_eq!(format!("{whole:?}"), r#"KeySelector("the whole event")"#);
    }

    /// The README's migration table: each old path, as a pointer and as JMESPath, selects
    /// the same data, so the keys do not change.
    #[cfg(feature = "jmespath")]
    #[test]
    fn migrated_paths_select_the_same_data() {
        let event = json!({
            "body": {"order_id": "o-1"},
            "Records": [{"messageId": "m-1"}],
            "detail": {"order-id": 7},
            "a/b": {"c": true},
            "user": "u1",
            "order": {"id": "o-9"},
        });
        let cases = [
            ("/body/order_id", "body.order_id", json!("o-1")),
            ("/Records/0/messageId", "Records[0].messageId", json!("m-1")),
            ("/detail/order-id", r#"detail."order-id""#, json!(7)),
            ("/a~1b/c", r#""a/b".c"#, json!(true)),
        ];
        for (pointer, jmespath, expected) in cases {
            let by_pointer = KeySelector::<Value>::pointer(pointer).unwrap();
            let by_jmespath = KeySelector::<Value>::jmespath(jmespath).unwrap();
            assert_eq!(by_pointer.select(&event).unwrap(), Some(expected.clone()));
            assert_eq!(by_jmespath.select(&event).unwrap(), Some(expected));
        }
        let pointers = KeySelector::<Value>::pointers(["/user", "/order/id"]).unwrap();
        let multi = KeySelector::<Value>::jmespath("[user, order.id]").unwrap();
        assert_eq!(pointers.select(&event).unwrap(), Some(json!(["u1", "o-9"])));
        assert_eq!(multi.select(&event).unwrap(), Some(json!(["u1", "o-9"])));
        let none = KeySelector::<Value>::jmespath("[nope, order.nope]").unwrap();
        assert_eq!(none.select(&event).unwrap(), None);
        assert_eq!(
            KeySelector::<Value>::jmespath("body.nope")
                .unwrap()
                .select(&event)
                .unwrap(),
            None
        );
    }

    #[test]
    fn unserializable_selection_is_an_error() {
        let selector =
            KeySelector::from_fn(|_: &()| Some(std::collections::HashMap::from([((1, 2), "v")])));
        assert!(selector.select(&()).is_err());
    }
}
