//! The real `bootstrap` binary, as Lambda runs it: a Lambda Runtime API served here on
//! loopback hands it the API Gateway events in `events/`, the function writes to the DynamoDB
//! emulator with the configuration and credentials it reads from its environment, and its
//! answers come back through the Runtime API.

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use aws_sdk_dynamodb::types::AttributeValue;
use lookout::store::dynamodb::{codec, item};

use crate::emulator::{self, emulator};
use crate::support::{Process, application_log_level, lambda_keeps, report_items, scan_all};

/// What the function sent back for one invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(String),
}

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<VecDeque<(String, Value)>>>,
    more: Arc<Notify>,
    outcomes: mpsc::UnboundedSender<(String, Outcome)>,
}

async fn next(State(rt): State<Runtime>) -> Response {
    loop {
        let notified = rt.more.notified();
        if let Some((id, event)) = rt.events.lock().unwrap().pop_front() {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", deadline.into());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:lookout"
                    .parse()
                    .unwrap(),
            );
            headers.insert("lambda-runtime-trace-id", "Root=1-0-0".parse().unwrap());
            return (headers, event.to_string()).into_response();
        }
        notified.await;
    }
}

async fn response(State(rt): State<Runtime>, Path(id): Path<String>, body: String) -> StatusCode {
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = rt.outcomes.send((id, Outcome::Response(value)));
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Runtime>, Path(id): Path<String>, body: String) -> StatusCode {
    let _ = rt.outcomes.send((id, Outcome::Error(body)));
    StatusCode::ACCEPTED
}

async fn init_error(State(rt): State<Runtime>, body: String) -> StatusCode {
    let _ = rt.outcomes.send(("init".into(), Outcome::Error(body)));
    StatusCode::ACCEPTED
}

fn event(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_bootstrap_serves_api_gateway_events_and_writes_to_dynamodb() {
    let (_store, client, table) = emulator::store_with(1).await;
    let invocations = [
        ("health.json", 200),
        ("legacy-csp.json", 204),
        ("chrome-batch.json", 204),
        ("bad-body.json", 400),
        ("oversized-body.json", 413),
        ("url-legacy-csp.json", 204),
        ("url-preflight.json", 204),
    ];
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rt = Runtime {
        events: Arc::new(Mutex::new(
            invocations
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (format!("req-{i}"), event(name)))
                .collect(),
        )),
        more: Arc::new(Notify::new()),
        outcomes: tx,
    };
    let queue = rt.clone();
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(rt);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "lookout")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/lookout")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_SESSION_TOKEN", "local")
        .env("LOOKOUT_TABLE", &table)
        .env("LOOKOUT_ALLOWED_SITES", "*")
        .env("LOOKOUT_ENDPOINT_URL", &emulator().url)
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("the bootstrap binary starts");
    let _child = Process(child);

    for (i, (name, status)) in invocations.iter().enumerate() {
        let (id, outcome) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no answer to {name}; function log:\n{}",
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                )
            })
            .unwrap();
        assert_eq!(id, format!("req-{i}"), "{name}");
        let resp = match outcome {
            Outcome::Response(resp) => resp,
            Outcome::Error(e) => panic!("{name}: the function reported an error: {e}"),
        };
        assert_eq!(resp["statusCode"], *status, "{name}: {resp}");
    }

    // The legacy report and the batch's reports are in the table (counts by hand, from the
    // events: one legacy report, seven in Chrome's batch).
    let items = scan_all(&client, &table).await;
    let reports = report_items(&items);
    assert_eq!(
        reports.len(),
        1 + 7 + 1,
        "every accepted report is an item (the function URL's legacy report too)"
    );
    // API Gateway's and the function URL's `sourceIp` made each a visitor byte; the address
    // itself is stored nowhere.
    for it in &reports {
        assert!(it.contains_key("visitor"), "{it:?}");
        // The events' `sourceIp`.
        let text = format!("{it:?}");
        assert!(!text.contains("198.51.100."), "no address stored: {text}");
    }

    // The table's stream, as Lambda hands it to the same function: an INSERT per report item
    // (plus an aggregate's record and a MODIFY, which count nothing), twice, as after a retry.
    let mut records: Vec<Value> = reports
        .iter()
        .enumerate()
        .map(|(i, it)| stream_record("INSERT", i + 1, it))
        .collect();
    let modify = stream_record("MODIFY", 100, reports[0]);
    let mut aggregate = reports[0].clone();
    aggregate.insert(
        item::PK.into(),
        AttributeValue::S("AGG#example.com#0".into()),
    );
    records.extend([modify, stream_record("INSERT", 101, &aggregate)]);
    let batch = serde_json::json!({ "Records": records });
    for i in 0..2 {
        queue
            .events
            .lock()
            .unwrap()
            .push_back((format!("stream-{i}"), batch.clone()));
        queue.more.notify_one();
        let (id, outcome) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an answer to the stream batch")
            .unwrap();
        assert_eq!(id, format!("stream-{i}"));
        match outcome {
            Outcome::Response(v) => assert_eq!(v, serde_json::json!({"batchItemFailures": []})),
            Outcome::Error(e) => panic!("the stream batch failed: {e}"),
        }
    }
    let counted: i64 = scan_all(&client, &table)
        .await
        .iter()
        .filter(|i| item::s(i, item::PK).unwrap().starts_with("AGG#"))
        .map(|i| item::n(i, "count").unwrap())
        .sum();
    assert_eq!(
        counted, 9,
        "each report counted once, the retry and the rest not at all"
    );

    // Logs are JSON lines, as CloudWatch's JSON log format expects, and Lambda's level filter
    // at the template's application level keeps every one, the metric documents included.
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(text.contains("lookout ready"), "{text}");
    let level = application_log_level("CollectorFunction");
    let mut metric_lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(lambda_keeps(line, &level), "Lambda would drop: {line}");
        metric_lines += usize::from(v.get("_aws").is_some());
    }
    assert!(
        metric_lines >= 4,
        "one metric document per request:\n{text}"
    );
    // The function's own log bytes (CloudWatch bills each event's bytes plus 26).
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!(
            "log bytes: {:4} {}",
            line.len() + 26,
            &line[..line.len().min(100)]
        );
    }
}

/// A DynamoDB stream record as Lambda delivers it.
fn stream_record(event_name: &str, sequence: usize, image: &item::Item) -> Value {
    serde_json::json!({
        "eventID": format!("e{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_796_000_000,
            "Keys": {"pk": image["pk"].as_s().map(|s| serde_json::json!({"S": s})).unwrap(),
                     "sk": image["sk"].as_s().map(|s| serde_json::json!({"S": s})).unwrap()},
            "NewImage": codec::dynamodb_json_of_item(image),
            "SequenceNumber": format!("{}", 1_000_000_000_000_000_000u64 + sequence as u64),
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    })
}
