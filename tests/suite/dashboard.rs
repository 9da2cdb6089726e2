//! `lookout ui` in a real browser: headless Chromium renders the pages over a store filled
//! with the conformance fixtures (reports real browsers and other projects sent), and what the
//! page says must equal what `lookout top` and `lookout query` say, over either store.
//!
//! Needs Debian's `chromium` (`scripts/setup-test-tools` installs it); fails loudly without it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use lookout::report::{Options, RequestMeta, Timestamp};
use lookout::store::ReportStore;
use lookout::store::embedded::EmbeddedStore;

use crate::emulator;
use crate::support::{Process, headless_chromium, run_lookout, spawn_lookout};

/// Starts `lookout ui` with `args` on a free port; returns the process and its base URL.
fn spawn_ui(args: &[&str]) -> (Process, String) {
    spawn_lookout("ui", args, "lookout ui: ")
}

/// The DOM Chromium built from `url`, serialized.
fn dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = headless_chromium(profile.path())
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium --dump-dom {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// A screenshot of `url`, kept as a test artifact under `target/test-artifacts/`.
fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let profile = tempfile::tempdir().unwrap();
    let status = headless_chromium(profile.path())
        .args(["--hide-scrollbars", "--window-size=1280,1000"])
        .arg(format!("--screenshot={}", path.display()))
        .arg(url)
        .stdout(Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(status.success() && path.metadata().map(|m| m.len() > 10_000).unwrap_or(false));
    path
}

/// The value of attribute `name` of each element of `dom` whose start tag begins with `start`
/// (our own markup; values escaped).
fn attrs(dom: &str, start: &str, name: &str) -> Vec<String> {
    dom.split(start)
        .skip(1)
        .map(|rest| {
            let tag = format!("{start}{}", &rest[..rest.find('>').unwrap()]);
            let from = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            let to = from + tag[from..].find('"').unwrap();
            tag[from..to].replace("&amp;", "&")
        })
        .collect()
}

/// (type, fingerprint, count) of each problem row, in page order.
fn rows(dom: &str) -> Vec<(String, String, u64)> {
    let start = "<tr data-fingerprint=";
    let fps = attrs(dom, start, "data-fingerprint");
    let types = attrs(dom, start, "data-type");
    let counts = attrs(dom, start, "data-count");
    fps.into_iter()
        .zip(types)
        .zip(counts)
        .map(|((f, t), n)| (t, f, n.parse().unwrap()))
        .collect()
}

/// (type, fingerprint, count) of `lookout top --json` with `args`, in its order.
fn top(args: &[&str]) -> Vec<(String, String, u64)> {
    let (ok, out, err) = run_lookout(&[&["top", "--json", "--limit", "100000"][..], args].concat());
    assert!(ok, "{err}");
    out.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["type"].as_str().unwrap().to_owned(),
                v["fingerprint"].as_str().unwrap().to_owned(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The conformance fixtures' reports, and a hostile one for `hostile.example`.
fn reports() -> Vec<lookout::report::Report> {
    let mut reports = crate::archive::fixture_reports();
    let hostile = r#"[{"type":"csp-violation","age":5,"url":"https://hostile.example/<script>document.title='pwned'</script>\u001b[31m\u0007","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","body":{"effectiveDirective":"script-src-elem","blockedURL":"javascript:alert('pwned')","documentURL":"https://hostile.example/<img src=x onerror=alert(1)>","sourceFile":"https://hostile.example/\u001b[31m\u0007bell","disposition":"enforce","originalPolicy":"script-src 'self'\"><script>alert(2)</script>","statusCode":200}}]"#;
    let meta = RequestMeta {
        site: Some("hostile.example"),
        user_agent: None,
        received_at: Timestamp::now(),
        endpoint: None,
        policy_version: None,
    };
    let batch = lookout::report::decode(hostile.as_bytes(), &meta, &Options::default()).unwrap();
    assert_eq!(batch.reports.len(), 1, "the hostile report is accepted");
    reports.extend(batch.reports);
    reports
}

fn sites(reports: &[lookout::report::Report]) -> BTreeSet<String> {
    reports.iter().map(|r| r.site.clone()).collect()
}

/// Every check of the page against the command line, over the store `store_args` name.
fn the_page_agrees_with_the_command_line(
    base: &str,
    store_args: &[&str],
    sites: &BTreeSet<String>,
) {
    assert!(sites.len() >= 3, "{sites:?}");
    let mut problems_seen = 0;
    for site in sites {
        let args = [&["--site", site.as_str(), "--since", "30d"][..], store_args].concat();
        let expected = top(&args);
        let page = dom(&format!("{base}/?site={site}&window=30d"));
        assert_eq!(rows(&page), expected, "{site}: the page ranks as top does");
        let total: u64 = expected.iter().map(|r| r.2).sum();
        assert!(
            page.contains(&format!(r#"<span id="total-reports">{total}</span>"#)),
            "{site}: total {total}"
        );
        problems_seen += expected.len();
    }
    assert!(problems_seen >= 20, "{problems_seen} problems");

    // Filters, kept in the URL: the type, and a browser family (not a `top` option: the page
    // keeps the problems that family sent, which `top --json` lists in `browsers`).
    let site = sites
        .iter()
        .max_by_key(|s| {
            top(&[&["--site", s.as_str(), "--since", "30d"][..], store_args].concat()).len()
        })
        .unwrap();
    let args = [&["--site", site.as_str(), "--since", "30d"][..], store_args].concat();
    let all = top(&args);
    let some_type = all[0].0.clone();
    let by_type = dom(&format!("{base}/?site={site}&window=30d&type={some_type}"));
    let expected = top(&[&args[..], &["--type", some_type.as_str()]].concat());
    assert_eq!(rows(&by_type), expected);
    assert!(
        expected.len() < all.len(),
        "the type filter changes the list"
    );
    let (ok, out, _) =
        run_lookout(&[&["top", "--json", "--limit", "100000"][..], &args[..]].concat());
    assert!(ok);
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let having = |field: &str, wanted: &dyn Fn(&str) -> bool| -> Vec<String> {
        listed
            .iter()
            .filter(|v| {
                v[field]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| wanted(x.as_str().unwrap())))
            })
            .map(|v| v["fingerprint"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        (
            "browser=Firefox",
            having("browsers", &|b| b.starts_with("Firefox ")),
        ),
        (
            "disposition=enforce",
            having("dispositions", &|d| d == "enforce"),
        ),
        (
            "disposition=report",
            having("dispositions", &|d| d == "report"),
        ),
    ] {
        let page = dom(&format!("{base}/?site={site}&window=30d&{query}"));
        let shown: Vec<String> = rows(&page).into_iter().map(|r| r.1).collect();
        assert_eq!(shown, expected, "{query}");
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "{query} changes the list: {} of {}",
            expected.len(),
            all.len()
        );
    }

    // One problem opened: its reports, as `lookout query --fingerprint` lists them.
    let (t, fp, count) = all[0].clone();
    let opened = dom(&format!(
        "{base}/problem?site={site}&window=30d&type={t}&fingerprint={fp}"
    ));
    assert!(opened.contains(&format!(r#"<span id="problem-count">{count}</span>"#)));
    let (ok, out, err) = run_lookout(
        &[
            &[
                "query",
                "--json",
                "--type",
                t.as_str(),
                "--fingerprint",
                fp.as_str(),
            ][..],
            &args[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .take(lookout::ui::page::PAGE_SIZE)
        .collect();
    assert!(!ids.is_empty());
    assert_eq!(attrs(&opened, "<tr data-id=", "data-id"), ids);
    assert!(
        opened.contains("lookout query --site"),
        "the command-line equivalent"
    );
}

fn the_hostile_report_renders_as_text(base: &str) {
    for path in [
        "/?site=hostile.example&window=24h",
        "/policy?site=hostile.example&window=24h",
    ] {
        let page = dom(&format!("{base}{path}"));
        assert!(
            !page.contains("<script"),
            "{path}: no script element from report data"
        );
        assert!(
            !page.contains("<img"),
            "{path}: no element from report data"
        );
        assert!(!page.contains("pwned</title>") && page.contains("<title>hostile.example"));
        assert!(
            !page.contains('\u{1b}') && !page.contains('\u{7}'),
            "{path}: control characters"
        );
    }
    let page = dom(&format!("{base}/?site=hostile.example&window=24h"));
    let (t, fp, _) = rows(&page)[0].clone();
    let opened = dom(&format!(
        "{base}/problem?site=hostile.example&window=24h&type={t}&fingerprint={fp}"
    ));
    assert!(
        opened.contains("&lt;script&gt;document.title="),
        "the URL shown as text"
    );
    assert!(
        opened.contains("javascript:alert("),
        "the blocked URL shown as text"
    );
    assert!(!opened.contains("href=\"javascript:"), "never a link");
    assert!(!opened.contains("<script") && !opened.contains("<img"));
    assert!(
        !opened.contains('\u{1b}') && opened.contains('\u{241b}'),
        "escape shown as its picture"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_top_and_query_say_over_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let reports = reports();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put(&reports).await.unwrap();
    }
    let data = dir.path().to_str().unwrap();
    let (_ui, base) = spawn_ui(&["--data", data]);
    the_page_agrees_with_the_command_line(&base, &["--data", data], &sites(&reports));
    the_hostile_report_renders_as_text(&base);
    // The busiest site, as the README shows it (docs/dashboard.png is this screenshot).
    let site = sites(&reports)
        .into_iter()
        .max_by_key(|s| reports.iter().filter(|r| &r.site == s).count())
        .unwrap();
    let shot = screenshot(&format!("{base}/?site={site}&window=30d"), "dashboard.png");
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_top_and_query_say_over_a_table() {
    let (store, _client, table) = emulator::store_with(2).await;
    let reports = reports();
    store.put(&reports).await.unwrap();
    let event = emulator::stream_event(&table).await;
    lookout::lambda::handle_stream(&store, None, &event)
        .await
        .unwrap();
    let url = emulator::emulator().url.clone();
    let args = [
        "--table",
        table.as_str(),
        "--endpoint-url",
        url.as_str(),
        "--write-shards",
        "2",
    ];
    let (_ui, base) = spawn_ui(&args);
    the_page_agrees_with_the_command_line(&base, &args, &sites(&reports));
    the_hostile_report_renders_as_text(&base);
}
