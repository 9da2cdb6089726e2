//! DynamoDB item sizes and write units of the conformance payloads: every report of every
//! fixture under `tests/fixtures/`, decoded as the collector would and turned into its
//! DynamoDB item, sized by DynamoDB's rules.
//!
//! ```sh
//! cargo run --release --example item_sizes
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use lookout::report::{Options, RequestMeta, Timestamp, decode};
use lookout::store::dynamodb::item::{item_size, report_item, write_units};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let meta = RequestMeta {
        site: Some("example.com"),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/156.0.0.0 Safari/537.36",
        ),
        received_at: Timestamp(1_795_305_600_000),
        endpoint: None,
        policy_version: None,
    };
    let mut by_format: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    let mut units = BTreeMap::<String, usize>::new();
    let mut files: Vec<_> = ["peers", "lookout"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("fixtures"))
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    for path in files {
        let body = std::fs::read(&path).expect("fixture");
        let Ok(batch) = decode(&body, &meta, &Options::default()) else {
            continue;
        };
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        for r in &batch.reports {
            let item = report_item(r, 1, 30).unwrap();
            let format = serde_json::to_value(r.format).expect("a format name");
            let key = format!(
                "{} ({})",
                r.report_type.as_str(),
                format.as_str().unwrap_or("")
            );
            let wru = units.entry(key.clone()).or_default();
            *wru = (*wru).max(write_units(&item));
            by_format
                .entry(key)
                .or_default()
                .push((item_size(&item), name.clone()));
        }
    }
    println!(
        "| type (source format) | reports | item bytes: min / median / max | write units (max) |"
    );
    println!("| --- | --- | --- | --- |");
    let mut all = Vec::new();
    for (format, mut sizes) in by_format {
        sizes.sort();
        let n = sizes.len();
        let (min, med, max) = (sizes[0].0, sizes[n / 2].0, sizes[n - 1].0);
        let wru = units[&format];
        println!("| {format} | {n} | {min} / {med} / {max} | {wru} |");
        all.extend(sizes);
    }
    all.sort();
    let n = all.len();
    let over: Vec<_> = all.iter().filter(|(s, _)| *s > 1024).collect();
    println!();
    println!(
        "{n} reports: median {} bytes, 90th percentile {}, max {} ({}); {} over 1 KB{}",
        all[n / 2].0,
        all[n * 9 / 10].0,
        all[n - 1].0,
        all[n - 1].1,
        over.len(),
        if over.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                over.iter()
                    .map(|(s, f)| format!("{f} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
}
