//! Which object keys on an error's path are names the handler's type declares (shown) and
//! which come only from the event (withheld): map keys, and the unknown field itself.
//!
//! serde_path_to_error records a struct's field and a map's key alike, as the key the input
//! holds. To tell them apart, a value that holds nothing but the path (`{"a": [{"b": null}]}`
//! for `a[3].b`) is decoded into the type (only after a decode failed) by [`Names`], a
//! deserializer that notes the fields of every struct and the variants of every enum the type
//! asks for on the way. It follows the path as far as the type's own deserializers let it:
//! past a type that buffers its input (untagged and internally tagged enums, flattened
//! fields), no name is known, and the keys are withheld.

use std::collections::HashSet;

use serde::{
    Deserializer,
    de::{
        self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess,
        SeqAccess, VariantAccess, Visitor, value::Error,
    },
};
use serde_json::{Map, Value};
use serde_path_to_error::{Path, Segment};

/// The struct fields and enum variants `T` declares along `path`.
pub(super) fn declared<T: DeserializeOwned>(path: &Path) -> HashSet<&'static str> {
    let segments: Vec<&Segment> = path.iter().collect();
    let value = segments
        .iter()
        .rev()
        .fold(Value::Null, |inner, segment| match segment {
            Segment::Seq { .. } => Value::Array(vec![inner]),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                Value::Object(Map::from_iter([(key.clone(), inner)]))
            }
            Segment::Unknown => Value::Null,
        });
    let mut names = HashSet::new();
    // It fails at the end of the path (a null where the type wants something), or sooner;
    // what was noted until then stands.
    let _ = T::deserialize(Names {
        value: &value,
        names: &mut names,
    });
    names
}

/// Decodes from a JSON value as serde_json does, noting declared names in `names`.
struct Names<'v, 'n> {
    value: &'v Value,
    names: &'n mut HashSet<&'static str>,
}

impl<'de> Deserializer<'de> for Names<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                (None, None) => visitor.visit_f64(n.as_f64().unwrap_or_default()),
            },
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter(),
                names: self.names,
            }),
            Value::Object(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
                value: None,
                names: self.names,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.names.extend(fields);
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.names.extend(variants);
        match self.value {
            Value::String(variant) => visitor.visit_enum(variant.as_str().into_deserializer()),
            Value::Object(entries) if entries.len() == 1 => visitor.visit_enum(Variant {
                entries,
                names: self.names,
            }),
            _ => Err(de::Error::custom("not an enum")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct Items<'v, 'n> {
    items: std::slice::Iter<'v, Value>,
    names: &'n mut HashSet<&'static str>,
}

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.items
            .next()
            .map(|value| {
                seed.deserialize(Names {
                    value,
                    names: self.names,
                })
            })
            .transpose()
    }
}

struct Entries<'v, 'n> {
    entries: serde_json::map::Iter<'v>,
    value: Option<&'v Value>,
    names: &'n mut HashSet<&'static str>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(key.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value before its key"))?;
        seed.deserialize(Names {
            value,
            names: self.names,
        })
    }
}

/// An enum written as `{"Variant": content}`.
struct Variant<'v, 'n> {
    entries: &'v Map<String, Value>,
    names: &'n mut HashSet<&'static str>,
}

impl<'de, 'v, 'n> EnumAccess<'de> for Variant<'v, 'n> {
    type Error = Error;
    type Variant = Names<'v, 'n>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Names<'v, 'n>), Error> {
        let (variant, value) = self
            .entries
            .iter()
            .next()
            .ok_or_else(|| de::Error::custom("no variant"))?;
        let variant = seed.deserialize(variant.as_str().into_deserializer())?;
        Ok((
            variant,
            Names {
                value,
                names: self.names,
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for Names<'_, '_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_struct("", fields, visitor)
    }
}
