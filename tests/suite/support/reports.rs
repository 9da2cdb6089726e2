//! Reports for tests: the request they are decoded as, request bodies, and the conformance
//! fixtures.

use std::path::{Path, PathBuf};

use lookout::report::{Options, Report, RequestMeta, Timestamp};

/// A request for `site`, received at `received_at`, with nothing else known of it.
pub fn meta(site: &str, received_at: Timestamp) -> RequestMeta<'_> {
    RequestMeta::new(Some(site), received_at)
}

/// A Reporting API request body: a JSON array of the reports `report` writes for each index
/// of `indices`.
pub fn batch(indices: impl IntoIterator<Item = usize>, report: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = indices.into_iter().map(report).collect();
    format!("[{}]", items.join(","))
}

/// The reports of a request body for `site`, as received at `received_at`, decoded with
/// `opts`.
pub fn decode_with(body: &str, site: &str, received_at: Timestamp, opts: &Options) -> Vec<Report> {
    lookout::report::decode(body.as_bytes(), &meta(site, received_at), opts)
        .unwrap()
        .reports
}

/// The reports of a request body (JSON) for `site`, as received at `received_at`, with the
/// default options.
pub fn decode_json(body: &serde_json::Value, site: &str, received_at: Timestamp) -> Vec<Report> {
    decode_with(&body.to_string(), site, received_at, &Options::default())
}

/// Every fixture request body under `tests/fixtures/` (not the expectations), sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    for dir in ["peers", "lookout"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.ends_with(".expected.json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every fixture's reports (sites from their URLs), received now.
pub fn fixture_reports() -> Vec<Report> {
    let meta = RequestMeta {
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0"),
        ..RequestMeta::new(None, Timestamp::now())
    };
    let mut reports = Vec::new();
    for path in fixtures() {
        let body = std::fs::read(&path).unwrap();
        if let Ok(batch) = lookout::report::decode(&body, &meta, &Options::default()) {
            reports.extend(batch.reports);
        }
    }
    reports
}
