//! The Lambda entry point: everything built once per cold start, then `lambda_http::run`.

use std::sync::Arc;

use clap::Parser;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Response, tower::ServiceExt};
use serde::Deserialize;
use serde_json::Value;

use crate::alert::engine::Alerter;
use crate::archive::s3::S3Archive;
use crate::aws::AwsEndpoint;
use crate::config::{AlertArgs, CollectArgs, TableArgs};
use crate::http::{AppState, app};
use crate::pipeline::{self, Batch};
use crate::store::dynamodb::DynamoStore;
use crate::store::dynamodb::stream::StreamEvent;

/// The function's configuration, from its environment (set by `template.yaml`).
#[derive(Debug, Parser)]
#[command(name = "bootstrap")]
pub struct LambdaConfig {
    #[command(flatten)]
    collect: CollectArgs,
    /// The DynamoDB table.
    #[arg(long, env = "LOOKOUT_TABLE")]
    table: String,
    #[command(flatten)]
    kept: TableArgs,
    /// A DynamoDB endpoint other than AWS's (local runs).
    #[arg(long, env = "LOOKOUT_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    #[command(flatten)]
    alerts: AlertArgs,
}

impl LambdaConfig {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self, clap::Error> {
        Self::try_parse_from(["bootstrap"])
    }

    /// Builds the app state (options validated, client built) and the store.
    pub async fn state(&self) -> Result<(AppState, DynamoStore), crate::config::ConfigError> {
        self.collect.require_site_choice()?;
        let opts = self.collect.options()?;
        let client =
            AwsEndpoint::new(self.endpoint_url.clone(), None).dynamodb_from_environment()?;
        let store = DynamoStore::new(client, self.kept.settings(&self.table));
        let mut state = AppState::new(opts, Arc::new(store.clone()));
        state.emf = true;
        state.budget = Arc::new(self.collect.budget());
        Ok((state, store))
    }

    /// The alerter, when a webhook (or the SSM parameter holding it) or a topic is set.
    pub async fn alerter(
        &self,
        store: &DynamoStore,
    ) -> Result<Option<Alerter>, crate::config::ConfigError> {
        let sinks = self.alerts.sinks().await?;
        if sinks.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            Alerter::new(Arc::new(store.clone()), sinks, self.alerts.rule())
                .with_script_min_visitors(self.alerts.script_min_visitors),
        ))
    }
}

/// The archive function's configuration (the template's `ArchiveFunction`): the same
/// bootstrap, given a bucket, writes its stream batches to S3 and does nothing else.
#[derive(Debug, Parser)]
#[command(name = "bootstrap")]
pub struct ArchiveConfig {
    /// The bucket the archive is written to.
    #[arg(long, env = "LOOKOUT_ARCHIVE_BUCKET")]
    bucket: String,
    /// An S3 endpoint other than AWS's (local runs).
    #[arg(long, env = "LOOKOUT_S3_ENDPOINT_URL")]
    endpoint_url: Option<String>,
}

impl ArchiveConfig {
    /// The writer.
    pub fn archive(&self) -> Result<S3Archive, crate::aws::ClientError> {
        let client = AwsEndpoint::new(self.endpoint_url.clone(), None).s3_from_environment()?;
        Ok(S3Archive::new(client, &self.bucket))
    }
}

/// A DynamoDB stream batch into the archive: its new reports, one object per day and site.
/// A failed write fails the batch, which Lambda delivers again; its objects then replace
/// the ones already written.
pub async fn handle_archive(
    archive: &S3Archive,
    event: &StreamEvent,
) -> Result<Value, crate::archive::ArchiveError> {
    let reports = event.new_reports();
    let objects =
        crate::archive::objects(reports.iter().map(|n| (n.sequence.as_str(), &n.report)))?;
    let written = archive.write(objects).await?;
    tracing::info!(
        reports = written.reports,
        objects = written.objects,
        bytes = written.bytes,
        "archived"
    );
    Ok(serde_json::json!({ "batchItemFailures": [] }))
}

/// Runs the function until the runtime stops it. One handler for both event kinds: an HTTP
/// API request goes to the collector app, a DynamoDB stream batch to the aggregates. Given an
/// archive bucket, it is the archive function instead.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::telemetry::init_lambda();
    if std::env::var_os("LOOKOUT_ARCHIVE_BUCKET").is_some() {
        return run_archive().await;
    }
    let config = LambdaConfig::from_env()?;
    let (state, store) = config.state().await?;
    let alerter = config.alerter(&store).await?.map(Arc::new);
    tracing::info!(table = %config.table, alerts = alerter.is_some(), "lookout ready");
    let http = lambda_http::Adapter::from(app(state));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(http.clone(), store.clone(), alerter.clone(), event)
    }))
    .await
}

/// A DynamoDB stream batch through the pipeline (`crate::pipeline`): its new reports counted
/// into the aggregates, then their alerts. A counting error fails the batch, which Lambda
/// delivers again (counting is idempotent); alerts never fail it.
pub async fn handle_stream(
    store: &DynamoStore,
    alerter: Option<&Alerter>,
    event: &StreamEvent,
) -> Result<Value, crate::store::StoreError> {
    let batch = Batch::Stream(event.new_reports());
    let counted = pipeline::on_new_reports(Some(store), alerter, batch).await?;
    tracing::info!(counted, "stream batch");
    Ok(serde_json::json!({ "batchItemFailures": [] }))
}

async fn run_archive() -> Result<(), lambda_http::Error> {
    let config = ArchiveConfig::try_parse_from(["bootstrap"])?;
    let archive = config.archive()?;
    tracing::info!(bucket = archive.bucket(), "lookout archive ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| {
        let archive = archive.clone();
        async move { Ok::<_, lambda_http::Error>(handle_archive(&archive, &event.payload).await?) }
    }))
    .await
}

type HttpAdapter = lambda_http::Adapter<'static, Response<axum::body::Body>, axum::Router>;

/// What the collector function is invoked with, decided once per invocation.
#[derive(Debug)]
pub enum Incoming {
    /// A batch of the table's stream (its records' source is `aws:dynamodb`).
    Stream(StreamEvent),
    /// A request through API Gateway's HTTP API or the function URL.
    Http(Box<LambdaRequest>),
    /// The stack's schedule (every 5 minutes): alerts whose delivery failed are retried when
    /// due, even while no new report arrives to carry them.
    RetryAlerts,
}

/// The schedule's payload (`template.yaml`, `RetryAlerts`).
pub const RETRY_ALERTS: &str = "retry-alerts";

impl Incoming {
    /// Reads an invocation's payload: a stream batch when it reads as one, else an HTTP
    /// request (an error when it is neither).
    pub fn of(payload: Value) -> Result<Self, serde_json::Error> {
        if payload.get("lookout").and_then(Value::as_str) == Some(RETRY_ALERTS) {
            return Ok(Self::RetryAlerts);
        }
        if let Ok(event) = StreamEvent::deserialize(&payload)
            && event.is_dynamodb()
        {
            return Ok(Self::Stream(event));
        }
        serde_json::from_value(payload).map(|request| Self::Http(Box::new(request)))
    }
}

async fn handle(
    http: HttpAdapter,
    store: DynamoStore,
    alerter: Option<Arc<Alerter>>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    let LambdaEvent { payload, context } = event;
    match Incoming::of(payload)? {
        Incoming::Stream(batch) => Ok(handle_stream(&store, alerter.as_deref(), &batch).await?),
        Incoming::Http(request) => {
            let response = http.oneshot(LambdaEvent::new(*request, context)).await?;
            Ok(serde_json::to_value(response)?)
        }
        Incoming::RetryAlerts => {
            // An empty batch: the alerter retries the pending alerts whose time has come.
            let batch = crate::pipeline::Batch::Stored(Vec::new());
            crate::pipeline::on_new_reports(None, alerter.as_deref(), batch).await?;
            Ok(serde_json::json!({"retried": alerter.is_some()}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_asks_for_due_alerts_to_be_retried() {
        let payload = serde_json::json!({"lookout": RETRY_ALERTS});
        assert!(matches!(Incoming::of(payload), Ok(Incoming::RetryAlerts)));
        let template = include_str!("../template.yaml");
        assert!(
            template.contains(&format!(r#"Input: '{{"lookout": "{RETRY_ALERTS}"}}'"#)),
            "the template's schedule sends this payload"
        );
    }

    #[test]
    fn an_invocation_is_a_stream_batch_or_an_http_request() {
        let http: Value = serde_json::from_str(include_str!("../events/health.json")).unwrap();
        assert!(matches!(Incoming::of(http), Ok(Incoming::Http(_))));
        let batch = serde_json::json!({"Records": [{
            "eventID": "e1", "eventSource": "aws:dynamodb", "eventName": "MODIFY",
            "dynamodb": {"SequenceNumber": "100", "SizeBytes": 12,
                         "NewImage": {"pk": {"S": "AGG#example.com#0"}}}
        }]});
        match Incoming::of(batch) {
            Ok(Incoming::Stream(event)) => {
                assert_eq!(event.records.len(), 1);
                assert!(event.new_reports().is_empty(), "a MODIFY counts nothing");
            }
            other => panic!("not a stream batch: {other:?}"),
        }
        let queue = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
        assert!(
            Incoming::of(queue).is_err(),
            "neither the table's stream nor a request"
        );
    }
}
