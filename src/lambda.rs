//! The Lambda entry point: everything built once per cold start, then `lambda_http::run`.

use std::sync::Arc;

use clap::Parser;

use crate::config::CollectArgs;
use crate::http::{AppState, app};
use crate::store::dynamodb::{Connection, DynamoSettings, DynamoStore};

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

    /// Builds the app state: options validated, client built.
    pub async fn state(&self) -> Result<AppState, crate::config::ConfigError> {
        let opts = self.collect.options()?;
        let client = Connection {
            endpoint_url: self.endpoint_url.clone(),
            region: None,
        }
        .from_environment()?;
        let mut settings = DynamoSettings::new(&self.table);
        settings.retention_days = self.retention_days.max(1);
        settings.shards = self.write_shards.max(1);
        let mut state = AppState::new(opts, Arc::new(DynamoStore::new(client, settings)));
        state.emf = true;
        state.budget = Arc::new(self.collect.budget());
        Ok(state)
    }
}

/// Runs the function until the runtime stops it.
pub async fn run() -> Result<(), lambda_http::Error> {
    crate::telemetry::init_lambda();
    let config = LambdaConfig::from_env()?;
    let state = config.state().await?;
    tracing::info!(table = %config.table, "lookout ready");
    lambda_http::run(app(state)).await
}
