//! DynamoDB attribute values to and from JSON, written once for the store:
//!
//! - plain JSON ⇄ [`AttributeValue`] ([`av_of_json`], [`json_of_av`]): a report's attributes
//!   as its item holds them (numbers as `N`, objects as `M`, arrays as `L`; sets read back as
//!   arrays);
//! - DynamoDB's JSON ⇄ [`Item`] ([`item_of_dynamodb_json`], [`dynamodb_json_of_item`]): the
//!   typed form (`{"pk": {"S": "..."}}`, binaries base64) in which Lambda's stream events
//!   carry images;
//! - a DynamoDB Streams API image → [`Item`] ([`item_of_stream_image`], feature `local`): the
//!   local reader of the table's stream.
//!
//! Hand-written rather than through `serde_dynamo`: these few conversions are all the store
//! needs, and they keep numbers as the decimal text DynamoDB sends, without a dependency more
//! in the Lambda artifact.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Number, Value};

use super::item::Item;

/// JSON to a DynamoDB attribute value (numbers as `N`, objects as `M`, arrays as `L`).
pub fn av_of_json(v: Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(av_of_json).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.into_iter().map(|(k, v)| (k, av_of_json(v))).collect())
        }
    }
}

/// A DynamoDB attribute value back to JSON (sets become arrays).
pub fn json_of_av(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(json_of_av).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_of_av(v)))
                .collect(),
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(items.iter().map(|n| number(n)).collect()),
        _ => Value::Null,
    }
}

fn number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(u) = n.parse::<u64>() {
        return Value::from(u);
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(n.to_owned()), Value::Number)
}

/// An item in DynamoDB's JSON form (`{"pk": {"S": "..."}}`), as stream events carry it;
/// `None` for a form report items never have (binaries).
pub fn item_of_dynamodb_json(v: &Value) -> Option<Item> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), av_of_dynamodb_json(v)?)))
        .collect()
}

fn av_of_dynamodb_json(v: &Value) -> Option<AttributeValue> {
    let (tag, inner) = v.as_object()?.iter().next()?;
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    Some(match tag.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "L" => AttributeValue::L(
            inner
                .as_array()?
                .iter()
                .map(av_of_dynamodb_json)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(item_of_dynamodb_json(inner)?),
        // Binaries come base64-encoded (an upload's reports, `upload.rs`).
        "B" => AttributeValue::B(Blob::new(BASE64.decode(inner.as_str()?).ok()?)),
        "BS" => AttributeValue::Bs(
            inner
                .as_array()?
                .iter()
                .map(|b| Some(Blob::new(BASE64.decode(b.as_str()?).ok()?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

/// An item in DynamoDB's JSON form (the inverse of [`item_of_dynamodb_json`]).
pub fn dynamodb_json_of_item(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .filter_map(|(k, v)| Some((k.clone(), dynamodb_json_of_av(v)?)))
            .collect(),
    )
}

fn dynamodb_json_of_av(v: &AttributeValue) -> Option<Value> {
    let (tag, inner) = match v {
        AttributeValue::S(s) => ("S", Value::from(s.as_str())),
        AttributeValue::N(n) => ("N", Value::from(n.as_str())),
        AttributeValue::Bool(b) => ("BOOL", Value::from(*b)),
        AttributeValue::Null(_) => ("NULL", Value::from(true)),
        AttributeValue::Ss(s) => ("SS", Value::from(s.clone())),
        AttributeValue::Ns(s) => ("NS", Value::from(s.clone())),
        AttributeValue::L(items) => (
            "L",
            Value::Array(items.iter().filter_map(dynamodb_json_of_av).collect()),
        ),
        AttributeValue::M(m) => ("M", dynamodb_json_of_item(m)),
        AttributeValue::B(b) => ("B", Value::from(BASE64.encode(b.as_ref()))),
        AttributeValue::Bs(bs) => (
            "BS",
            Value::Array(
                bs.iter()
                    .map(|b| Value::from(BASE64.encode(b.as_ref())))
                    .collect(),
            ),
        ),
        _ => return None,
    };
    Some(serde_json::json!({ tag: inner }))
}

/// An image as the DynamoDB Streams API gives it, as an item (the two SDKs' value types
/// differ only by crate).
#[cfg(feature = "local")]
pub fn item_of_stream_image(
    image: &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Item {
    image
        .iter()
        .map(|(k, v)| (k.clone(), av_of_stream(v)))
        .collect()
}

#[cfg(feature = "local")]
fn av_of_stream(v: &aws_sdk_dynamodbstreams::types::AttributeValue) -> AttributeValue {
    use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
    match v {
        StreamValue::S(s) => AttributeValue::S(s.clone()),
        StreamValue::N(n) => AttributeValue::N(n.clone()),
        StreamValue::Bool(b) => AttributeValue::Bool(*b),
        StreamValue::Ss(s) => AttributeValue::Ss(s.clone()),
        StreamValue::Ns(s) => AttributeValue::Ns(s.clone()),
        StreamValue::L(items) => AttributeValue::L(items.iter().map(av_of_stream).collect()),
        StreamValue::M(m) => AttributeValue::M(item_of_stream_image(m)),
        StreamValue::B(b) => AttributeValue::B(b.clone().into_inner().into()),
        StreamValue::Bs(b) => {
            AttributeValue::Bs(b.iter().map(|b| b.clone().into_inner().into()).collect())
        }
        _ => AttributeValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamodb_json_round_trips_an_item() {
        let item: Item = [
            (
                "pk".to_owned(),
                AttributeValue::S("example.com#csp-violation#0".into()),
            ),
            ("n".to_owned(), AttributeValue::N("-1.5".into())),
            ("b".to_owned(), AttributeValue::Bool(false)),
            ("z".to_owned(), AttributeValue::Null(true)),
            (
                "ss".to_owned(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            ("ns".to_owned(), AttributeValue::Ns(vec!["7".into()])),
            (
                "body".to_owned(),
                AttributeValue::M(
                    [(
                        "l".to_owned(),
                        AttributeValue::L(vec![AttributeValue::S("x".into())]),
                    )]
                    .into(),
                ),
            ),
        ]
        .into();
        let json = dynamodb_json_of_item(&item);
        assert_eq!(
            json["pk"],
            serde_json::json!({"S": "example.com#csp-violation#0"})
        );
        assert_eq!(
            json["body"],
            serde_json::json!({"M": {"l": {"L": [{"S": "x"}]}}})
        );
        assert_eq!(item_of_dynamodb_json(&json), Some(item));
        let binary = serde_json::json!({"pk": {"S": "KEY#visitor"}, "key": {"B": "AAE="}});
        let read = item_of_dynamodb_json(&binary).expect("binaries are read");
        assert_eq!(
            read.get("key"),
            Some(&AttributeValue::B(Blob::new(vec![0u8, 1])))
        );
        assert_eq!(dynamodb_json_of_item(&read), binary);
        assert_eq!(
            item_of_dynamodb_json(&serde_json::json!({"k": {"B": "not base64!"}})),
            None
        );
    }

    #[test]
    fn plain_json_round_trips_through_attribute_values() {
        let json = serde_json::json!({"a": [1, "x", null, true], "b": {"c": 0.25, "d": -3}});
        assert_eq!(json_of_av(&av_of_json(json.clone())), json);
        assert_eq!(
            json_of_av(&AttributeValue::Ns(vec!["1".into(), "2.5".into()])),
            serde_json::json!([1, 2.5])
        );
    }
}
