//! Report ids: a SHA-256 digest of what makes a report the same report, so that a delivery
//! made again (a browser retry, with a larger `age`) gets the id it had the first time.

use std::fmt::{self, Write as _};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::body::Body;
use super::fingerprint;
use super::model::Report;

/// A stable identity: site, type, URL, User-Agent, the second the report occurred in and its
/// body, as 16 hex digits.
pub(crate) fn report_id(r: &Report, body: &Body) -> String {
    let mut h = Hasher(Sha256::new());
    for part in [r.site.as_str(), r.report_type.as_str(), r.url.as_str()] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    h.update(r.user_agent.as_deref().unwrap_or("").as_bytes());
    h.update(&[0]);
    h.update(&(r.occurred_at.millis() / 1000).to_le_bytes());
    for (k, v) in body.iter() {
        h.str(k);
        h.value(v);
    }
    fingerprint::hex(&h.0.finalize(), 16)
}

/// The digest, with the encoding of strings and JSON values the id is defined by.
struct Hasher(Sha256);

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// A string, length-prefixed.
    fn str(&mut self, s: &str) {
        self.update(&(s.len() as u64).to_le_bytes());
        self.update(s.as_bytes());
    }

    /// A JSON value, unambiguously (tagged, strings length-prefixed).
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.update(&[0]),
            Value::Bool(b) => self.update(&[1, u8::from(*b)]),
            Value::Number(n) => {
                self.update(&[2]);
                let mut digits = Digits::default();
                match write!(digits, "{n}") {
                    Ok(()) => self.str(digits.as_str()),
                    Err(_) => self.str(&n.to_string()),
                }
            }
            Value::String(s) => {
                self.update(&[3]);
                self.str(s);
            }
            Value::Array(items) => {
                self.update(&[4]);
                self.update(&(items.len() as u64).to_le_bytes());
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.update(&[5]);
                self.update(&(map.len() as u64).to_le_bytes());
                for (k, item) in map {
                    self.str(k);
                    self.value(item);
                }
            }
        }
    }
}

/// A number's text on the stack: serde_json writes at most 24 bytes for one (longer text
/// falls back to a `String`).
#[derive(Default)]
struct Digits {
    buf: [u8; 32],
    len: usize,
}

impl Digits {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for Digits {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let room = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
