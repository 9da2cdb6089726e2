//! `lookout replay`: reports answered 503 and logged for recovery are put back, each once, into
//! the embedded store and into DynamoDB.

use std::sync::Arc;

use axum::http::StatusCode;
use lookout::report::{Report, Timestamp};
use lookout::store::{RecentQuery, ReportStore};

use crate::emulator::{self, emulator};
use crate::support::{
    Fault, FaultyStore, LogCapture, TempStore, batch, post, report_items, run_lookout, scan_all,
    send, state,
};

/// A CSP report of its own page and blocked origin.
fn csp(i: usize) -> String {
    format!(
        r#"{{"type":"csp-violation","age":{i},"url":"https://example.com/p{i}","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","body":{{"blockedURL":"https://cdn{i}.example.net/x.js","documentURL":"https://example.com/p{i}","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self'","disposition":"report"}}}}"#
    )
}

/// Posts a batch to an app whose store is down twice (a browser re-delivering it after the
/// 503); returns the log file of recovery lines, as Lambda writes them, and the reports.
async fn logged_after_two_failures(n: usize) -> (tempfile::NamedTempFile, Vec<Report>) {
    // Both deliveries inside one identity window, so that their lines name the same ids (a
    // delivery across a window's edge is a neighbour: stored once, but under another id).
    let into = Timestamp::now()
        .millis()
        .rem_euclid(lookout::report::WINDOW_MS);
    if into > lookout::report::WINDOW_MS - 2_000 {
        let wait = lookout::report::WINDOW_MS - into + 100;
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
    }
    let logs = LogCapture::json();
    let t = TempStore::new();
    let s = state(Arc::new(FaultyStore::new(t.store.clone(), Fault::Down)));
    for _ in 0..2 {
        let (res, _) = send(
            &s,
            post(
                "/r/example.com",
                "application/reports+json",
                batch(0..n, csp),
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut recovered = logs.recovered();
    assert_eq!(
        recovered.len(),
        2 * n,
        "every report logged, on each delivery"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), logs.text()).unwrap();
    recovered.sort_by(|a, b| a.id.cmp(&b.id));
    recovered.dedup_by(|a, b| a.id == b.id);
    (file, recovered)
}

fn replay(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["replay", "--json"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = run_lookout(&all);
    assert!(ok, "replay failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[tokio::test]
async fn reports_answered_503_are_replayed_into_the_embedded_store_once() {
    let (log, reports) = logged_after_two_failures(6).await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let log = log.path().to_str().unwrap();

    let first = replay(&[log, "--data", dir]);
    assert_eq!(first["found"], 12);
    assert_eq!(
        first["duplicates"], 6,
        "the re-delivery's lines name the same reports"
    );
    assert_eq!(first["stored"], 6);
    assert_eq!(first["already_there"], 0);
    let again = replay(&[log, "--data", dir]);
    assert_eq!(
        (again["stored"].as_u64(), again["already_there"].as_u64()),
        (Some(0), Some(6))
    );

    let store = lookout::store::embedded::EmbeddedStore::open(data.path()).unwrap();
    let mut stored = store
        .recent(&RecentQuery {
            site: "example.com".into(),
            report_type: None,
            since: Timestamp(0),
            limit: 100,
            classification: None,
            fingerprint: None,
        })
        .await
        .unwrap();
    stored.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        stored, reports,
        "every report back, exactly as it was accepted"
    );
}

#[tokio::test]
async fn reports_answered_503_are_replayed_into_dynamodb_once() {
    let (log, reports) = logged_after_two_failures(4).await;
    let (_store, client, table) = emulator::store_with(1).await;
    let log = log.path().to_str().unwrap();
    let target = ["--table", &table, "--endpoint-url", &emulator().url];
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![log.to_owned()];
        v.extend(target.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let with_env = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        replay(&refs)
    };
    let dry = with_env(args(&["--dry-run"]));
    assert_eq!(dry["stored"], 4, "a dry run says what it would store");
    assert!(
        report_items(&scan_all(&client, &table).await).is_empty(),
        "and stores nothing"
    );

    let first = with_env(args(&[]));
    assert_eq!(
        (first["stored"].as_u64(), first["duplicates"].as_u64()),
        (Some(4), Some(4))
    );
    let again = with_env(args(&[]));
    assert_eq!(
        (again["stored"].as_u64(), again["already_there"].as_u64()),
        (Some(0), Some(4))
    );

    let items = scan_all(&client, &table).await;
    let mut ids: Vec<String> = report_items(&items)
        .iter()
        .map(|it| {
            let sk = it["sk"].as_s().unwrap();
            sk.rsplit('#').next().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    let expected: Vec<String> = reports.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, expected, "one item per report, under its original key");
}

#[test]
fn a_logged_report_with_a_forged_site_or_fingerprint_is_refused() {
    let body = serde_json::json!([{"type": "csp-violation", "age": 0, "url": "https://example.com/",
        "user_agent": "Mozilla/5.0 Firefox/149.0",
        "body": {"blockedURL": "https://cdn.example.net/x.js", "documentURL": "https://example.com/",
                 "effectiveDirective": "script-src-elem", "disposition": "report"}}]);
    let good = crate::support::decode_json(&body, "example.com", Timestamp::now()).remove(0);
    let line = |r: &Report| {
        serde_json::json!({"level": "ERROR", "recovery": true, "error": "x",
                           "report": serde_json::to_string(r).unwrap()})
        .to_string()
    };
    let mut traversal = good.clone();
    traversal.site = "../../evil.example".into();
    let mut forged_group = good.clone();
    forged_group.group.push_str(" allowed-by-policy");
    let mut ancient = good.clone();
    ancient.received_at = Timestamp(1_262_304_000_000);
    let log = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        log.path(),
        [&traversal, &forged_group, &ancient, &good]
            .map(line)
            .join("\n"),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let summary = replay(&[
        log.path().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    assert_eq!(summary["found"], 4);
    assert_eq!(summary["invalid"], 3, "{summary}");
    assert_eq!(summary["stored"], 1, "{summary}");
}

#[tokio::test]
async fn dynamo_a_batch_lambda_gave_up_on_is_counted_again_from_the_failed_batches_queue() {
    use lookout::store::TopQuery;
    let (store, _client, table) = emulator::store_with(1).await;
    let body = serde_json::Value::Array(
        (0..5)
            .map(|i| {
                serde_json::json!({"type": "csp-violation", "age": 0, "url": "https://example.com/",
                    "user_agent": "Mozilla/5.0 Firefox/149.0",
                    "body": {"blockedURL": format!("https://cdn{}.example.net/x.js", i % 2),
                             "documentURL": "https://example.com/", "lineNumber": i + 1,
                             "effectiveDirective": "script-src-elem", "disposition": "report"}})
            })
            .collect(),
    );
    store
        .put(&crate::support::decode_json(
            &body,
            "example.com",
            Timestamp::now(),
        ))
        .await
        .unwrap();
    // Where the batch was in the stream, as Lambda tells its on-failure destination.
    let streams = emulator::streams().await;
    let arn = streams
        .list_streams()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .streams()[0]
        .stream_arn()
        .unwrap()
        .to_owned();
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description()
        .unwrap()
        .shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let event = emulator::lambda_event_of_stream(&streams, &table).await;
    let sequence: Vec<&str> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap())
        .collect();
    let message = serde_json::json!({
        "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:lookout",
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 9},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2026-12-07T03:00:00.000Z",
        "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": sequence[0],
                               "endSequenceNumber": sequence[sequence.len() - 1],
                               "approximateArrivalOfFirstRecord": "2026-12-07T02:59:00Z",
                               "approximateArrivalOfLastRecord": "2026-12-07T02:59:00Z",
                               "batchSize": sequence.len(), "streamArn": arn}
    })
    .to_string();
    // The queue, on moto's SQS.
    let sqs =
        lookout::aws::AwsEndpoint::new(Some(emulator::s3().url.clone()), Some("us-east-1".into()))
            .sqs()
            .await;
    let queue = sqs
        .create_queue()
        .queue_name(format!("failed-batches-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for body in [message.as_str(), "{\"not\": \"a batch\"}"] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let tailer = lookout::store::dynamodb::stream::Tailer::new(streams, &store)
        .await
        .unwrap();
    let steps = lookout::pipeline::Pipeline {
        counter: store.clone(),
        alerter: None,
    };
    let query = TopQuery {
        site: "example.com".into(),
        report_type: None,
        since: Timestamp(0),
        limit: 10,
        classification: None,
    };
    let top = || store.top(&query);
    assert!(top().await.unwrap().is_empty(), "nothing counted yet");
    let summary = lookout::failed_batches::count(&sqs, &queue, &tailer, &steps, false)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.batches,
            summary.counted,
            summary.reports,
            summary.unreadable
        ),
        (1, 1, 5, 1),
        "{summary:?}"
    );
    let counts: Vec<u64> = top().await.unwrap().iter().map(|g| g.count).collect();
    assert_eq!(counts, [3, 2]);
    // The same batch named again (a message delivered twice): counted once all the same.
    sqs.send_message()
        .queue_url(&queue)
        .message_body(&message)
        .send()
        .await
        .unwrap();
    let again = lookout::failed_batches::count(&sqs, &queue, &tailer, &steps, false)
        .await
        .unwrap();
    assert_eq!(again.counted, 1);
    let counts: Vec<u64> = top().await.unwrap().iter().map(|g| g.count).collect();
    assert_eq!(counts, [3, 2], "counting is exact");
}
