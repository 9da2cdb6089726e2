//! A report body: a few entries sorted by key, looked up by a scan (bodies hold a handful of
//! keys). Known field names are the schema's own `'static` strings.

use std::borrow::Cow;
use std::ops::Index;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A body's key: a known field's name, or a name as sent.
pub type Key = Cow<'static, str>;

/// A report body: entries sorted by key (byte order, as a `serde_json::Map` iterates), keys
/// unique. Serializes as a JSON object.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Body(Vec<(Key, Value)>);

static NULL: Value = Value::Null;

impl Body {
    /// An empty body with room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value under `key`, to change in place.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string under `key`, if it is a non-empty string.
    pub fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Sets `key` to `value`, replacing what was there.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) {
        let key = key.into();
        match self
            .0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key.as_ref()))
        {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// The last key, in sort order.
    #[cfg(test)]
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.0.last().map(|(k, _)| k.as_ref())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// The entries in key order, values changeable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// Replaces every entry by one.
    pub(crate) fn replace_all(&mut self, key: impl Into<Key>, value: Value) {
        self.0.clear();
        self.0.push((key.into(), value));
    }

    /// The body as a JSON object map.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v))
            .collect()
    }

    /// The body as a JSON object value.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.as_ref().to_owned(), v.clone()))
                .collect(),
        )
    }
}

/// `body["blockedURL"]`: the value, or `null` when the key is absent (as `serde_json::Value`
/// indexes).
impl Index<&str> for Body {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl From<Map<String, Value>> for Body {
    fn from(map: Map<String, Value>) -> Self {
        // A map iterates in key order with unique keys already.
        Self(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(Self::from)
    }
}

/// A body from a JSON object, for tests (anything else gives an empty body).
#[cfg(test)]
impl From<Value> for Body {
    fn from(v: Value) -> Self {
        match v {
            Value::Object(map) => Self::from(map),
            _ => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_keys_sorted_and_unique() {
        let mut b = Body::default();
        for (k, v) in [("b", 1), ("a", 2), ("c", 3), ("a", 4)] {
            b.insert(k, json!(v));
        }
        assert_eq!(
            b.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(b.get("a"), Some(&json!(4)));
        assert_eq!(b.remove("b"), Some(json!(1)));
        assert_eq!(b.last_key(), Some("c"));
        assert_eq!(b["c"], 3);
        assert_eq!(b["absent"], Value::Null);
        assert_eq!(Value::Object(b.clone().into_map()), json!({"a": 4, "c": 3}));
        assert_eq!(b.to_value(), json!({"a": 4, "c": 3}));
    }

    #[test]
    fn serializes_as_the_map_it_stands_for() {
        let mut b = Body::default();
        for (k, v) in [
            ("z", json!(1)),
            ("Z", json!("up")),
            ("a-b", json!([1, {"k": null}])),
        ] {
            b.insert(k.to_owned(), v);
        }
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(text, serde_json::to_string(&b.to_value()).unwrap());
        assert_eq!(serde_json::from_str::<Body>(&text).unwrap(), b);
        // Read back from a map sent in any order, duplicates last-wins.
        let read: Body =
            serde_json::from_str(r#"{"z":0,"a-b":[1,{"k":null}],"Z":"up","z":1}"#).unwrap();
        assert_eq!(read, b);
    }
}
