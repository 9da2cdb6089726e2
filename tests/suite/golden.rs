//! Golden test: every fixture payload decodes to exactly the normalized output checked in
//! beside it (`NAME.expected.json`). `LOOKOUT_BLESS=1` rewrites the expectations.

use lookout::report::{self, Options, RequestMeta, Timestamp};
use serde_json::{Value, json};

use crate::support::fixtures;

/// The request every fixture is decoded as: no site in the path, a fixed clock and UA.
fn outcome(body: &[u8]) -> Value {
    let meta = RequestMeta {
        user_agent: Some("Golden/1.0 (request header)"),
        ..RequestMeta::new(
            None,
            Timestamp::parse_rfc3339("2026-11-21T12:00:00Z").unwrap(),
        )
    };
    match report::decode(body, &meta, &Options::default()) {
        Ok(batch) => json!({
            "reports": batch.reports,
            "filtered": batch.filtered.iter().map(|f| json!({
                "type": f.report_type.as_str(),
                "reason": f.reason.code(),
            })).collect::<Vec<_>>(),
            "rejected": batch.rejected.iter().map(|r| json!({
                "index": r.index,
                "reason": r.reason.code(),
            })).collect::<Vec<_>>(),
        }),
        Err(e) => json!({"error": e.code(), "detail": e.to_string()}),
    }
}

#[test]
fn every_fixture_decodes_to_its_checked_in_expectation() {
    let bless = std::env::var_os("LOOKOUT_BLESS").is_some();
    let files = fixtures();
    assert!(files.len() >= 30, "fixtures missing: found {}", files.len());
    let mut mismatches = Vec::new();
    for path in &files {
        let got = outcome(&std::fs::read(path).unwrap());
        let expected_path = path.with_extension("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: Value = match std::fs::read(&expected_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => {
                mismatches.push(format!("{}: no expectation file", path.display()));
                continue;
            }
        };
        if got != expected {
            mismatches.push(format!(
                "{}:\n got: {}\nwant: {}",
                path.display(),
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&expected).unwrap()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn every_fixture_yields_reports() {
    // Beyond exact equality: no fixture in the corpus is refused as a whole.
    for path in fixtures() {
        let got = outcome(&std::fs::read(&path).unwrap());
        let stored = got["reports"].as_array().map_or(0, Vec::len);
        let filtered = got["filtered"].as_array().map_or(0, Vec::len);
        assert!(stored + filtered > 0, "{}: {got}", path.display());
    }
}
