//! Privacy and size rules: query strings and fragments out of URLs, over-long fields cut with a
//! marker, and a hard bound on a stored body's size.

use serde_json::Value;

use super::body::Body;

/// Size bounds for one stored report.
#[derive(Debug, Clone, Copy)]
pub struct SizeLimits {
    /// Longest string kept in a body, in bytes; longer ones are cut and marked.
    pub max_string_bytes: usize,
    /// Largest body kept, as an estimate of its JSON size in bytes; a larger body is replaced
    /// by a cut copy of its JSON text under `_truncated_json`.
    pub max_body_bytes: usize,
}

/// The longest string kept in a report body by default, in bytes (`--max-field-bytes`).
pub const DEFAULT_MAX_STRING_BYTES: usize = 8 * 1024;

impl Default for SizeLimits {
    fn default() -> Self {
        Self {
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// What marks the end of a cut string.
pub const CUT_MARK: &str = "…";

/// Removes the query string and fragment of a URL in place (`https://a/b?c#d` → `https://a/b`).
///
/// Values that are not URLs (`inline`, `eval`, `data`) have neither and are left as they are.
pub fn strip_query(url: &mut String) {
    url.truncate(super::weburl::query_start(url));
}

/// Strips query and fragment from the named string fields of `body`.
pub(crate) fn strip_body_urls<'a>(body: &mut Body, names: impl Iterator<Item = &'a str>) {
    for name in names {
        if let Some(Value::String(s)) = body.get_mut(name) {
            strip_query(s);
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, appending [`CUT_MARK`].
/// Returns whether it cut.
pub fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max.saturating_sub(CUT_MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(CUT_MARK);
    true
}

/// The deepest nesting kept in a body. DynamoDB stores 32 levels in an item; a deeper body is
/// kept as its cut JSON text under `_truncated_json`, as an oversized one is.
pub const MAX_BODY_DEPTH: usize = 16;

/// Whether a number can be stored as a number everywhere: DynamoDB's numbers reach from
/// 1E-130 to 9.99E+125 in magnitude (integers of 64 bits always fit).
pub fn storable_number(n: &serde_json::Number) -> bool {
    match n.as_f64() {
        _ if n.is_i64() || n.is_u64() => true,
        Some(f) => f == 0.0 || (1e-130..=9.9e125).contains(&f.abs()),
        None => false,
    }
}

/// Applies `limits` to `body`, returning the paths of what was cut (`body.originalPolicy`).
///
/// Numbers that cannot be stored as numbers ([`storable_number`]) become their text: under
/// `_invalid` at the top level (as other values of the wrong kind), in place below it.
pub(crate) fn bound_body(body: &mut Body, limits: &SizeLimits) -> Vec<String> {
    let mut cut_paths = Vec::new();
    let mut size = 2;
    let mut depth = 0;
    let mut unstorable = Vec::new();
    for (key, value) in body.iter_mut() {
        if let Value::Number(n) = value
            && !storable_number(n)
        {
            unstorable.push(key.to_owned());
            continue;
        }
        size += key.len() + 4;
        let (s, d) = bound_value(value, limits, &mut || format!("body.{key}"), &mut cut_paths);
        size += s;
        depth = depth.max(d);
    }
    for key in unstorable {
        if let Some(Value::Number(n)) = body.remove(&key) {
            set_invalid(body, key, Value::String(n.to_string()));
        }
    }
    if size > limits.max_body_bytes || depth > MAX_BODY_DEPTH {
        let mut text = body.to_value().to_string();
        cut(&mut text, limits.max_body_bytes);
        body.replace_all("_truncated_json", Value::String(text));
        cut_paths.push("body".to_owned());
    }
    cut_paths
}

/// Puts `value` under `body._invalid.{key}`.
fn set_invalid(body: &mut Body, key: String, value: Value) {
    const INVALID: &str = super::fields::INVALID_KEY;
    match body.get_mut(INVALID) {
        Some(Value::Object(map)) => {
            map.insert(key, value);
        }
        _ => body.insert(INVALID, Value::Object([(key, value)].into_iter().collect())),
    }
}

/// Cuts long strings inside `v` and turns unstorable numbers into text, returning an
/// estimate of its JSON size and its depth (1 for a scalar).
fn bound_value(
    v: &mut Value,
    limits: &SizeLimits,
    path: &mut dyn FnMut() -> String,
    cut_paths: &mut Vec<String>,
) -> (usize, usize) {
    match v {
        Value::String(s) => {
            if cut(s, limits.max_string_bytes) {
                cut_paths.push(path());
            }
            (s.len() + 2, 1)
        }
        Value::Array(items) => {
            let (mut size, mut depth) = (2, 0);
            for (i, item) in items.iter_mut().enumerate() {
                let (s, d) =
                    bound_value(item, limits, &mut || format!("{}[{i}]", path()), cut_paths);
                size += 1 + s;
                depth = depth.max(d);
            }
            (size, depth + 1)
        }
        Value::Object(map) => {
            let (mut size, mut depth) = (2, 0);
            for (k, item) in map.iter_mut() {
                let (s, d) =
                    bound_value(item, limits, &mut || format!("{}.{k}", path()), cut_paths);
                size += k.len() + 4 + s;
                depth = depth.max(d);
            }
            (size, depth + 1)
        }
        Value::Number(n) if !storable_number(n) => {
            *v = Value::String(n.to_string());
            (26, 1)
        }
        Value::Number(_) => (24, 1),
        Value::Bool(_) | Value::Null => (5, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_query_and_fragment() {
        for (input, want) in [
            ("https://a.example/p?q=1#f", "https://a.example/p"),
            ("https://a.example/p#f?x", "https://a.example/p"),
            ("https://a.example/p", "https://a.example/p"),
            ("inline", "inline"),
            ("", ""),
        ] {
            let mut s = input.to_owned();
            strip_query(&mut s);
            assert_eq!(s, want, "{input}");
        }
    }

    #[test]
    fn cuts_on_char_boundaries_with_a_mark() {
        let mut s = "ééééé".to_owned(); // 10 bytes
        assert!(cut(&mut s, 6));
        assert!(s.ends_with(CUT_MARK));
        assert!(s.len() <= 6);
        let mut short = "abc".to_owned();
        assert!(!cut(&mut short, 6));
        assert_eq!(short, "abc");
    }

    #[test]
    fn long_strings_are_cut_and_named() {
        let limits = SizeLimits {
            max_string_bytes: 10,
            max_body_bytes: 10_000,
        };
        let mut body = Body::from(
            json!({"a": "x".repeat(50), "n": {"deep": ["y".repeat(20)]}, "ok": "short"}),
        );
        let paths = bound_body(&mut body, &limits);
        assert_eq!(paths, vec!["body.a", "body.n.deep[0]"]);
        assert_eq!(body.str_of("ok"), Some("short"));
        assert!(body.str_of("a").unwrap().len() <= 10);
    }

    #[test]
    fn an_oversized_body_is_replaced_by_cut_json_text() {
        let limits = SizeLimits {
            max_string_bytes: 100,
            max_body_bytes: 500,
        };
        let items: Vec<Value> = (0..100).map(|i| json!(format!("item-{i}"))).collect();
        let mut body = Body::from(json!({ "items": items }));
        let paths = bound_body(&mut body, &limits);
        assert_eq!(paths, vec!["body"]);
        let text = body.str_of("_truncated_json").unwrap();
        assert!(text.starts_with("{\"items\":[\"item-0\""));
        assert!(text.len() <= 500);
    }

    #[test]
    fn unstorable_numbers_become_text() {
        let mut body = Body::from(
            json!({"big": 1e300, "tiny": 1e-200, "ok": 1.5, "n": {"x": -1e200, "y": 7}}),
        );
        let paths = bound_body(&mut body, &SizeLimits::default());
        assert!(paths.is_empty());
        assert_eq!(
            body.to_value(),
            json!({"ok": 1.5, "n": {"x": "-1e+200", "y": 7}, "_invalid": {"big": "1e+300", "tiny": "1e-200"}})
        );
    }

    #[test]
    fn a_body_nested_too_deep_is_kept_as_json_text() {
        let mut deep = json!("leaf");
        for _ in 0..MAX_BODY_DEPTH {
            deep = json!([deep]);
        }
        let mut body = Body::from(json!({ "d": deep.clone() }));
        assert_eq!(bound_body(&mut body, &SizeLimits::default()), vec!["body"]);
        assert!(
            body.str_of("_truncated_json")
                .unwrap()
                .starts_with("{\"d\":[[[[")
        );
        let mut shallow = Body::from(json!({ "d": deep[0].clone() }));
        assert!(bound_body(&mut shallow, &SizeLimits::default()).is_empty());
    }
}
