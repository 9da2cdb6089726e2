//! The archive: a stream batch written by the archive function's handler to S3 (moto's
//! server), then read back by a real SQL engine over the Hive layout Athena reads (DuckDB's
//! `read_json` with `hive_partitioning`), which counts what `lookout top` counts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use lookout::archive::s3::S3Archive;
use lookout::aws::AwsEndpoint;
use lookout::report::Timestamp;
use lookout::store::ReportStore;

use crate::emulator::{self, emulator};
use crate::support::{fixture_reports, run_lookout};

async fn s3_client() -> aws_sdk_s3::Client {
    AwsEndpoint::new(Some(emulator::s3().url.clone()), Some("us-east-1".into()))
        .s3_from_environment()
        .unwrap()
}

/// Every object under the archive's prefix: key, bytes.
async fn objects(client: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(lookout::archive::PREFIX)
        .send()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for o in listed.contents() {
        let key = o.key().unwrap().to_owned();
        let body = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .to_vec();
        out.insert(key, body);
    }
    out
}

/// DuckDB over the downloaded layout: `(fingerprint, count)` for one site since a day.
fn duckdb_counts(root: &Path, site: &str, since_day: &str) -> BTreeMap<String, u64> {
    let script = r#"
import duckdb, json, sys
root, site, since = sys.argv[1:4]
rows = duckdb.sql(f"""
    SELECT fingerprint, count(*) AS n
    FROM read_json('{root}/reports/*/*/*.json.gz', format = 'newline_delimited',
                   hive_partitioning = true)
    WHERE site = '{site}' AND dt >= '{since}'
    GROUP BY fingerprint
""").fetchall()
print(json.dumps(dict(rows)))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root)
        .arg(site)
        .arg(since_day)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "DuckDB (scripts/setup-test-tools installs it) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_archive_holds_each_new_report_once_and_duckdb_counts_what_top_counts() {
    // The reports in a table, its stream as Lambda delivers it, counted as the stack does.
    let (store, _client, table) = emulator::store_with(1).await;
    let reports = fixture_reports();
    assert!(reports.len() >= 30, "{} reports", reports.len());
    store.put(&reports).await.unwrap();
    let event = emulator::stream_event(&table).await;
    lookout::lambda::handle_stream(&store, None, &event)
        .await
        .unwrap();

    // The archive function's handler, twice: as when Lambda retries the batch.
    let s3 = s3_client().await;
    let bucket = format!("archive-{table}").to_ascii_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let archive = S3Archive::new(s3.clone(), &bucket);
    lookout::lambda::handle_archive(&archive, &event)
        .await
        .unwrap();
    let first = objects(&s3, &bucket).await;
    lookout::lambda::handle_archive(&archive, &event)
        .await
        .unwrap();
    let second = objects(&s3, &bucket).await;
    assert_eq!(first, second, "a retried batch rewrites the same objects");

    // One object per day and site of the batch, each report once.
    let mut partitions: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reports {
        *partitions
            .entry(lookout::archive::partition(r))
            .or_default() += 1;
    }
    let prefixes: Vec<String> = first
        .keys()
        .map(|k| k[..=k.rfind('/').unwrap()].to_owned())
        .collect();
    assert_eq!(
        prefixes,
        partitions.keys().cloned().collect::<Vec<_>>(),
        "one object per partition"
    );
    let dir = tempfile::tempdir().unwrap();
    for (key, body) in &first {
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let bytes: usize = first.values().map(Vec::len).sum();
    eprintln!(
        "archive: {} reports in {} objects, {bytes} bytes ({} bytes a report)",
        reports.len(),
        first.len(),
        bytes / reports.len()
    );

    // The same counts as `lookout top` over the table for the same window, for every site.
    let since = Timestamp::now().minus_millis(30 * 86_400_000);
    let sites: std::collections::BTreeSet<&str> = reports.iter().map(|r| r.site.as_str()).collect();
    assert!(sites.len() >= 3, "{sites:?}");
    let url = &emulator().url;
    for site in sites {
        let (ok, out, err) = run_lookout(&[
            "top",
            "--json",
            "--site",
            site,
            "--since",
            "30d",
            "--limit",
            "1000",
            "--table",
            &table,
            "--endpoint-url",
            url,
        ]);
        assert!(ok, "{err}");
        let top: BTreeMap<String, u64> = out
            .lines()
            .map(|l| {
                let g: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    g["fingerprint"].as_str().unwrap().to_owned(),
                    g["count"].as_u64().unwrap(),
                )
            })
            .collect();
        let archived = duckdb_counts(dir.path(), site, &since.day());
        assert!(!top.is_empty(), "{site}");
        assert_eq!(
            archived, top,
            "{site}: DuckDB over the archive and lookout top"
        );
    }
}
