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
pub(crate) fn apply(body: &mut Map<String, Value>, fields: &[Field]) {
    let mut invalid = Map::new();
    for field in fields {
        let mut value = body.remove(field.name);
        for alias in field.aliases {
            match body.remove(*alias) {
                Some(v) if value.as_ref().is_none_or(Value::is_null) => value = Some(v),
                Some(v) if !v.is_null() => {
                    // Both spellings present: keep the other one as sent.
                    body.insert((*alias).to_owned(), v);
                }
                _ => {}
            }
        }
        let Some(value) = value else { continue };
        match coerce(value, field.kind) {
            Coerced::Keep(v) => {
                body.insert(field.name.to_owned(), v);
            }
            Coerced::Drop => {}
            Coerced::Invalid(v) => {
                invalid.insert(field.name.to_owned(), v);
            }
        }
    }
    body.retain(|_, v| !v.is_null());
    if !invalid.is_empty() {
        body.insert(INVALID_KEY.to_owned(), Value::Object(invalid));
    }
}

enum Coerced {
    Keep(Value),
    Drop,
    Invalid(Value),
}

fn coerce(value: Value, kind: Kind) -> Coerced {
    match (kind, value) {
        (_, Value::Null) => Coerced::Drop,
        (Kind::Any, v) => Coerced::Keep(v),
        (Kind::Str | Kind::Url, Value::String(s)) if s.is_empty() => Coerced::Drop,
        (Kind::Str | Kind::Url | Kind::Date, Value::String(s)) => Coerced::Keep(Value::String(s)),
        (Kind::Str | Kind::Url, Value::Number(n)) => Coerced::Keep(Value::String(n.to_string())),
        (Kind::Str, Value::Bool(b)) => Coerced::Keep(Value::String(b.to_string())),
        (Kind::Int, Value::Number(n)) => match int_of(&n) {
            Some(i) => Coerced::Keep(Value::from(i)),
            None => Coerced::Invalid(Value::Number(n)),
        },
        (Kind::Int, Value::String(s)) => match s.trim() {
            "" => Coerced::Drop,
            t => match t.parse::<i64>() {
                Ok(i) => Coerced::Keep(Value::from(i)),
                Err(_) => Coerced::Invalid(Value::String(s)),
            },
        },
        (Kind::Num, Value::Number(n)) => Coerced::Keep(Value::Number(n)),
        (Kind::Num, Value::String(s)) => match s.trim() {
            "" => Coerced::Drop,
            t => match t.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Coerced::Keep(Value::Number(n)),
                None => Coerced::Invalid(Value::String(s)),
            },
        },
        (Kind::Bool, Value::Bool(b)) => Coerced::Keep(Value::Bool(b)),
        (Kind::Bool, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Coerced::Keep(Value::Bool(true)),
            "false" => Coerced::Keep(Value::Bool(false)),
            _ => Coerced::Invalid(Value::String(s)),
        },
        (Kind::Date, Value::Number(n)) => match n.as_i64() {
            Some(ms) if ms >= 0 => Coerced::Keep(Value::String(Timestamp(ms).to_string())),
            _ => Coerced::Invalid(Value::Number(n)),
        },
        (_, v) => Coerced::Invalid(v),
    }
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
