//! The optional archive: every new report, as one line of JSON, in gzip-compressed objects
//! under `reports/dt=YYYY-MM-DD/site=SITE/` (the Hive layout Athena's partition projection and
//! DuckDB read), written per stream batch and partition, never per report.
//!
//! An object's key is its partition plus the first stream sequence number of its reports, so
//! a batch delivered again (Lambda retries a failed batch from the same record) writes the
//! same keys and replaces the same objects: the archive holds each report once.

pub mod s3;

use std::collections::BTreeMap;
use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use thiserror::Error;

use crate::report::Report;
use crate::store::dynamodb::stream::padded;

/// Where archived reports start in the bucket.
pub const PREFIX: &str = "reports/";

/// One object to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// `reports/dt=YYYY-MM-DD/site=SITE/{first sequence number}.json.gz`.
    pub key: String,
    /// The reports as JSON lines, gzip-compressed.
    pub body: Vec<u8>,
    /// How many reports it holds.
    pub reports: usize,
}

/// An archive that could not be written.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// An object did not compress (a defect).
    #[error("compressing an archive object: {0}")]
    Compress(#[from] std::io::Error),
    /// A report did not serialize (a defect).
    #[error("serializing a report: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The object store refused or failed a write.
    #[error("writing {key}: {message}")]
    Write {
        /// The object's key.
        key: String,
        /// What the object store said.
        message: String,
    },
}

/// The partition of a report: the UTC day it occurred (the day `lookout top` counts it
/// under) and its site.
pub fn partition(report: &Report) -> String {
    format!(
        "{PREFIX}dt={}/site={}/",
        report.occurred_at.day(),
        report.site
    )
}

/// The objects for one stream batch: `(sequence number, report)` pairs, in any order, become
/// one object per partition, its lines in sequence order.
pub fn objects<'a>(
    batch: impl IntoIterator<Item = (&'a str, &'a Report)>,
) -> Result<Vec<Object>, ArchiveError> {
    let mut partitions: BTreeMap<String, Vec<(String, &Report)>> = BTreeMap::new();
    for (sequence, report) in batch {
        partitions
            .entry(partition(report))
            .or_default()
            .push((padded(sequence), report));
    }
    partitions
        .into_iter()
        .map(|(prefix, mut reports)| {
            reports.sort_by(|a, b| a.0.cmp(&b.0));
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            for (_, report) in &reports {
                serde_json::to_writer(&mut gz, report)?;
                gz.write_all(b"\n")?;
            }
            Ok(Object {
                key: format!("{prefix}{}.json.gz", reports[0].0),
                body: gz.finish()?,
                reports: reports.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Options, RequestMeta, Timestamp, decode};
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn reports(site: &str, n: usize) -> Vec<Report> {
        let body: String = format!(
            "[{}]",
            (0..n)
                .map(|i| format!(r#"{{"type":"csp-violation","age":{i},"url":"https://{site}/","body":{{"effectiveDirective":"img-src","blockedURL":"https://x.example/{i}.png","documentURL":"https://{site}/"}}}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        // Received 2026-11-22T12:00:00Z.
        let meta = RequestMeta::new(Some(site), Timestamp(1_795_348_800_000));
        decode(body.as_bytes(), &meta, &Options::default())
            .unwrap()
            .reports
    }

    fn lines(object: &Object) -> Vec<serde_json::Value> {
        let mut text = String::new();
        GzDecoder::new(&object.body[..])
            .read_to_string(&mut text)
            .unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_batch_is_one_object_per_day_and_site_keyed_by_its_first_record() {
        let a = reports("example.com", 3);
        let b = reports("example.org", 2);
        let batch: Vec<(String, &Report)> = a
            .iter()
            .chain(&b)
            .enumerate()
            .map(|(i, r)| ((900 - i).to_string(), r))
            .collect();
        let objects = objects(batch.iter().map(|(s, r)| (s.as_str(), *r))).unwrap();
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(objects.len(), 2, "{keys:?}");
        assert_eq!(
            objects[0].key,
            format!(
                "reports/dt=2026-11-22/site=example.com/{:0>40}.json.gz",
                898
            )
        );
        assert_eq!(objects[0].reports, 3);
        assert!(
            objects[1]
                .key
                .starts_with("reports/dt=2026-11-22/site=example.org/")
        );
        let first = lines(&objects[0]);
        assert_eq!(first.len(), 3);
        // Lines in stream order: the highest index had the lowest sequence number.
        assert_eq!(first[0]["id"], a[2].id.as_str());
        assert_eq!(first[0]["type"], "csp-violation");
        assert_eq!(first[0]["site"], "example.com");
    }

    #[test]
    fn the_same_batch_gives_the_same_objects() {
        let a = reports("example.com", 4);
        let batch = || {
            a.iter()
                .enumerate()
                .map(|(i, r)| (["7", "8", "9", "10"][i], r))
        };
        assert_eq!(objects(batch()).unwrap(), objects(batch().rev()).unwrap());
    }
}
