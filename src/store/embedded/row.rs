//! A report's row in the embedded store, and the report read back from it.
//!
//! A row holds in columns what is filtered, grouped and counted on, and keeps in its JSON
//! only the rest: the site, type, fingerprint, grouping key, classification and policy
//! version are the row's problem's (table `problems`, one row per problem); the times and the
//! id are columns; the policy a CSP report carries and the User-Agent are kept once each in
//! `texts` (a site sends the same few of both millions of times); a CSP body's `documentURL`
//! is left out when it only repeats the report's `url`. Reading puts every part back, so a
//! report reads back exactly as it was stored.

use rusqlite::Row as SqlRow;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::report::{Body, Disposition, Report, ReportType, SourceFormat};

/// The CSP body field holding the policy the report was sent under.
const ORIGINAL_POLICY: &str = "originalPolicy";
/// The CSP body field naming the document.
const DOCUMENT_URL: &str = "documentURL";

/// One report, ready to insert.
#[derive(Debug)]
pub(super) struct Row {
    /// The row number to keep (a migrated row keeps its own); `None` appends.
    pub(super) seq: Option<i64>,
    pub(super) id: StoredId,
    pub(super) problem: ProblemKey,
    pub(super) occurred_at: i64,
    pub(super) received_at: i64,
    pub(super) visitor: Option<u8>,
    pub(super) browser: Option<String>,
    pub(super) disposition: Option<&'static str>,
    /// The CSP policy the report carried (kept in `texts`).
    pub(super) policy: Option<String>,
    /// The report's User-Agent (kept in `texts`).
    pub(super) agent: Option<String>,
    /// The report's JSON without what the columns and the problem hold.
    pub(super) json: String,
    /// The window start and id of the report's neighbour, when it has one.
    pub(super) neighbour: Option<(i64, StoredId)>,
}

/// What a row's problem is, as `problems` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ProblemKey {
    pub(super) site: String,
    pub(super) report_type: String,
    pub(super) fingerprint: String,
    pub(super) group: String,
    pub(super) classification: Option<&'static str>,
    pub(super) policy_version: Option<String>,
}

/// A report that could not be laid out as a row.
#[derive(Debug, thiserror::Error)]
pub(super) enum RowError {
    #[error("the report does not serialize: {0}")]
    Json(#[from] serde_json::Error),
}

impl Row {
    pub(super) fn of(r: &Report) -> Result<Self, RowError> {
        // Every field named, so that a field added to `Report` is placed here (in a column or
        // in the JSON) before this compiles: none is dropped unnoticed.
        let Report {
            id,
            site,
            report_type,
            url,
            user_agent,
            browser,
            received_at,
            occurred_at,
            age_ms,
            time_untrusted,
            disposition,
            classification,
            policy_version,
            endpoint,
            format,
            fingerprint,
            group,
            body,
            truncated,
            visitor,
        } = r;
        let policy = body.get(ORIGINAL_POLICY).and_then(Value::as_str);
        let rest = Rest {
            url,
            browser: browser.as_deref(),
            age_ms: *age_ms,
            time_untrusted: *time_untrusted,
            disposition: *disposition,
            endpoint: endpoint.as_deref(),
            format: *format,
            body: SlimBody {
                body,
                policy_kept_apart: policy.is_some(),
                document_url_repeats_url: *report_type == ReportType::CspViolation
                    && body.get(DOCUMENT_URL).and_then(Value::as_str) == Some(url.as_str()),
            },
            truncated,
            visitor: *visitor,
        };
        Ok(Self {
            seq: None,
            id: id_bytes(id),
            problem: ProblemKey {
                site: site.clone(),
                report_type: report_type.as_str().to_owned(),
                fingerprint: fingerprint.clone(),
                group: group.clone(),
                classification: classification.map(|c| c.as_str()),
                policy_version: policy_version.clone(),
            },
            occurred_at: occurred_at.millis(),
            received_at: received_at.millis(),
            visitor: *visitor,
            browser: browser.clone(),
            disposition: disposition.map(|d| d.as_str()),
            policy: policy.map(str::to_owned),
            agent: user_agent.clone(),
            json: serde_json::to_string(&rest)?,
            neighbour: r.neighbour().map(|n| (n.window.millis(), id_bytes(&n.id))),
        })
    }
}

/// The report's fields kept in its row's JSON, named as `Report` serializes them (reading puts
/// the others back and deserializes a `Report`).
#[derive(Serialize)]
struct Rest<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    browser: Option<&'a str>,
    age_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    time_untrusted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    disposition: Option<Disposition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    format: SourceFormat,
    body: SlimBody<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    truncated: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    visitor: Option<u8>,
}

/// A body without its policy (kept in `texts`) and, for CSP, without a `documentURL` that only
/// repeats the report's URL.
struct SlimBody<'a> {
    body: &'a Body,
    policy_kept_apart: bool,
    document_url_repeats_url: bool,
}

impl Serialize for SlimBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.body.iter() {
            let apart = (self.policy_kept_apart && k == ORIGINAL_POLICY)
                || (self.document_url_repeats_url && k == DOCUMENT_URL);
            if !apart {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

/// An id as stored: the 16 bytes its 32 hex digits spell (half the size of the text), or the
/// text itself for any other id (ids are made by `report::id`, always hex). SQLite keeps a
/// value's type, so the two never compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoredId {
    Hex(Vec<u8>),
    Text(String),
}

impl rusqlite::ToSql for StoredId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Hex(b) => b.to_sql(),
            Self::Text(t) => t.to_sql(),
        }
    }
}

pub(super) fn id_bytes(id: &str) -> StoredId {
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let digits = id.as_bytes();
    if digits.len() != 32 {
        return StoredId::Text(id.to_owned());
    }
    let mut out = Vec::with_capacity(16);
    for pair in digits.chunks(2) {
        match (hex(pair[0]), hex(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return StoredId::Text(id.to_owned()),
        }
    }
    StoredId::Hex(out)
}

/// An id read back from its stored value.
fn id_text(row: &SqlRow<'_>, at: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    match row.get_ref(at)? {
        ValueRef::Blob(b) => Ok(b.iter().map(|b| format!("{b:02x}")).collect()),
        ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
        other => Err(rusqlite::Error::InvalidColumnType(
            at,
            "id".into(),
            other.data_type(),
        )),
    }
}

/// The columns [`report_of`] reads, over `reports r` joined with its problem `p` and the
/// texts `pol` (policy) and `ua` (User-Agent).
pub(super) const REPORT_COLUMNS: &str = "r.id, r.occurred_at, r.received_at, r.report, p.site, \
     p.type, p.fingerprint, p.grp, p.classification, p.policy_version, pol.text, ua.text";

/// The joins [`REPORT_COLUMNS`] needs after `FROM reports r`.
pub(super) const REPORT_JOINS: &str = "JOIN problems p ON p.id = r.problem \
     LEFT JOIN texts pol ON pol.id = r.policy LEFT JOIN texts ua ON ua.id = r.agent";

/// A row's report, from the columns [`REPORT_COLUMNS`] names starting at `at`.
pub(super) fn columns_of(row: &SqlRow<'_>, at: usize) -> rusqlite::Result<StoredColumns> {
    Ok(StoredColumns {
        id: id_text(row, at)?,
        occurred_at: row.get(at + 1)?,
        received_at: row.get(at + 2)?,
        json: row.get(at + 3)?,
        site: row.get(at + 4)?,
        report_type: row.get(at + 5)?,
        fingerprint: row.get(at + 6)?,
        group: row.get(at + 7)?,
        classification: row.get(at + 8)?,
        policy_version: row.get(at + 9)?,
        policy: row.get(at + 10)?,
        agent: row.get(at + 11)?,
    })
}

/// A report's parts as read from its row.
#[derive(Debug)]
pub(super) struct StoredColumns {
    id: String,
    occurred_at: i64,
    received_at: i64,
    json: String,
    site: String,
    report_type: String,
    fingerprint: String,
    group: String,
    classification: Option<String>,
    policy_version: Option<String>,
    policy: Option<String>,
    agent: Option<String>,
}

impl StoredColumns {
    /// The report's id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }
}

/// A report put back together from its row.
pub(super) fn report_of(c: StoredColumns) -> Result<Report, serde_json::Error> {
    let mut map: Map<String, Value> = serde_json::from_str(&c.json)?;
    let url = map.get("url").and_then(Value::as_str).map(str::to_owned);
    map.insert("id".into(), Value::String(c.id));
    map.insert("site".into(), Value::String(c.site));
    map.insert("fingerprint".into(), Value::String(c.fingerprint));
    map.insert("group".into(), Value::String(c.group));
    map.insert(
        "occurred_at".into(),
        serde_json::to_value(crate::report::Timestamp(c.occurred_at))?,
    );
    map.insert(
        "received_at".into(),
        serde_json::to_value(crate::report::Timestamp(c.received_at))?,
    );
    if let Some(class) = c.classification {
        map.insert("classification".into(), Value::String(class));
    }
    if let Some(v) = c.policy_version {
        map.insert("policy_version".into(), Value::String(v));
    }
    if let Some(ua) = c.agent {
        map.insert("user_agent".into(), Value::String(ua));
    }
    let is_csp = c.report_type == ReportType::CspViolation.as_str();
    if let Some(Value::Object(body)) = map.get_mut("body") {
        if let Some(p) = c.policy {
            body.insert(ORIGINAL_POLICY.into(), Value::String(p));
        }
        if is_csp && let Some(url) = url {
            body.entry(DOCUMENT_URL).or_insert(Value::String(url));
        }
    }
    map.insert("type".into(), Value::String(c.report_type));
    serde_json::from_value(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_take_half_their_text_and_others_stay_text() {
        let id = "0123456789abcdef0123456789abcdef";
        assert!(matches!(id_bytes(id), StoredId::Hex(b) if b.len() == 16 && b[0] == 0x01));
        for other in [
            "abc",
            "0123456789ABCDEF0123456789ABCDEF",
            "",
            "zz23456789abcdef0123456789abcdef",
        ] {
            assert_eq!(
                id_bytes(other),
                StoredId::Text(other.to_owned()),
                "{other:?}"
            );
        }
    }

    #[test]
    fn ids_read_back_as_written() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        for id in ["00ff56789abcdef0123456789abcdef0", "abc"] {
            let got: String = c
                .query_row("SELECT ?1", [id_bytes(id)], |r| id_text(r, 0))
                .unwrap();
            assert_eq!(got, id);
        }
    }
}
