//! A real DynamoDB-API server for the tests: AWS's DynamoDB Local when its jar is installed
//! (`scripts/setup-test-tools`), else moto's server; `LOOKOUT_TEST_DYNAMODB=local|moto` forces
//! one. Started once per test process on a free loopback port, under a small shell watchdog
//! that kills the server's PID when the test process ends (its stdin pipe closes), however it
//! ends. Also: the fault-injecting proxy (`tests/tools/faultproxy.py`).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use lookout::aws::AwsEndpoint;
use lookout::store::dynamodb::stream::StreamEvent;
use lookout::store::dynamodb::{DynamoSettings, DynamoStore, codec, table};

use serde_json::Value;

use crate::support::{Process, free_port};

/// A running emulator.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `local` (DynamoDB Local), `moto`, or `moto-s3`.
    pub kind: &'static str,
    _watchdog: Mutex<(Child, ChildStdin)>,
    _log: tempfile::TempDir,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
static S3: OnceLock<Emulator> = OnceLock::new();

/// moto's server as S3, for the archive's tests (whichever DynamoDB emulator runs), started on
/// first use.
pub fn s3() -> &'static Emulator {
    S3.get_or_init(|| start("moto-s3"))
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn jar_dir() -> PathBuf {
    repo().join(".cache/dynamodb-local/package/aws_dynamodb_local")
}

/// The shared emulator, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| {
        let kind = match std::env::var("LOOKOUT_TEST_DYNAMODB").as_deref() {
            Ok("moto") => "moto",
            Ok("local") => "local",
            Ok(other) => panic!("LOOKOUT_TEST_DYNAMODB={other}: use local or moto"),
            Err(_) if jar_dir().join("DynamoDBLocal.jar").exists() => "local",
            Err(_) => "moto",
        };
        start(kind)
    })
}

/// Runs `cmd` under `sh`, killed when our end of its stdin closes.
fn watchdog(cmd: &[String], log: &Path) -> (Child, ChildStdin) {
    let script = r#"log="$1"; shift; "$@" >"$log" 2>&1 & pid=$!; read -r _; kill "$pid" 2>/dev/null; wait "$pid""#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(log)
        .args(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

fn start(kind: &'static str) -> Emulator {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("emulator.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (watch, url) = match kind {
        "local" => {
            let jar = jar_dir();
            assert!(
                jar.join("DynamoDBLocal.jar").exists(),
                "DynamoDB Local missing at {}: run scripts/setup-test-tools",
                jar.display()
            );
            let port = free_port();
            let cmd: Vec<String> = vec![
                "java".into(),
                format!(
                    "-Djava.library.path={}",
                    jar.join("DynamoDBLocal_lib").display()
                ),
                "-jar".into(),
                jar.join("DynamoDBLocal.jar").display().to_string(),
                "-inMemory".into(),
                "-sharedDb".into(),
                "-port".into(),
                port.to_string(),
            ];
            let watch = watchdog(&cmd, &log);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "DynamoDB Local did not listen: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            (watch, format!("http://127.0.0.1:{port}"))
        }
        _ => {
            let cmd: Vec<String> = ["moto_server", "-H", "127.0.0.1", "-p", "0"]
                .map(String::from)
                .to_vec();
            let watch = watchdog(&cmd, &log);
            let url = loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(rest) = text.split("Running on http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    break format!("http://127.0.0.1:{port}");
                }
                assert!(
                    Instant::now() < deadline,
                    "moto_server did not start (run scripts/setup-test-tools): {text}"
                );
                std::thread::sleep(Duration::from_millis(100));
            };
            (watch, url)
        }
    };
    eprintln!("emulator: {kind} at {url}");
    Emulator {
        url,
        kind,
        _watchdog: Mutex::new(watch),
        _log: dir,
    }
}

/// A fresh table name.
pub fn table_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A client for `url`.
pub async fn client(url: &str) -> Client {
    AwsEndpoint::new(Some(url.to_owned()), Some("us-east-1".into()))
        .dynamodb()
        .await
}

/// A new table (from the template's definition) on the emulator, and a store over it.
pub async fn store_with(shards: u16) -> (DynamoStore, Client, String) {
    store_at(&emulator().url, shards).await
}

/// A new table at `url` (the emulator, or a fault proxy in front of it), and a store over it
/// with quick backoffs.
pub async fn store_at(url: &str, shards: u16) -> (DynamoStore, Client, String) {
    let client = client(url).await;
    let name = table_name();
    table::create(&client, &name).await.unwrap();
    let mut settings = DynamoSettings::new(&name);
    settings.shards = shards;
    settings.initial_backoff = Duration::from_millis(5);
    (DynamoStore::new(client.clone(), settings), client, name)
}

/// The fault proxy in front of the emulator.
pub struct FaultProxy {
    pub url: String,
    _process: Process,
}

impl FaultProxy {
    pub fn start() -> Self {
        let script = repo().join("tests/tools/faultproxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&emulator().url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts the fault proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the proxy prints its address")
            .to_owned();
        Self {
            url: format!("http://{addr}"),
            _process: Process(child),
        }
    }

    /// Arms faults (see the proxy's docstring).
    pub fn arm(&self, faults: serde_json::Value) {
        let addr = self.url.trim_start_matches("http://");
        let body = faults.to_string();
        let (status, _) = crate::support::http_request(
            addr,
            "POST",
            "/__fault",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(status, 200);
    }

    /// The proxy's counters.
    pub fn counters(&self) -> serde_json::Value {
        let addr = self.url.trim_start_matches("http://");
        let (_, body) = crate::support::http_request(addr, "GET", "/__fault", &[], b"");
        serde_json::from_str(&body).unwrap()
    }
}

/// A DynamoDB Streams client for the emulator.
pub async fn streams() -> aws_sdk_dynamodbstreams::Client {
    AwsEndpoint::new(Some(emulator().url.clone()), Some("us-east-1".into()))
        .streams()
        .await
}

/// Requests per DynamoDB operation the proxy saw since `before` (a counters snapshot).
pub fn calls_since(proxy: &FaultProxy, before: &Value) -> serde_json::Map<String, Value> {
    let now = proxy.counters();
    let mut out = serde_json::Map::new();
    for (op, n) in now["ops"].as_object().unwrap() {
        let was = before["ops"][op].as_u64().unwrap_or(0);
        let diff = n.as_u64().unwrap() - was;
        if diff > 0 {
            out.insert(op.clone(), diff.into());
        }
    }
    out
}

pub fn calls(map: &serde_json::Map<String, Value>, op: &str) -> u64 {
    map.get(op).and_then(Value::as_u64).unwrap_or(0)
}

/// Everything the table's stream holds, as the Lambda event that delivers it, read as the
/// function reads it.
pub async fn stream_event(table: &str) -> StreamEvent {
    let event = lambda_event_of_stream(&streams().await, table).await;
    serde_json::from_value(event).expect("a stream event reads")
}

/// Every record a table's stream holds, in the shape of the Lambda event that delivers them
/// (`{"Records": [{"eventSource": "aws:dynamodb", "eventName", "dynamodb": {"SequenceNumber",
/// "NewImage"}}]}`): the deployed function's input, built from the emulator's stream.
pub async fn lambda_event_of_stream(
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
) -> Value {
    let listed = streams
        .list_streams()
        .table_name(table)
        .send()
        .await
        .expect("the table's streams list");
    let arn = listed
        .streams()
        .first()
        .and_then(|s| s.stream_arn())
        .expect("the table has a stream")
        .to_owned();
    let description = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("the stream describes");
    let shards: Vec<String> = description
        .stream_description()
        .map(|d| {
            d.shards()
                .iter()
                .filter_map(|s| s.shard_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("a shard iterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(it) = iterator.take() {
            let out = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .expect("the shard's records read");
            if out.records().is_empty() {
                break;
            }
            for r in out.records() {
                let Some(change) = r.dynamodb() else { continue };
                let image = change
                    .new_image()
                    .map(codec::item_of_stream_image)
                    .unwrap_or_default();
                records.push(serde_json::json!({
                    "eventSource": "aws:dynamodb",
                    "eventName": r.event_name().map(|e| e.as_str()).unwrap_or_default(),
                    "dynamodb": {
                        "SequenceNumber": change.sequence_number(),
                        "NewImage": codec::dynamodb_json_of_item(&image),
                    },
                }));
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    serde_json::json!({ "Records": records })
}

/// Counts what the table's stream holds into the aggregates, as Lambda does for the deployed
/// stack: one pass of a fresh reader, from the stream's oldest record (so every call reads
/// everything again, which counting must survive), through the pipeline without alerts.
pub async fn count_stream(store: &DynamoStore) -> usize {
    let counting = lookout::pipeline::Pipeline {
        counter: store.clone(),
        alerter: None,
    };
    lookout::store::dynamodb::stream::Tailer::new(streams().await, store)
        .await
        .expect("the table has a stream")
        .pass(&counting)
        .await
        .expect("the stream reads")
}
