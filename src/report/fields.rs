//! Typing of known body fields: renames from older vocabularies, coercion of numbers sent as
//! strings, removal of nulls. A value of the wrong kind is moved under `_invalid`, not lost.

use std::borrow::Cow;
use std::collections::HashMap;

use foldhash::fast::RandomState;
use serde_json::{Map, Number, Value};

use super::body::Body;
use super::model::{Disposition, Timestamp};
use super::node::{Entries, Node, last};

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

/// A type's known fields, with an index from every name and alias to its field.
#[derive(Debug)]
pub(crate) struct Schema {
    /// The fields, in table order.
    pub fields: &'static [Field],
    /// Name or alias → (field position, whether it is an alias). An earlier field wins a
    /// name two fields share.
    index: HashMap<&'static str, (usize, bool), RandomState>,
}

impl Schema {
    /// Indexes `fields`.
    pub(crate) fn new(fields: &'static [Field]) -> Self {
        let mut index = HashMap::with_hasher(RandomState::default());
        for (i, f) in fields.iter().enumerate() {
            index.entry(f.name).or_insert((i, false));
            for alias in f.aliases {
                index.entry(*alias).or_insert((i, true));
            }
        }
        Self { fields, index }
    }

    /// The kind of the field `name` is the current name of.
    fn kind_of(&self, name: &str) -> Option<Kind> {
        match self.find(name)? {
            (_, field, false) => Some(field.kind),
            _ => None,
        }
    }

    /// The field a key names, its position, and whether the key is an alias.
    fn find(&self, key: &str) -> Option<(usize, &'static Field, bool)> {
        let &(i, is_alias) = self.index.get(key)?;
        Some((i, &self.fields[i], is_alias))
    }
}

/// The key under which values of the wrong kind are kept.
pub(crate) const INVALID_KEY: &str = "_invalid";

/// Types a body's entries with `fields`: renames aliases, coerces kinds, drops nulls everywhere
/// at the top level, and moves values that cannot be coerced under `_invalid`.
///
/// Entries are taken in key order with the last duplicate winning, as a JSON object parsed
/// into a map would give them; an alias yields to its field's current name when both were sent.
pub(crate) fn apply(mut entries: Entries<'_>, schema: &Schema) -> Body {
    // Stable: among equal keys the document order stays, so the last of a run is the last sent.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
    entries.retain(|(_, v)| !matches!(v, Node::Null));
    let mut current_sent = vec![false; schema.fields.len()];
    for (key, _) in &entries {
        if let Some((i, _, false)) = schema.find(key) {
            current_sent[i] = true;
        }
    }
    let mut body = Body::with_capacity(entries.len() + 1);
    let mut invalid = Map::new();
    for (key, value) in entries {
        match schema.find(&key) {
            Some((i, field, is_alias)) if !(is_alias && current_sent[i]) => {
                match coerce(value, field.kind) {
                    Coerced::Keep(v) => body.insert(Cow::Borrowed(field.name), v),
                    Coerced::Drop => {}
                    Coerced::Invalid(v) => {
                        invalid.insert(field.name.to_owned(), v);
                    }
                }
            }
            _ => body.insert(Cow::Owned(key.into_owned()), value.into_value()),
        }
    }
    if !invalid.is_empty() {
        body.insert(INVALID_KEY, Value::Object(invalid));
    }
    body
}

/// Takes a body's disposition out of its entries before they are typed, in either
/// vocabulary: a boolean `reportOnly` (integrity reports; also `"true"`/`"false"` where the
/// type knows the field as a boolean), else a `disposition` word. When it is neither, the
/// entries keep it and it is typed like any other field. Neither name is an alias of another
/// field's or has aliases (a test checks the tables), so taking them first changes nothing else.
pub(crate) fn take_disposition(entries: &mut Entries<'_>, schema: &Schema) -> Option<Disposition> {
    let report_only = match last(entries, "reportOnly") {
        Some(Node::Bool(b)) => Some(*b),
        Some(Node::Str(s)) if schema.kind_of("reportOnly") == Some(Kind::Bool) => bool_word(s),
        _ => None,
    };
    if let Some(report_only) = report_only {
        entries.retain(|(k, _)| k != "reportOnly");
        return Some(if report_only {
            Disposition::Report
        } else {
            Disposition::Enforce
        });
    }
    let disposition = match last(entries, "disposition") {
        Some(Node::Str(s)) => Disposition::from_word(s)?,
        _ => return None,
    };
    entries.retain(|(k, _)| k != "disposition");
    Some(disposition)
}

/// `true` or `false`, in any case, around spaces.
fn bool_word(s: &str) -> Option<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

enum Coerced {
    Keep(Value),
    Drop,
    Invalid(Value),
}

/// Coerces `node` to `kind`, or says to drop it or set it aside.
fn coerce(node: Node<'_>, kind: Kind) -> Coerced {
    use Coerced::{Drop, Invalid, Keep};
    match (kind, node) {
        (_, Node::Null) => Drop,
        (Kind::Any, v) => Keep(v.into_value()),
        (Kind::Str | Kind::Url, Node::Str(s)) if s.is_empty() => Drop,
        (Kind::Str | Kind::Url | Kind::Date, Node::Str(s)) => Keep(Value::String(s.into_owned())),
        (Kind::Str | Kind::Url, Node::Num(n)) => Keep(Value::String(n.to_string())),
        (Kind::Str, Node::Bool(b)) => Keep(Value::String(b.to_string())),
        (Kind::Int, Node::Num(n)) => match int_of(&n) {
            Some(_) if n.is_i64() => Keep(Value::Number(n)),
            Some(i) => Keep(Value::from(i)),
            None => Invalid(Value::Number(n)),
        },
        (Kind::Int, Node::Str(s)) => match s.trim() {
            "" => Drop,
            t => match t.parse::<i64>() {
                Ok(i) => Keep(Value::from(i)),
                Err(_) => Invalid(Value::String(s.into_owned())),
            },
        },
        (Kind::Num, Node::Num(n)) => Keep(Value::Number(n)),
        (Kind::Bool, Node::Bool(b)) => Keep(Value::Bool(b)),
        (Kind::Num, Node::Str(s)) => match s.trim() {
            "" => Drop,
            t => match t.parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Keep(Value::Number(n)),
                None => Invalid(Value::String(s.into_owned())),
            },
        },
        (Kind::Bool, Node::Str(s)) => match bool_word(&s) {
            Some(b) => Keep(Value::Bool(b)),
            None => Invalid(Value::String(s.into_owned())),
        },
        (Kind::Date, Node::Num(n)) => match n.as_i64() {
            Some(ms) if (0..=Timestamp::MAX.millis()).contains(&ms) => {
                Keep(Value::String(Timestamp(ms).to_string()))
            }
            _ => Invalid(Value::Number(n)),
        },
        (_, v) => Invalid(v.into_value()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(v: Value, fields: &[Field]) -> Value {
        run_text(&v.to_string(), fields)
    }

    fn run_text(text: &str, fields: &[Field]) -> Value {
        let Node::Object(entries) = serde_json::from_str::<Node<'_>>(text).unwrap() else {
            panic!("not an object")
        };
        let fields: &'static [Field] = Box::leak(fields.to_vec().into_boxed_slice());
        Value::Object(apply(entries, &Schema::new(fields)).into_map())
    }

    #[test]
    fn dispositions_are_taken_out_in_every_vocabulary() {
        use super::super::ReportType;
        use super::super::schema::schema_of;
        let take = |t: ReportType, text: &str| {
            let Node::Object(mut entries) = serde_json::from_str::<Node<'_>>(text).unwrap() else {
                panic!("not an object")
            };
            let d = take_disposition(&mut entries, schema_of(&t));
            let left: Vec<String> = entries.iter().map(|(k, _)| k.to_string()).collect();
            (d, left)
        };
        let integrity = ReportType::IntegrityViolation;
        let csp = ReportType::CspViolation;
        let (report, enforce) = (Some(Disposition::Report), Some(Disposition::Enforce));
        for (t, text, want, left) in [
            (
                &csp,
                r#"{"disposition":" Report-Only ","x":1}"#,
                report,
                &["x"][..],
            ),
            (
                &csp,
                r#"{"disposition":"enforce","disposition":"odd"}"#,
                None,
                &["disposition", "disposition"],
            ),
            (
                &csp,
                r#"{"disposition":"odd","disposition":"enforce"}"#,
                enforce,
                &[],
            ),
            (&csp, r#"{"disposition":7}"#, None, &["disposition"]),
            (
                &integrity,
                r#"{"reportOnly":true,"disposition":"enforce"}"#,
                report,
                &["disposition"],
            ),
            (&integrity, r#"{"reportOnly":" FALSE "}"#, enforce, &[]),
            (
                &integrity,
                r#"{"reportOnly":"maybe"}"#,
                None,
                &["reportOnly"],
            ),
            // Where the type does not know `reportOnly`, only a boolean counts.
            (
                &csp,
                r#"{"reportOnly":"true","disposition":"report"}"#,
                report,
                &["reportOnly"],
            ),
            (&csp, r#"{"reportOnly":false}"#, enforce, &[]),
        ] {
            assert_eq!(
                take(t.clone(), text),
                (want, left.iter().map(|s| s.to_string()).collect()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_legacy_csp_body_is_typed_and_sorted() {
        let text = r#"{"document-uri":"https://e.com/p","referrer":"","violated-directive":"img-src","effective-directive":"img-src","original-policy":"default-src 'self'","disposition":"report","blocked-uri":"https://t.example/x.gif","status-code":200,"script-sample":"","line-number":"7"}"#;
        let Node::Object(entries) = serde_json::from_str::<Node<'_>>(text).unwrap() else {
            unreachable!()
        };
        let schema = super::super::schema::schema_of(&super::super::ReportType::CspViolation);
        let body = apply(entries, schema);
        assert_eq!(body["lineNumber"], 7);
        assert_eq!(body.last_key(), Some("violatedDirective"));
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

    #[test]
    fn duplicates_resolve_as_a_parsed_map_would() {
        // The last duplicate counts; of two aliases, the later in key order wins
        // (`blocked` < `blocked-uri`), whatever order they were sent in.
        let fields = [fa("blockedURL", Kind::Url, &["blocked-uri", "blocked"])];
        for text in [
            r#"{"blocked-uri":"a","blocked":"b","x":1,"x":2}"#,
            r#"{"x":1,"blocked":"b","x":2,"blocked-uri":"a"}"#,
        ] {
            assert_eq!(
                run_text(text, &fields),
                json!({"blockedURL": "a", "x": 2}),
                "{text}"
            );
        }
        // A null last duplicate removes the key, and the alias then stands in for it.
        assert_eq!(
            run_text(
                r#"{"blockedURL":"z","blockedURL":null,"blocked":"b"}"#,
                &fields
            ),
            json!({"blockedURL": "b"})
        );
    }
}
