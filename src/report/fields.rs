//! Typing of known body fields: renames from older vocabularies, coercion of numbers sent as
//! strings, removal of nulls. A value of the wrong kind is moved under `_invalid`, not lost.

use serde_json::{Map, Number, Value};

use super::model::Timestamp;

/// The kind a known field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string; numbers and booleans are turned into strings, empty strings removed.
    Str,
    /// A URL (or a CSP keyword such as `inline`): a string subject to privacy stripping.
    Url,
    /// A whole number; numeric strings are parsed.
    Int,
    /// Any number; numeric strings are parsed.
    Num,
    /// A boolean; `"true"`/`"false"` are parsed.
    Bool,
    /// A date: a string is kept, epoch milliseconds become RFC 3339.
    Date,
    /// An array or object, kept as sent.
    Any,
}

/// A known body field: its current name, its kind and the names older browsers used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub aliases: &'static [&'static str],
}

/// Shorthand for a field without aliases.
pub(crate) const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        aliases: &[],
    }
}

/// Shorthand for a field with aliases.
pub(crate) const fn fa(name: &'static str, kind: Kind, aliases: &'static [&'static str]) -> Field {
    Field {
        name,
        kind,
        aliases,
    }
}

/// The key under which values of the wrong kind are kept.
pub(crate) const INVALID_KEY: &str = "_invalid";

/// Applies `fields` to `body`: renames aliases, coerces kinds, drops nulls everywhere at the top
/// level, and moves values that cannot be coerced under `_invalid`.
///
/// One pass over the body's entries (no per-field map searches): reports arrive by the
/// thousand, and most of their keys are known.
pub(crate) fn apply(body: &mut Map<String, Value>, fields: &[Field]) {
    let old = std::mem::take(body);
    // An alias yields to its field's current name when both were sent.
    let mut current_sent = [false; 32];
    for (i, field) in fields.iter().enumerate().take(32) {
        current_sent[i] =
            !field.aliases.is_empty() && old.get(field.name).is_some_and(|v| !v.is_null());
    }
    let mut invalid = Map::new();
    for (key, mut value) in old {
        if value.is_null() {
            continue;
        }
        let found = fields.iter().enumerate().find_map(|(i, f)| {
            if f.name == key {
                Some((i, f, false))
            } else if f.aliases.contains(&key.as_str()) {
                Some((i, f, true))
            } else {
                None
            }
        });
        let Some((i, field, is_alias)) = found else {
            body.insert(key, value);
            continue;
        };
        if is_alias && current_sent.get(i).copied().unwrap_or(false) {
            body.insert(key, value);
            continue;
        }
        let name = if is_alias { field.name.to_owned() } else { key };
        match coerce(&mut value, field.kind) {
            Coerced::Keep => {
                body.insert(name, value);
            }
            Coerced::Drop => {}
            Coerced::Invalid => {
                invalid.insert(name, value);
            }
        }
    }
    if !invalid.is_empty() {
        body.insert(INVALID_KEY.to_owned(), Value::Object(invalid));
    }
}

enum Coerced {
    Keep,
    Drop,
    Invalid,
}

/// Coerces `value` in place to `kind`, or says to drop it or set it aside.
fn coerce(value: &mut Value, kind: Kind) -> Coerced {
    let replacement = match (kind, &*value) {
        (_, Value::Null) => return Coerced::Drop,
        (Kind::Any, _) => return Coerced::Keep,
        (Kind::Str | Kind::Url, Value::String(s)) if s.is_empty() => return Coerced::Drop,
        (Kind::Str | Kind::Url | Kind::Date, Value::String(_)) => return Coerced::Keep,
        (Kind::Str | Kind::Url, Value::Number(n)) => Value::String(n.to_string()),
        (Kind::Str, Value::Bool(b)) => Value::String(b.to_string()),
        (Kind::Int, Value::Number(n)) => match int_of(n) {
            Some(_) if n.is_i64() => return Coerced::Keep,
            Some(i) => Value::from(i),
            None => return Coerced::Invalid,
        },
        (Kind::Int, Value::String(s)) => match s.trim() {
            "" => return Coerced::Drop,
            t => match t.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => return Coerced::Invalid,
            },
        },
        (Kind::Num, Value::Number(_)) | (Kind::Bool, Value::Bool(_)) => return Coerced::Keep,
        (Kind::Num, Value::String(s)) => match s.trim() {
            "" => return Coerced::Drop,
            t => match t.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Coerced::Invalid,
            },
        },
        (Kind::Bool, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Coerced::Invalid,
        },
        (Kind::Date, Value::Number(n)) => match n.as_i64() {
            Some(ms) if ms >= 0 => Value::String(Timestamp(ms).to_string()),
            _ => return Coerced::Invalid,
        },
        _ => return Coerced::Invalid,
    };
    *value = replacement;
    Coerced::Keep
}

/// A number as a whole number, if it is one (a float like `36.0` counts).
fn int_of(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// The string value of `key`, if it is a non-empty string.
pub(crate) fn str_of<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, fields: &[Field]) -> Value {
        let mut m = v.as_object().unwrap().clone();
        apply(&mut m, fields);
        Value::Object(m)
    }

    #[test]
    fn renames_aliases_and_coerces_numbers_sent_as_strings() {
        let out = run(
            json!({"line-number": "36", "status-code": "200", "extra": 1}),
            &[
                fa("lineNumber", Kind::Int, &["line-number"]),
                fa("statusCode", Kind::Int, &["status-code"]),
            ],
        );
        assert_eq!(
            out,
            json!({"lineNumber": 36, "statusCode": 200, "extra": 1})
        );
    }

    #[test]
    fn drops_nulls_and_empty_strings_and_keeps_invalid_values_aside() {
        let out = run(
            json!({"a": null, "b": "", "c": "x", "n": "abc", "u": null, "o": {"k": 1}}),
            &[f("b", Kind::Str), f("n", Kind::Int), f("o", Kind::Str)],
        );
        assert_eq!(
            out,
            json!({"c": "x", "_invalid": {"n": "abc", "o": {"k": 1}}})
        );
    }

    #[test]
    fn epoch_millisecond_dates_become_rfc3339() {
        let out = run(
            json!({"anticipatedRemoval": 1580529600000u64}),
            &[f("anticipatedRemoval", Kind::Date)],
        );
        assert_eq!(
            out,
            json!({"anticipatedRemoval": "2020-02-01T04:00:00.000Z"})
        );
    }

    #[test]
    fn booleans_and_floats() {
        let out = run(
            json!({"b": "TRUE", "i": 36.0, "x": 1.5, "s": 0.5}),
            &[
                f("b", Kind::Bool),
                f("i", Kind::Int),
                f("x", Kind::Int),
                f("s", Kind::Num),
            ],
        );
        assert_eq!(
            out,
            json!({"b": true, "i": 36, "s": 0.5, "_invalid": {"x": 1.5}})
        );
    }

    #[test]
    fn a_present_current_name_wins_over_an_alias() {
        let out = run(
            json!({"featureId": "camera", "policyId": "geolocation"}),
            &[fa("featureId", Kind::Str, &["policyId"])],
        );
        assert_eq!(
            out,
            json!({"featureId": "camera", "policyId": "geolocation"})
        );
    }
}
