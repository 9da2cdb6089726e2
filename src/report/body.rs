//! A report body while it is being normalized: a few entries sorted by key, looked up by a
//! scan (a handful of keys of different lengths: cheaper than a tree), turned into a map once.

use serde_json::{Map, Value};

/// Body entries, sorted by key, keys unique.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Body(Vec<(String, Value)>);

impl Body {
    /// An empty body with room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key`, to change in place.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string under `key`, if it is a non-empty string.
    pub(crate) fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Sets `key` to `value`, replacing what was there.
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// Appends an entry whose key sorts after every key already present.
    pub(crate) fn push_sorted(&mut self, key: String, value: Value) {
        debug_assert!(self.0.last().is_none_or(|(k, _)| *k < key));
        self.0.push((key, value));
    }

    /// The last key, in sort order.
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.0.last().map(|(k, _)| k.as_str())
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The entries in key order (the order a `serde_json::Map` iterates in).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The entries in key order, values changeable.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }

    /// Replaces every entry by one.
    pub(crate) fn replace_all(&mut self, key: String, value: Value) {
        self.0.clear();
        self.0.push((key, value));
    }

    /// The body as a JSON object (keys already sorted: built without searching).
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.0.into_iter().collect()
    }

    /// The body as a JSON object value, for serializing.
    pub(crate) fn to_value(&self) -> Value {
        Value::Object(self.0.iter().cloned().collect())
    }
}

/// A body from a JSON object, for tests (anything else gives an empty body).
#[cfg(test)]
impl From<Value> for Body {
    fn from(v: Value) -> Self {
        match v {
            Value::Object(map) => Self(map.into_iter().collect()),
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
            b.insert(k.to_owned(), json!(v));
        }
        assert_eq!(
            b.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(b.get("a"), Some(&json!(4)));
        assert_eq!(b.remove("b"), Some(json!(1)));
        assert_eq!(b.last_key(), Some("c"));
        assert_eq!(Value::Object(b.into_map()), json!({"a": 4, "c": 3}));
    }
}
