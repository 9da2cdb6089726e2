//! Report ids: a SHA-256 digest of what makes a report the same report, so that a delivery
//! made again (a browser retry, with a larger `age`) gets the id it had the first time.

use std::fmt::{self, Write as _};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fingerprint;
use super::model::{DOCUMENT_URL, Disposition, Report};

/// A stable identity: site, type, URL, User-Agent, the second the report occurred in, its
/// disposition and its body, as 32 hex digits.
///
/// The disposition counts because decoding takes it out of the body: a page under the same
/// policy enforced and report-only gets two reports that differ in nothing else.
///
/// The digest's input is an unambiguous encoding: strings and collections are prefixed with
/// their length as a LEB128 varint (one byte up to 127), values are tagged. A CSP body's
/// `documentURL` equal to the report's URL is left out: every CSP report has one (decoding
/// fills it in from the URL), so it would only repeat the URL's bytes.
pub(crate) fn report_id(r: &Report) -> String {
    let mut h = Hasher(Sha256::new());
    for part in [r.site.as_str(), r.report_type.as_str(), r.url.as_str()] {
        h.str(part);
    }
    h.str(r.user_agent.as_deref().unwrap_or(""));
    h.varint(r.occurred_at.millis().max(0) as u64 / 1000);
    h.0.update([match r.disposition {
        None => 0,
        Some(Disposition::Enforce) => 1,
        Some(Disposition::Report) => 2,
    }]);
    let skip_document_url = r.document_url_repeats_url();
    for (k, v) in r.body.iter() {
        if skip_document_url && k == DOCUMENT_URL {
            continue;
        }
        h.str(k);
        h.value(v);
    }
    fingerprint::hex(&h.0.finalize(), 16)
}

/// The digest, with the encoding the id is defined by.
struct Hasher(Sha256);

impl Hasher {
    /// A tag byte followed by a length, in one write.
    fn tagged(&mut self, tag: u8, n: u64) {
        // Fixed-size writes for the usual one-byte length: the digest's buffer takes them
        // without a call to `memcpy`.
        if n < 0x80 {
            self.0.update([tag, n as u8]);
        } else {
            self.0.update([tag]);
            self.varint(n);
        }
    }

    fn varint(&mut self, n: u64) {
        if n < 0x80 {
            return self.0.update([n as u8]);
        }
        let mut buf = [0u8; 10];
        let len = leb128(n, &mut buf);
        self.0.update(&buf[..len]);
    }

    /// A string, length-prefixed.
    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.update(s.as_bytes());
    }

    /// A JSON value: a tag, then its content.
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.0.update([0]),
            Value::Bool(b) => self.0.update([1, u8::from(*b)]),
            Value::Number(n) => {
                let mut digits = Digits::default();
                let text = match write!(digits, "{n}") {
                    Ok(()) => digits.as_str(),
                    Err(_) => &n.to_string(),
                };
                self.tagged(2, text.len() as u64);
                self.0.update(text.as_bytes());
            }
            Value::String(s) => {
                self.tagged(3, s.len() as u64);
                self.0.update(s.as_bytes());
            }
            Value::Array(items) => {
                self.tagged(4, items.len() as u64);
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => {
                self.tagged(5, map.len() as u64);
                for (k, item) in map {
                    self.str(k);
                    self.value(item);
                }
            }
        }
    }
}

/// Writes `n` as LEB128 into `out` (room for 10 bytes), returning the bytes written.
fn leb128(mut n: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = low;
            return i + 1;
        }
        out[i] = low | 0x80;
        i += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_lengths() {
        let mut buf = [0u8; 10];
        for (n, want) in [
            (0u64, &[0u8][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let len = leb128(n, &mut buf);
            assert_eq!(&buf[..len], want, "{n}");
        }
    }
}
