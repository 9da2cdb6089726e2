//! Alerts, with a webhook receiver on loopback: through `lookout serve --alert-webhook` (the
//! embedded store), through the stream handler fed with real stream records of DynamoDB Local
//! (turned into the Lambda event shape), and spikes, the hourly budget, the outbox and counts
//! of a batch given twice on both stores' state.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use lookout::alert::engine::{Alerter, Sent};
use lookout::alert::rules::SpikeRule;
use lookout::alert::sink::{Sink, Webhook};
use lookout::alert::{ALERTS_PER_SITE_HOUR, AlertState, Mute, MuteTarget, Problem};
use lookout::report::{Report, Timestamp};
use lookout::store::ReportStore;
use lookout::store::embedded::EmbeddedStore;
use lookout::store::embedded_alerts::EmbeddedAlertState;
use serde_json::{Value, json};

use crate::emulator::{store_with, stream_event};
use crate::support::{decode_json, http_request, receiver, scripted, spawn_serve};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

/// A CSP report; `line` tells apart reports of one problem (it is not part of the group).
fn csp(blocked: &str, page: &str, line: usize) -> Value {
    json!({"type": "csp-violation", "age": 0, "url": format!("https://example.com/{page}"),
           "user_agent": CHROME,
           "body": {"blockedURL": blocked, "documentURL": format!("https://example.com/{page}"),
                    "effectiveDirective": "script-src-elem", "originalPolicy": "script-src 'self'",
                    "disposition": "report", "lineNumber": line}})
}

fn post_reports(addr: &str, reports: &[Value]) {
    let body = serde_json::to_string(reports).unwrap();
    let (status, text) = http_request(
        addr,
        "POST",
        "/r/example.com",
        &[("Content-Type", "application/reports+json")],
        body.as_bytes(),
    );
    assert_eq!(status, 204, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sends_one_alert_per_new_problem_and_none_for_repeats_or_noise() {
    let hook = receiver(StatusCode::OK).await;
    let data = tempfile::tempdir().unwrap();
    let (_serve, url) = spawn_serve(&[
        "--data",
        data.path().to_str().unwrap(),
        "--alert-webhook",
        &hook.url,
    ]);
    let addr = url.trim_start_matches("http://").to_owned();

    let first = csp("https://evil.example/x.js", "a", 1);
    post_reports(&addr, std::slice::from_ref(&first));
    let alerts = hook.settle(1).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["schema_version"], 1);
    assert_eq!(alerts[0]["kind"], "new_problem");
    assert_eq!(alerts[0]["site"], "example.com");
    assert_eq!(alerts[0]["browsers"], json!(["Chrome 156"]));
    assert_eq!(
        alerts[0]["sample"]["fields"]["blockedURL"],
        "https://evil.example/x.js"
    );
    let fingerprint = alerts[0]["fingerprint"].as_str().unwrap().to_owned();
    assert!(
        alerts[0]["command"]
            .as_str()
            .unwrap()
            .contains(&format!("--fingerprint {fingerprint}"))
    );

    // The same report delivered again, a second report of the problem, and noise: nothing.
    post_reports(&addr, std::slice::from_ref(&first));
    post_reports(&addr, &[csp("https://evil.example/other.js", "a", 2)]);
    post_reports(&addr, &[csp("chrome-extension://abcdef/inject.js", "a", 1)]);
    assert_eq!(hook.settle(1).await.len(), 1, "{:#?}", hook.alerts());

    // A second new problem: one more.
    post_reports(&addr, &[csp("https://cdn.other.example/y.js", "a", 1)]);
    let alerts = hook.settle(2).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_ne!(alerts[1]["fingerprint"], fingerprint);
}

/// Reports of one problem received at `at`, each its own report (its own line).
fn burst(n: usize, at: i64, first_line: usize) -> Vec<Report> {
    let items: Vec<Value> = (0..n)
        .map(|i| csp("https://burst.example/x.js", "page", first_line + i))
        .collect();
    decode_json(&Value::Array(items), "example.com", Timestamp(at))
}

const HOUR: i64 = 3_600_000;

/// A quiet day (one report an hour), then a burst of 60 in one hour, then 60 more: one new
/// problem alert, one spike, nothing more; a muted type raises nothing.
async fn quiet_day_then_a_burst(store: &dyn ReportStore, state: Arc<dyn AlertState>) {
    let hook = receiver(StatusCode::OK).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter = Alerter::new(state.clone(), sinks, SpikeRule::default());
    let now = Timestamp::now().millis();
    let hour = now - now.rem_euclid(HOUR);
    for k in (1..=24).rev() {
        let quiet = burst(1, hour - k * HOUR + 60_000, k as usize);
        store.put(&quiet).await.unwrap();
        alerter.on_new_reports(&quiet).await.unwrap();
    }
    let kinds = |alerts: &[Value]| -> Vec<String> {
        alerts
            .iter()
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&hook.alerts()), ["new_problem"]);

    let first = burst(60, hour + 120_000, 100);
    store.put(&first).await.unwrap();
    let sent = alerter.on_new_reports(&first).await.unwrap();
    assert_eq!((sent.new_problems, sent.spikes), (0, 1));
    let alerts = hook.alerts();
    assert_eq!(kinds(&alerts), ["new_problem", "spike"]);
    assert_eq!(alerts[1]["count"], 60);
    assert_eq!(alerts[1]["previous_day_hourly_average"], 1.0);

    let more = burst(60, hour + 180_000, 200);
    store.put(&more).await.unwrap();
    alerter.on_new_reports(&more).await.unwrap();
    assert_eq!(hook.alerts().len(), 2, "one spike per problem and day");

    // A muted type raises nothing, not even for a new problem.
    state
        .mute(&Mute {
            site: "example.com".into(),
            target: MuteTarget::Type("csp-violation".into()),
            until: None,
        })
        .await
        .unwrap();
    let other = decode_json(
        &json!([csp("https://muted.example/z.js", "m", 1)]),
        "example.com",
        Timestamp(now),
    );
    store.put(&other).await.unwrap();
    alerter.on_new_reports(&other).await.unwrap();
    assert_eq!(hook.alerts().len(), 2, "muted");
}

#[tokio::test]
async fn a_burst_after_a_quiet_day_is_one_spike_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    quiet_day_then_a_burst(&store, state).await;
}

#[tokio::test]
async fn dynamo_a_burst_after_a_quiet_day_is_one_spike() {
    let (store, _client, _table) = store_with(1).await;
    quiet_day_then_a_burst(&store, Arc::new(store.clone())).await;
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_never_fails_the_batch() {
    let hook = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter = Alerter::new(state, sinks, SpikeRule::default());
    let reports = burst(1, Timestamp::now().millis(), 1);
    store.put(&reports).await.unwrap();
    let sent = alerter.on_new_reports(&reports).await.unwrap();
    assert_eq!((sent.new_problems, sent.undelivered), (1, 1));
    assert_eq!(
        hook.alerts().len(),
        lookout::alert::sink::ATTEMPTS as usize,
        "tried {} times",
        lookout::alert::sink::ATTEMPTS
    );
}

#[tokio::test]
async fn dynamo_stream_batches_raise_each_new_problem_alert_once() {
    let hook = receiver(StatusCode::OK).await;
    let (store, _client, table) = store_with(2).await;
    let reports = decode_json(
        &json!([
            csp("https://a.example/1.js", "p1", 1),
            csp("https://a.example/2.js", "p2", 1),
            csp("https://b.example/1.js", "p1", 1),
        ]),
        "example.com",
        Timestamp::now(),
    );
    store.put(&reports).await.unwrap();
    store.put(&reports).await.unwrap(); // a re-delivery: no new item, no INSERT
    let event = stream_event(&table).await;
    let inserts = event
        .records
        .iter()
        .filter(|r| r.event_name.as_deref() == Some("INSERT"))
        .count();
    assert!(inserts >= 3, "{event:#?}");
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter = Alerter::new(Arc::new(store.clone()), sinks, SpikeRule::default());
    for _ in 0..2 {
        // Lambda delivers a batch again after an error or a timeout.
        lookout::lambda::handle_stream(&store, Some(&alerter), &event)
            .await
            .unwrap();
    }
    // Another instance (its own memory of what it claimed) gets the same batch.
    let other = Alerter::new(
        Arc::new(store.clone()),
        vec![Arc::new(Webhook::new(&hook.url).unwrap())],
        SpikeRule::default(),
    );
    lookout::lambda::handle_stream(&store, Some(&other), &event)
        .await
        .unwrap();
    let alerts = hook.alerts();
    let mut groups: Vec<&str> = alerts
        .iter()
        .map(|a| a["group"].as_str().unwrap())
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            "csp-violation script-src-elem https://a.example https://example.com/p1",
            "csp-violation script-src-elem https://a.example https://example.com/p2",
            "csp-violation script-src-elem https://b.example https://example.com/p1",
        ],
        "one alert per new problem"
    );
}

/// Reports of `problems` problems, `per` reports each, received now.
fn problems(problems: usize, per: usize, first_line: usize) -> Vec<Report> {
    let items: Vec<Value> = (0..problems * per)
        .map(|i| {
            csp(
                &format!("https://p{}.example/x.js", i % problems),
                "page",
                first_line + i,
            )
        })
        .collect();
    decode_json(&Value::Array(items), "example.com", Timestamp::now())
}

#[tokio::test]
async fn dynamo_alerts_cost_one_update_per_problem_and_batch_and_one_query_per_site() {
    let hook = receiver(StatusCode::OK).await;
    let proxy = crate::emulator::FaultProxy::start();
    let (store, _client, _table) = crate::emulator::store_at(&proxy.url, 1).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter = Alerter::new(Arc::new(store.clone()), sinks, SpikeRule::default());
    let ops = |before: &Value| -> Vec<(String, u64)> {
        let now = proxy.counters();
        let mut out: Vec<(String, u64)> = now["ops"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(op, n)| {
                (
                    op.clone(),
                    n.as_u64().unwrap() - before["ops"][op].as_u64().unwrap_or(0),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        out.sort();
        out
    };
    // A first batch: 10 new problems, 10 reports each (the whole hourly budget of the site).
    let before = proxy.counters();
    alerter.on_new_reports(&problems(10, 10, 0)).await.unwrap();
    assert_eq!(
        ops(&before),
        [
            ("DeleteItem".to_owned(), 1),
            ("Query".to_owned(), 2),
            ("UpdateItem".to_owned(), 32)
        ],
        "a query for the outbox's due alerts and one for the site's mutes; per problem an \
         hourly count, a claim and its outcome; for the batch one outbox entry (written, then \
         deleted) and one take from the site's budget"
    );
    assert_eq!(hook.alerts().len(), 10);
    // The next batch of the same problems: the claims are known, only the hourly counts.
    let before = proxy.counters();
    alerter
        .on_new_reports(&problems(10, 2, 1000))
        .await
        .unwrap();
    assert_eq!(
        ops(&before),
        [("Query".to_owned(), 2), ("UpdateItem".to_owned(), 10)]
    );
    assert_eq!(hook.alerts().len(), 10);
}

/// Waits, if need be, until the clock hour has more than a minute left: budgets are per hour.
async fn clear_of_the_hour_end() {
    let now = Timestamp::now().millis();
    let left = HOUR - now.rem_euclid(HOUR);
    if left < 60_000 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 1_000)).await;
    }
}

/// 300 new problems in one batch (each report names its own blocked host, as a flood of forged
/// reports does): at most 10 messages, 9 alerts and a digest of the 291 others; a new problem
/// later in the hour is claimed, not sent.
async fn a_flood_is_ten_messages(store: &dyn ReportStore, state: Arc<dyn AlertState>) {
    clear_of_the_hour_end().await;
    let hook = receiver(StatusCode::OK).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(Webhook::new(&hook.url).unwrap())];
    let alerter = Alerter::new(state, sinks, SpikeRule::default());
    let now = Timestamp::now();
    let mut flood = Vec::new();
    // A request holds at most 100 reports.
    for request in 0..3 {
        let items: Vec<Value> = (0..100)
            .map(|i| {
                let host = request * 100 + i;
                csp(&format!("https://x{host}.flood.example/a.js"), "a", 1)
            })
            .collect();
        flood.extend(decode_json(&Value::Array(items), "example.com", now));
    }
    assert_eq!(flood.len(), 300);
    store.put(&flood).await.unwrap();
    let sent = alerter.on_new_reports(&flood).await.unwrap();
    assert_eq!(
        (
            sent.new_problems,
            sent.digests,
            sent.suppressed,
            sent.undelivered
        ),
        (300, 1, 0, 0),
        "{sent:?}"
    );
    let alerts = hook.alerts();
    assert!(alerts.len() <= ALERTS_PER_SITE_HOUR as usize);
    assert_eq!(alerts.len(), 10, "{alerts:#?}");
    assert!(alerts[..9].iter().all(|a| a["kind"] == "new_problem"));
    let digest = &alerts[9];
    assert_eq!(digest["kind"], "digest", "{digest:#}");
    assert_eq!(digest["site"], "example.com");
    assert_eq!(digest["count"], 291);
    assert_eq!(digest["digest"]["more"], 291);
    assert_eq!(digest["digest"]["named"].as_array().unwrap().len(), 5);
    assert!(
        digest["digest"]["named"][0]["label"]
            .as_str()
            .unwrap()
            .contains(".flood.example")
    );
    assert!(
        digest["command"]
            .as_str()
            .unwrap()
            .starts_with("lookout top --site example.com")
    );

    // The hour's budget is spent: a new problem is claimed (never alerted later) and not sent.
    let late = decode_json(
        &json!([csp("https://late.example/x.js", "a", 1)]),
        "example.com",
        Timestamp::now(),
    );
    store.put(&late).await.unwrap();
    let sent = alerter.on_new_reports(&late).await.unwrap();
    assert_eq!((sent.new_problems, sent.suppressed), (1, 1), "{sent:?}");
    assert_eq!(hook.alerts().len(), 10);
}

#[tokio::test]
async fn a_flood_of_new_problems_is_ten_messages_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    a_flood_is_ten_messages(&store, state).await;
}

#[tokio::test]
async fn dynamo_a_flood_of_new_problems_is_ten_messages() {
    let (store, _client, _table) = store_with(1).await;
    a_flood_is_ten_messages(&store, Arc::new(store.clone())).await;
}

/// A webhook that answers 429 (`Retry-After: 1`) and then 200: the alert is not tried again at
/// once, stays pending, and is delivered by the first call after a second; once, whatever
/// calls follow, from this instance or another.
async fn a_rate_limited_alert_is_delivered_later_once(
    store: &dyn ReportStore,
    state: Arc<dyn AlertState>,
) {
    let hook = scripted(vec![(StatusCode::TOO_MANY_REQUESTS, Some("1"))]).await;
    let webhook = |url: &str| -> Vec<Arc<dyn Sink>> { vec![Arc::new(Webhook::new(url).unwrap())] };
    let alerter = Alerter::new(state.clone(), webhook(&hook.url), SpikeRule::default());
    let reports = burst(1, Timestamp::now().millis(), 1);
    store.put(&reports).await.unwrap();
    let sent = alerter.on_new_reports(&reports).await.unwrap();
    assert_eq!((sent.new_problems, sent.undelivered), (1, 1), "{sent:?}");
    assert_eq!(hook.alerts().len(), 1, "a 429 is not tried again at once");

    // Not before the second the webhook asked for.
    let sent = alerter.on_new_reports(&[]).await.unwrap();
    assert_eq!(sent, Sent::default());
    assert_eq!(hook.alerts().len(), 1);

    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let sent = alerter.on_new_reports(&[]).await.unwrap();
    assert_eq!((sent.retried, sent.undelivered), (1, 0), "{sent:?}");
    let alerts = hook.alerts();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert_eq!(alerts[1]["kind"], "new_problem");
    assert_eq!(alerts[1]["fingerprint"], alerts[0]["fingerprint"]);

    // Delivered: never again, whatever comes next.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    alerter.on_new_reports(&[]).await.unwrap();
    alerter.on_new_reports(&reports).await.unwrap();
    let other = Alerter::new(state, webhook(&hook.url), SpikeRule::default());
    assert_eq!(
        other.on_new_reports(&reports).await.unwrap(),
        Sent::default()
    );
    assert_eq!(hook.alerts().len(), 2);
}

#[tokio::test]
async fn a_rate_limited_alert_is_delivered_later_once_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    a_rate_limited_alert_is_delivered_later_once(&store, state).await;
}

#[tokio::test]
async fn dynamo_a_rate_limited_alert_is_delivered_later_once() {
    let (store, _client, _table) = store_with(1).await;
    a_rate_limited_alert_is_delivered_later_once(&store, Arc::new(store.clone())).await;
}

/// A quiet day (one report an hour), then 30 reports this hour in a batch given twice (a stream
/// batch retried), and a third time to another instance: the hour counts 30, not 60 or 90, so
/// there is no spike (60 would be one: at least 50, and over 20 times the day's 1 an hour).
async fn a_batch_given_again_is_counted_once(store: &dyn ReportStore, state: Arc<dyn AlertState>) {
    let hook = receiver(StatusCode::OK).await;
    let webhook = |url: &str| -> Vec<Arc<dyn Sink>> { vec![Arc::new(Webhook::new(url).unwrap())] };
    let alerter = Alerter::new(state.clone(), webhook(&hook.url), SpikeRule::default());
    let now = Timestamp::now().millis();
    let hour = now - now.rem_euclid(HOUR);
    for k in (1..=24).rev() {
        let quiet = burst(1, hour - k * HOUR + 60_000, k as usize);
        store.put(&quiet).await.unwrap();
        alerter.on_new_reports(&quiet).await.unwrap();
    }
    let batch = burst(30, hour + 60_000, 100);
    store.put(&batch).await.unwrap();
    for _ in 0..2 {
        let sent = alerter.on_new_reports(&batch).await.unwrap();
        assert_eq!(sent.spikes, 0, "{sent:?}");
    }
    let other = Alerter::new(state.clone(), webhook(&hook.url), SpikeRule::default());
    assert_eq!(other.on_new_reports(&batch).await.unwrap().spikes, 0);
    let kinds: Vec<Value> = hook.alerts().iter().map(|a| a["kind"].clone()).collect();
    assert_eq!(kinds, [json!("new_problem")]);
    // The 24 hours before the next hour: 23 quiet reports and this hour's 30.
    let problem = Problem {
        site: "example.com".into(),
        report_type: batch[0].report_type.clone(),
        fingerprint: batch[0].fingerprint.clone(),
    };
    assert_eq!(
        state
            .previous_day(&problem, Timestamp(hour + HOUR))
            .await
            .unwrap(),
        53
    );
}

#[tokio::test]
async fn a_batch_given_again_is_counted_once_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    a_batch_given_again_is_counted_once(&store, state).await;
}

#[tokio::test]
async fn dynamo_a_batch_given_again_is_counted_once() {
    let (store, _client, _table) = store_with(1).await;
    a_batch_given_again_is_counted_once(&store, Arc::new(store.clone())).await;
}

/// A sample that tries to write a line of its own into a Slack message ("\n*Classification:*
/// x") stays on its field's line, inside a code span.
#[tokio::test]
async fn report_text_stays_on_its_line_in_a_slack_message() {
    let hook = receiver(StatusCode::OK).await;
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    let state = Arc::new(EmbeddedAlertState::open(data.path()).unwrap());
    let slack = Webhook::new(&hook.url).unwrap().with_slack_format(true);
    let alerter = Alerter::new(state, vec![Arc::new(slack)], SpikeRule::default());
    let forged = decode_json(
        &json!([{"type": "csp-violation", "age": 0, "url": "https://example.com/a",
                 "user_agent": CHROME,
                 "body": {"blockedURL": "inline", "documentURL": "https://example.com/a",
                          "effectiveDirective": "script-src-elem",
                          "originalPolicy": "script-src 'self'", "disposition": "enforce",
                          "sample": "\n*Classification:* x"}}]),
        "example.com",
        Timestamp::now(),
    );
    assert_eq!(forged.len(), 1);
    store.put(&forged).await.unwrap();
    alerter.on_new_reports(&forged).await.unwrap();
    let alerts = hook.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let text = alerts[0]["blocks"][1]["text"]["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        !lines.iter().any(|l| l.starts_with("*Classification:* x")),
        "no line of the report's own: {text}"
    );
    // The sample's own line (the problem's line holds it too: the group has a sample's start).
    assert!(
        lines.contains(&"*sample (reported, unverified):* ` *Classification:* x`"),
        "{text}"
    );
    for line in lines.iter().filter(|l| l.contains("*Classification:* x")) {
        let (label, value) = line.split_once(":* ").unwrap();
        assert!(label.ends_with("(reported, unverified)"), "{line}");
        assert!(
            value.starts_with('`') && value.ends_with('`') && value.matches('`').count() == 2,
            "one code span: {line}"
        );
    }
}

#[tokio::test]
async fn the_deployed_function_reads_its_webhook_url_from_an_ssm_secure_string() {
    let client = lookout::aws::AwsEndpoint::new(
        Some(crate::emulator::s3().url.clone()),
        Some("us-east-1".into()),
    )
    .ssm_from_environment()
    .unwrap();
    let name = format!("/lookout/test/{}", std::process::id());
    client
        .put_parameter()
        .name(&name)
        .value("https://hooks.example/T000/B000/secret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let url = lookout::alert::secret::read_parameter(&client, &name)
        .await
        .unwrap();
    assert_eq!(url, "https://hooks.example/T000/B000/secret");
    let missing = lookout::alert::secret::read_parameter(&client, "/lookout/none").await;
    assert!(missing.is_err());
}
