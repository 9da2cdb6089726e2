//! What ran on the page, in a real headless Chromium: a page under a report-only
//! `script-src 'self' 'report-sha256'` loads three scripts, and Chromium reports each with the
//! SHA-256 of its bytes (`csp-hash`). `lookout scripts --json` must list each with the hash of
//! the bytes served; after one script's bytes change, exactly one `script_changed` alert names
//! it and its new hash; a third visit raises nothing more. The same through `lookout serve`
//! on the embedded store and on a DynamoDB table (whose stream the server reads, as the
//! deployed function does).
//!
//! Divergence (two contents of one URL served side by side to different visitors) and the
//! evidence a forger lacks are tested on both stores' alert state with decoded reports.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use lookout::alert::engine::Alerter;
use lookout::alert::rules::SpikeRule;
use lookout::alert::sink::{Sink, Webhook};
use lookout::alert::{AlertState, Mute, MuteTarget};
use lookout::cli::serve::{self, self_signed};
use lookout::report::{Report, ReportType, Timestamp};
use lookout::store::dynamodb::item;
use lookout::store::embedded::EmbeddedStore;
use lookout::store::embedded_alerts::EmbeddedAlertState;
use lookout::store::{GroupSummary, RecentQuery, ReportStore, TopQuery};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::emulator::{emulator, store_with, table_name};
use crate::support::{chromium, decode_json, receiver, run_lookout, spawn_serve};

/// The scripts the page loads, by name.
const NAMES: [&str; 3] = ["a", "b", "c"];

/// What each script is, by name.
type Sources = Arc<Mutex<Vec<(String, String)>>>;

fn sri(bytes: &str) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes.as_bytes()))
    )
}

/// The site: `/visit/{n}` (a page of its own per visit: stored URLs keep no query) loads the three scripts under the report-only policy, `/s/{name}.js`
/// serves each one's current bytes.
fn site_router(endpoint: String, sources: Sources) -> Router {
    let page = move || {
        let endpoint = endpoint.clone();
        async move {
            let scripts: String = NAMES
                .iter()
                .map(|n| format!("<script src=\"/s/{n}.js?v=1\"></script>\n"))
                .collect();
            (
                [
                    (
                        header::CONTENT_SECURITY_POLICY_REPORT_ONLY,
                        "script-src 'self' 'report-sha256'; report-to lookout".to_owned(),
                    ),
                    (
                        header::HeaderName::from_static("reporting-endpoints"),
                        format!("lookout=\"{endpoint}\""),
                    ),
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                format!("<!doctype html><html><head><title>scripts</title></head><body>\n{scripts}</body></html>"),
            )
                .into_response()
        }
    };
    let script = move |Path(file): Path<String>| {
        let sources = sources.clone();
        async move {
            let name = file.trim_end_matches(".js");
            let found = sources
                .lock()
                .unwrap()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone());
            match found {
                Some(body) => (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    body,
                )
                    .into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    Router::new()
        .route("/visit/{n}", get(page))
        .route("/s/{file}", get(script))
}

/// `lookout scripts --json` for the site, one object per script.
fn inventory(store: &[&str]) -> Vec<Value> {
    let args = [&["scripts", "--site", "127.0.0.1", "--json"][..], store].concat();
    let (ok, out, err) = run_lookout(&args);
    assert!(ok, "lookout scripts: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The latest hash of each script the inventory lists, by name.
fn latest_hashes(inventory: &[Value], page: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = inventory
        .iter()
        .filter_map(|s| {
            let name = s["url"]
                .as_str()?
                .strip_prefix(&format!("{page}/s/"))?
                .trim_end_matches(".js")
                .to_owned();
            Some((name, s["hashes"][0]["hash"].as_str()?.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// Loads `/visit/{visit}` in Chromium until the inventory lists `want` (each script's latest
/// hash) and every script was reported from this visit's page (or 90 s pass).
async fn visit(page: &str, visit: u32, want: &[(String, String)], store: &[&str]) {
    let url = format!("{page}/visit/{visit}");
    let (_browser, _profile) = chromium(&url, &["--short-reporting-delay"]);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let listed = inventory(store);
        let reported = store_reports_of_visit(store, visit);
        if latest_hashes(&listed, page) == want && reported >= NAMES.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "visit {visit}: after 90 s the inventory is {listed:#?}; want {want:?}; {reported} reports of this visit"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many `csp-hash` reports came from the page of visit `visit`.
fn store_reports_of_visit(store: &[&str], visit: u32) -> usize {
    let args = [
        &[
            "query",
            "--site",
            "127.0.0.1",
            "--type",
            "csp-hash",
            "--json",
            "--limit",
            "500",
        ][..],
        store,
    ]
    .concat();
    let (ok, out, err) = run_lookout(&args);
    assert!(ok, "lookout query: {err}");
    out.lines()
        .filter(|l| l.contains(&format!("/visit/{visit}\"")))
        .count()
}

/// The round trip on the store `store` names (`--data DIR` or `--table T --endpoint-url U`).
async fn scripts_round_trip(store: &[&str]) {
    let hook = receiver(StatusCode::OK).await;
    let serve_args = [
        store,
        &[
            "--self-signed",
            "--alert-webhook",
            &hook.url,
            "--script-min-visitors",
            "1",
        ][..],
    ]
    .concat();
    let (_collector, collector_url) = spawn_serve(&serve_args);
    let sources: Sources = Arc::new(Mutex::new(
        NAMES
            .iter()
            .map(|n| (n.to_string(), format!("window.script_{n} = 1;\n")))
            .collect(),
    ));
    let site = serve::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        site_router(format!("{collector_url}/r/127.0.0.1"), sources.clone()),
        Some(self_signed().unwrap()),
    )
    .await
    .unwrap();
    let page = site.url().trim_end_matches('/').to_owned();
    let hashes = |sources: &Sources| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = sources
            .lock()
            .unwrap()
            .iter()
            .map(|(n, s)| (n.clone(), sri(s)))
            .collect();
        v.sort();
        v
    };

    // The first visit: the baseline. A site's first day of scripts raises nothing.
    visit(&page, 1, &hashes(&sources), store).await;
    let listed = inventory(store);
    assert_eq!(listed.len(), 3, "{listed:#?}");
    for s in &listed {
        assert_eq!(s["destination"], "script");
        assert_eq!(s["status"], "unreviewed");
        assert_eq!(s["authorization"], Value::Null);
        assert_eq!(s["hashes"].as_array().unwrap().len(), 1);
        assert!(s["hashes"][0]["reports"].as_u64().unwrap() >= 1);
        assert!(s["hashes"][0]["first_seen"].is_string());
        assert_eq!(s["pages"], json!([format!("{page}/visit/1")]), "{s}");
    }
    let (ok, _, err) = run_lookout(
        &[
            &[
                "scripts",
                "authorize",
                "--site",
                "127.0.0.1",
                "--all-current",
                "--reason",
                "baseline: first-party scripts",
                "--by",
                "release-manager",
            ][..],
            store,
        ]
        .concat(),
    );
    assert!(ok, "authorize: {err}");
    assert!(err.contains("authorized"), "{err}");
    assert!(
        inventory(store).iter().all(|s| s["status"] == "authorized"),
        "{:#?}",
        inventory(store)
    );
    assert!(hook.settle(0).await.is_empty(), "{:#?}", hook.alerts());

    // The second visit: b.js's bytes changed.
    let old_b = sri("window.script_b = 1;\n");
    sources.lock().unwrap()[1].1 = "window.script_b = 1; fetch('https://skim.example/');\n".into();
    let new_b = sri(&sources.lock().unwrap()[1].1);
    visit(&page, 2, &hashes(&sources), store).await;
    let alerts = hook.settle(1).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a["kind"], "script_changed", "{a:#}");
    assert_eq!(a["site"], "127.0.0.1");
    assert_eq!(a["script"]["url"], format!("{page}/s/b.js"));
    assert_eq!(a["script"]["hash"], new_b.as_str());
    assert_eq!(a["script"]["previous"][0]["hash"], old_b.as_str());
    assert_eq!(a["script"]["previous"][0]["authorized"], true);
    assert_eq!(a["script"]["authorized_hash"], old_b.as_str());
    let listed = inventory(store);
    let b = listed
        .iter()
        .find(|s| s["url"] == format!("{page}/s/b.js"))
        .unwrap();
    assert_eq!(b["status"], "changed");
    assert_eq!(b["hashes"][0]["hash"], new_b.as_str());
    assert_eq!(b["hashes"][1]["hash"], old_b.as_str());
    assert_eq!(
        listed
            .iter()
            .filter(|s| s["status"] == "authorized")
            .count(),
        2
    );

    // The third visit: nothing new, nothing more.
    visit(&page, 3, &hashes(&sources), store).await;
    let alerts = hook.settle(2).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");

    // Evidence for an assessor: the authorization and every content with its sightings.
    let md_args = [
        &["scripts", "--site", "127.0.0.1", "--format", "markdown"][..],
        store,
    ]
    .concat();
    let (ok, md, err) = run_lookout(&md_args);
    assert!(ok, "{err}");
    assert!(md.contains("baseline: first-party scripts"), "{md}");
    assert!(md.contains(&new_b) && md.contains(&old_b), "{md}");
    let csv_args = [
        &["scripts", "--site", "127.0.0.1", "--format", "csv"][..],
        store,
    ]
    .concat();
    let (ok, csv, err) = run_lookout(&csv_args);
    assert!(ok, "{err}");
    assert_eq!(
        csv.lines().count(),
        1 + 4,
        "a header and one row per content: {csv}"
    );

    // Revoked: unreviewed again.
    let url = format!("{page}/s/a.js?v=9");
    let (ok, _, err) = run_lookout(
        &[
            &["scripts", "revoke", "--site", "127.0.0.1", &url][..],
            store,
        ]
        .concat(),
    );
    assert!(ok && err.contains("revoked"), "{err}");
    let a = inventory(store)
        .into_iter()
        .find(|s| s["url"] == format!("{page}/s/a.js"))
        .unwrap();
    assert_eq!(a["status"], "unreviewed");
    site.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_reports_what_ran_and_a_changed_script_alerts_once() {
    let data = tempfile::tempdir().unwrap();
    scripts_round_trip(&["--data", data.path().to_str().unwrap()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamo_chromium_reports_what_ran_and_a_changed_script_alerts_once() {
    let em = emulator();
    let table = table_name();
    let (ok, _, err) = run_lookout(&["create-table", "--table", &table, "--endpoint-url", &em.url]);
    assert!(ok, "{err}");
    scripts_round_trip(&["--table", &table, "--endpoint-url", &em.url]).await;
}

const A: &str = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";
const B: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
const MIN: i64 = 60_000;

/// A `csp-hash` report of checkout.js with `hash`, from visitor `visitor`, `ago` ms ago.
fn sighting(hash: &str, visitor: u8, ago: i64, page: usize) -> Vec<Report> {
    let mut r = decode_json(
        &json!([{"type": "csp-hash", "age": 0, "url": format!("https://shop.example/p{page}"),
                 "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                 "body": {"documentURL": format!("https://shop.example/p{page}"),
                          "subresourceURL": "https://shop.example/checkout.js",
                          "hash": hash, "type": "subresource", "destination": "script"}}]),
        "shop.example",
        Timestamp(Timestamp::now().millis() - ago),
    );
    r[0].visitor = Some(visitor);
    r
}

/// Reports of two contents of checkout.js: first a day of A (the baseline, two days ago),
/// then, within the last half hour, A and B interleaved, each from its own visitors: one
/// `script_changed` (B is new) and one `script_divergent` (both still served), and nothing
/// more for more of the same. Before that, B from a single network (a forger's) raises nothing;
/// after it, a muted script raises nothing.
async fn interleaved_contents(store: &dyn ReportStore, state: Arc<dyn AlertState>) {
    let hook = receiver(StatusCode::OK).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter =
        Alerter::new(state.clone(), sinks, SpikeRule::default()).with_script_min_visitors(2);
    let deliver = async |reports: Vec<Report>| {
        store.put(&reports).await.unwrap();
        alerter.on_new_reports(&reports).await.unwrap();
    };
    let day = 86_400_000;
    deliver(sighting(A, 1, 2 * day, 1)).await;
    deliver(sighting(A, 2, 2 * day - MIN, 2)).await;
    // A forger's network alone sends B, twice: not enough evidence.
    deliver(sighting(B, 200, 40 * MIN, 3)).await;
    deliver(sighting(B, 200, 39 * MIN, 4)).await;
    assert!(hook.alerts().is_empty(), "{:#?}", hook.alerts());
    // A second network sees B: B is a change. A and B keep coming, interleaved.
    let mut page = 10;
    for (hash, visitor, ago) in [
        (B, 7, 30 * MIN),
        (A, 1, 28 * MIN),
        (B, 8, 20 * MIN),
        (A, 2, 10 * MIN),
        (B, 7, 2 * MIN),
        (A, 3, MIN),
    ] {
        page += 1;
        deliver(sighting(hash, visitor, ago, page)).await;
    }
    let alerts = hook.alerts();
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["script_changed", "script_divergent"], "{alerts:#?}");
    assert_eq!(alerts[0]["script"]["hash"], B);
    assert_eq!(alerts[0]["script"]["previous"][0]["hash"], A);
    let pair = [
        alerts[1]["script"]["hash"].as_str().unwrap(),
        alerts[1]["script"]["previous"][0]["hash"].as_str().unwrap(),
    ];
    assert!(pair.contains(&A) && pair.contains(&B), "{:#}", alerts[1]);
    // More of both: claimed already.
    deliver(sighting(B, 9, 0, 90)).await;
    deliver(sighting(A, 4, 0, 91)).await;
    assert_eq!(hook.alerts().len(), 2, "{:#?}", hook.alerts());
    // A muted script raises nothing, whatever its new content.
    state
        .mute(&Mute {
            site: "shop.example".into(),
            target: MuteTarget::Script("https://shop.example/checkout.js".into()),
            until: None,
        })
        .await
        .unwrap();
    let c = "sha256-rVr2RNeX6ejkjc52pDqgNS4DLGXt3Jh5t2Ddwg+W8FU=";
    deliver(sighting(c, 11, 0, 92)).await;
    deliver(sighting(c, 12, 0, 93)).await;
    assert_eq!(hook.alerts().len(), 2, "{:#?}", hook.alerts());
}

#[tokio::test]
async fn interleaved_contents_of_one_script_are_divergent_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    interleaved_contents(&store, state).await;
}

#[tokio::test]
async fn dynamo_interleaved_contents_of_one_script_are_divergent() {
    let (store, _client, _table) = store_with(2).await;
    interleaved_contents(&store, Arc::new(store.clone())).await;
}

/// One page view's `csp-hash` reports: `scripts` scripts of shop.example, loaded by page
/// `page`, from visitor `visitor`.
fn page_view(scripts: usize, page: usize, visitor: u8) -> Vec<Report> {
    page_view_received(scripts, page, visitor, Timestamp::now(), 0)
}

/// [`page_view`] received at `received`, each report `age` ms old.
fn page_view_received(
    scripts: usize,
    page: usize,
    visitor: u8,
    received: Timestamp,
    age: u64,
) -> Vec<Report> {
    let reports: Vec<Value> = (0..scripts)
        .map(|i| {
            json!({"type": "csp-hash", "age": age, "url": format!("https://shop.example/p{page}"),
                   "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                   "body": {"documentURL": format!("https://shop.example/p{page}"),
                            "subresourceURL": format!("https://shop.example/s/{i}.js?v=3"),
                            "hash": sri(&format!("script {i}")), "type": "subresource",
                            "destination": "script"}})
        })
        .collect();
    let mut out = decode_json(&Value::Array(reports), "shop.example", received);
    for r in &mut out {
        r.visitor = Some(visitor);
    }
    out
}

/// The `csp-hash` groups of shop.example since `since`, by fingerprint.
async fn scripts_top(store: &dyn ReportStore, since: Timestamp) -> Vec<GroupSummary> {
    let q = TopQuery {
        site: "shop.example".into(),
        report_type: Some(ReportType::CspHash),
        since,
        limit: 100,
        classification: None,
    };
    let mut groups = store.top(&q).await.unwrap();
    groups.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    groups
}

/// One script content's reports of shop.example since `since`.
async fn content_reports(
    store: &dyn ReportStore,
    fingerprint: &str,
    since: Timestamp,
) -> Vec<Report> {
    let q = RecentQuery {
        site: "shop.example".into(),
        report_type: Some(ReportType::CspHash),
        since,
        limit: 10,
        classification: None,
        fingerprint: Some(fingerprint.to_owned()),
    };
    store.recent(&q).await.unwrap()
}

/// A page view's upload delivered again (later, with a larger age: the same occurrences), in
/// the middle of an identity window and across a window's edge, counts once on DynamoDB, with
/// the figures and reports the embedded store has for the same deliveries.
#[tokio::test]
async fn dynamo_a_page_view_delivered_again_counts_once_as_on_the_embedded_store() {
    let (dynamo, _client, table) = store_with(2).await;
    let data = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(data.path()).unwrap();
    let window = lookout::report::WINDOW_MS;
    let now = Timestamp::now().millis();
    let start = now - now.rem_euclid(window) - 10 * window;
    let deliveries = [
        // The middle of a window, delivered again 300 ms later.
        (1, Timestamp(start + 5_000), 0),
        (1, Timestamp(start + 5_300), 300),
        // 100 ms before a window's edge, delivered again 700 ms later: 200 ms past it.
        (2, Timestamp(start + 2 * window - 100), 0),
        (2, Timestamp(start + 2 * window + 600), 500),
    ];
    for (page, received, age) in deliveries {
        let reports = page_view_received(30, page, 1, received, age);
        dynamo.put(&reports).await.unwrap();
        embedded.put(&reports).await.unwrap();
    }
    let event = crate::emulator::stream_event(&table).await;
    lookout::lambda::handle_stream(&dynamo, None, &event)
        .await
        .unwrap();
    let since = Timestamp(start - 86_400_000);
    let (on_dynamo, on_embedded) = (
        scripts_top(&dynamo, since).await,
        scripts_top(&embedded, since).await,
    );
    assert_eq!(on_dynamo.len(), 30);
    assert!(on_dynamo.iter().all(|g| g.count == 2), "{on_dynamo:#?}");
    assert_eq!(on_dynamo, on_embedded);
    // One content's reports: read from the uploads on DynamoDB, as stored on both.
    let fingerprint = &on_dynamo[0].fingerprint;
    let (on_dynamo, on_embedded) = (
        content_reports(&dynamo, fingerprint, since).await,
        content_reports(&embedded, fingerprint, since).await,
    );
    assert_eq!(on_dynamo.len(), 2, "{on_dynamo:#?}");
    // The same reports; when each was received differs: DynamoDB keeps a window's last
    // delivery (an overwrite), the embedded store its first.
    let same = |rs: &[Report]| -> Vec<(String, Timestamp, String, String)> {
        rs.iter()
            .map(|r| (r.id.clone(), r.occurred_at, r.url.clone(), r.group.clone()))
            .collect()
    };
    assert_eq!(same(&on_dynamo), same(&on_embedded));
}

/// DynamoDB calls by operation, as the fault proxy counted them.
type Calls = serde_json::Map<String, Value>;

/// DynamoDB calls by operation, as the fault proxy counted them, on one line.
fn summary(seen: &Calls) -> String {
    seen.iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table behind the fault proxy, with an alerter: page views stored, then their stream
/// batch handled as the function does, each step's calls counted.
struct Metered {
    proxy: crate::emulator::FaultProxy,
    store: lookout::store::dynamodb::DynamoStore,
    client: aws_sdk_dynamodb::Client,
    table: String,
    hook: crate::support::Receiver,
    alerter: Alerter,
    /// Stream records handled so far.
    handled: usize,
}

impl Metered {
    async fn start() -> Self {
        let proxy = crate::emulator::FaultProxy::start();
        let (store, client, table) = crate::emulator::store_at(&proxy.url, 1).await;
        let hook = receiver(StatusCode::OK).await;
        let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
        let alerter = Alerter::new(Arc::new(store.clone()), sinks, SpikeRule::default());
        Self {
            proxy,
            store,
            client,
            table,
            hook,
            alerter,
            handled: 0,
        }
    }

    /// Stores `reports`, then handles the stream batch of what that added: the calls of each.
    async fn view(&mut self, reports: &[Report]) -> (Calls, Calls) {
        let before = self.proxy.counters();
        self.store.put(reports).await.unwrap();
        let put = crate::emulator::calls_since(&self.proxy, &before);
        let mut event = crate::emulator::stream_event(&self.table).await;
        event.records.drain(..self.handled);
        self.handled += event.records.len();
        let before = self.proxy.counters();
        lookout::lambda::handle_stream(&self.store, Some(&self.alerter), &event)
            .await
            .unwrap();
        (put, crate::emulator::calls_since(&self.proxy, &before))
    }
}

/// What a page view's 30 scripts cost on DynamoDB Local, counted at the fault proxy: storing
/// the reports (one request), then the stream batch that counts them and judges the scripts,
/// for the first page view (every content new: recorded and read back) and for the next one
/// (nothing new: counted only). The figures of COST.md's script section.
#[tokio::test]
async fn dynamo_a_page_views_thirty_scripts_cost_one_stream_batch_of_counted_updates() {
    let mut m = Metered::start().await;
    let (store, client, table) = (m.store.clone(), m.client.clone(), m.table.clone());
    let mut view = async |page: usize, visitor: u8| m.view(&page_view(30, page, visitor)).await;
    let calls = crate::emulator::calls;
    let (put, stream) = view(1, 1).await;
    eprintln!(
        "first page view: put {}; stream batch {}",
        summary(&put),
        summary(&stream)
    );
    // The page view's 30 reports are one upload item (`store::dynamodb::upload`), sometimes
    // after one BatchGetItem (the adjacent identity window's key).
    assert_eq!(calls(&put, "BatchWriteItem"), 1, "{put:?}");
    let uploads: Vec<_> = crate::support::scan_all(&client, &table)
        .await
        .into_iter()
        .filter(lookout::store::dynamodb::upload::is_upload)
        .collect();
    assert_eq!(uploads.len(), 1);
    let (bytes, units) = (item::item_size(&uploads[0]), item::write_units(&uploads[0]));
    eprintln!("first page view: one upload item of {bytes} bytes, {units} write units");
    assert!(units <= 4, "{bytes} bytes");
    // Each content: its aggregate (1 update), its sighting (1 update and 1 query); the site's
    // first sighting and the site's registration for the day once; the site's mutes and the
    // outbox's due alerts, one query each.
    assert_eq!(calls(&stream, "UpdateItem"), 30 + 30 + 2, "{stream:?}");
    assert_eq!(calls(&stream, "Query"), 30 + 2, "{stream:?}");
    let (put, stream) = view(2, 2).await;
    eprintln!(
        "second page view: put {}; stream batch {}",
        summary(&put),
        summary(&stream)
    );
    // A new visitor: each sighting recorded again (its visitor is new), nothing to claim.
    assert_eq!(calls(&stream, "UpdateItem"), 30 + 30, "{stream:?}");
    assert_eq!(calls(&stream, "Query"), 30 + 2, "{stream:?}");
    let (_put, stream) = view(3, 1).await;
    eprintln!("third page view: stream batch {}", summary(&stream));
    // A visitor seen before, within minutes: counted only.
    assert_eq!(calls(&stream, "UpdateItem"), 30, "{stream:?}");
    assert_eq!(calls(&stream, "Query"), 2, "{stream:?}");
    assert!(
        m.hook.alerts().is_empty(),
        "a site's first day alerts nothing"
    );

    // The inventory over 30 days: the 30 contents' aggregates of each day, the latest 2,000
    // reports for the pages, the site's authorizations.
    let before = store.read_units();
    let since = Timestamp(Timestamp::now().millis() - 30 * 86_400_000);
    let scripts = lookout::scripts::gather(&store, &store, "shop.example", since)
        .await
        .unwrap();
    let units = store.read_units() - before;
    eprintln!("inventory of 30 scripts over 30 days: {units} read units");
    assert_eq!(scripts.len(), 30);
    for s in &scripts {
        assert_eq!(s.hashes.len(), 1, "{s:?}");
        assert_eq!(s.hashes[0].reports, 3, "one report per page view: {s:?}");
        assert_eq!(s.hashes[0].visitors, 2, "{s:?}");
        assert_eq!(s.pages.len(), 3, "{s:?}");
    }
    assert!(units > 0.0 && units < 100.0, "{units}");
}

/// Once a content has 32 visitors recorded, a new visitor alone does not make a function
/// instance record its sighting again: a busy page's scripts cost their aggregates only.
#[tokio::test]
async fn dynamo_a_content_seen_by_32_visitors_is_not_recorded_again_for_each_new_one() {
    let mut m = Metered::start().await;
    let mut updates = Vec::new();
    for visitor in 1..=34u8 {
        let (_put, stream) = m.view(&page_view(2, usize::from(visitor), visitor)).await;
        updates.push(crate::emulator::calls(&stream, "UpdateItem"));
    }
    // The first batch also records the site's first sighting and registers it for the day.
    assert_eq!(updates[0], 2 + 2 + 2, "{updates:?}");
    // Visitors 2 to 32: aggregates and sightings.
    assert!(updates[1..32].iter().all(|&n| n == 2 + 2), "{updates:?}");
    // Visitors 33 and 34: the aggregates only.
    assert_eq!(&updates[32..], &[2, 2], "{updates:?}");
}

/// 120 made-up contents of checkout.js, all fresher, do not push the content just recorded
/// out of what the alert state reads back: it is always there to be judged.
async fn a_flood_of_contents_does_not_hide_the_one_recorded(state: &dyn AlertState) {
    use lookout::alert::scripts::Sighting;
    use lookout::report::script::ScriptRef;
    let now = Timestamp::now().millis();
    let sighting = |hash: String, at: i64| Sighting {
        site: "shop.example".into(),
        script: ScriptRef {
            destination: "script".into(),
            url: "https://shop.example/checkout.js".into(),
            hash: Some(hash),
        },
        first: Timestamp(at),
        last: Timestamp(at),
        visitors: [7u8].into(),
    };
    for i in 0..120 {
        state
            .note_script(&sighting(sri(&format!("made up {i}")), now))
            .await
            .unwrap();
    }
    let real = sri("the real new content");
    let history = state
        .note_script(&sighting(real.clone(), now - 3_600_000))
        .await
        .unwrap();
    assert!(history.contents.len() <= 101, "{}", history.contents.len());
    assert!(
        history
            .contents
            .iter()
            .any(|c| c.hash.as_deref() == Some(&*real)),
        "the content recorded is read back"
    );
}

#[tokio::test]
async fn a_flood_of_contents_does_not_hide_the_one_recorded_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let _store = EmbeddedStore::open(data.path()).unwrap();
    let state = EmbeddedAlertState::open(data.path()).unwrap();
    a_flood_of_contents_does_not_hide_the_one_recorded(&state).await;
}

#[tokio::test]
async fn dynamo_a_flood_of_contents_does_not_hide_the_one_recorded() {
    let (store, _client, _table) = store_with(1).await;
    a_flood_of_contents_does_not_hide_the_one_recorded(&store).await;
}
