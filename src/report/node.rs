//! A JSON tree borrowed from the request body: strings without escapes are slices of the body,
//! objects are entry lists in document order. Decoding reads the body into this once; only what
//! is stored becomes owned `serde_json` values.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One JSON value, borrowing its strings from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Entries<'a>),
}

/// An object's entries in document order; duplicates are kept (the last one counts).
pub(crate) type Entries<'a> = Vec<(Cow<'a, str>, Node<'a>)>;

/// The value of the last entry named `key` (JSON objects: the last duplicate wins).
pub(crate) fn last<'e, 'a>(entries: &'e Entries<'a>, key: &str) -> Option<&'e Node<'a>> {
    entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Takes the value of the last entry named `key` out of `entries`, removing every entry so named.
pub(crate) fn take<'a>(entries: &mut Entries<'a>, key: &str) -> Option<Node<'a>> {
    let i = entries.iter().rposition(|(k, _)| k == key)?;
    let (_, value) = entries.remove(i);
    entries.retain(|(k, _)| k != key);
    Some(value)
}

impl Node<'_> {
    /// An owned `serde_json` value with the same content (for duplicate keys, the last wins).
    pub(crate) fn into_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Num(n) => Value::Number(n),
            Self::Str(s) => Value::String(s.into_owned()),
            Self::Array(items) => Value::Array(items.into_iter().map(Self::into_value).collect()),
            Self::Object(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    map.insert(k.into_owned(), v.into_value());
                }
                Value::Object(map)
            }
        }
    }
}

/// A string that borrows from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Node::Num(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Node::Num(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        // serde_json never yields a non-finite float; null is what `Value` would hold.
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Num))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let text = r#"{"a":"plain","b":"esc\"aped","c":[1,-2,1.5,true,null],"d":{"x":{}}}"#;
        let Node::Object(entries) = serde_json::from_str::<Node<'_>>(text).unwrap() else {
            panic!("not an object")
        };
        assert!(matches!(
            last(&entries, "a"),
            Some(Node::Str(Cow::Borrowed("plain")))
        ));
        assert!(matches!(last(&entries, "b"), Some(Node::Str(Cow::Owned(s))) if s == "esc\"aped"));
        let value = Node::Object(entries).into_value();
        assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn empty_objects_and_arrays_allocate_nothing() {
        let Node::Array(items) = serde_json::from_str::<Node<'_>>("[{},[],{}]").unwrap() else {
            panic!("not an array")
        };
        for item in items {
            match item {
                Node::Object(entries) => assert_eq!(entries.capacity(), 0),
                Node::Array(inner) => assert_eq!(inner.capacity(), 0),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_last_duplicate_wins_as_in_serde_json() {
        let text = r#"{"k":1,"j":2,"k":3}"#;
        let Node::Object(mut entries) = serde_json::from_str::<Node<'_>>(text).unwrap() else {
            panic!("not an object")
        };
        assert_eq!(last(&entries, "k"), Some(&Node::Num(3.into())));
        assert_eq!(
            Node::Object(entries.clone()).into_value(),
            json!({"j": 2, "k": 3})
        );
        assert_eq!(take(&mut entries, "k"), Some(Node::Num(3.into())));
        assert_eq!(entries.len(), 1);
    }
}
