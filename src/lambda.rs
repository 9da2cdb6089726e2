//! The Lambda entry point: everything built once per cold start, then `lambda_http::run`.

use std::sync::Arc;

use clap::Parser;
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use lambda_http::request::LambdaRequest;
use lambda_http::{Response, tower::ServiceExt};
use serde_json::Value;

use crate::config::CollectArgs;
use crate::http::{AppState, app};
use crate::store::dynamodb::{Connection, DynamoSettings, DynamoStore, stream};

/// The function's configuration, from its environment (set by `template.yaml`).
#[derive(Debug, Parser)]
#[command(name = "bootstrap")]
pub struct LambdaConfig {
    #[command(flatten)]
    collect: CollectArgs,
    /// The DynamoDB table.
    #[arg(long, env = "LOOKOUT_TABLE")]
    table: String,
    /// Days a report is kept.
    #[arg(long, env = "LOOKOUT_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    /// Write shards per site and type.
    #[arg(long, env = "LOOKOUT_WRITE_SHARDS", default_value_t = 1)]
    write_shards: u16,
    /// A DynamoDB endpoint other than AWS's (local runs).
    #[arg(long, env = "LOOKOUT_ENDPOINT_URL")]
    endpoint_url: Option<String>,
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
        let client = Connection {
            endpoint_url: self.endpoint_url.clone(),
            region: None,
        }
        .from_environment()?;
        let mut settings = DynamoSettings::new(&self.table);
        settings.retention_days = self.retention_days.max(1);
        settings.shards = self.write_shards.max(1);
        let store = DynamoStore::new(client, settings);
        let mut state = AppState::new(opts, Arc::new(store.clone()));
        state.emf = true;
        state.budget = Arc::new(self.collect.budget());
        Ok((state, store))
    }
}

/// Runs the function until the runtime stops it. One handler for both event kinds: an HTTP
/// API request goes to the collector app, a DynamoDB stream batch to the aggregates.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::telemetry::init_lambda();
    let config = LambdaConfig::from_env()?;
    let (state, store) = config.state().await?;
    tracing::info!(table = %config.table, "lookout ready");
    let http = lambda_http::Adapter::from(app(state));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(http.clone(), store.clone(), event)
    }))
    .await
}

type HttpAdapter = lambda_http::Adapter<'static, Response<axum::body::Body>, axum::Router>;

async fn handle(
    http: HttpAdapter,
    store: DynamoStore,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    let LambdaEvent { payload, context } = event;
    if stream::is_stream_event(&payload) {
        let reports = stream::new_reports_of_event(&payload);
        // An error fails the batch, which Lambda delivers again: counting is idempotent.
        store.count_new_reports(&reports).await?;
        tracing::info!(counted = reports.len(), "stream batch");
        return Ok(serde_json::json!({ "batchItemFailures": [] }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)?;
    let response = http.oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}
