//! The `lookout` command line: `serve`, `query`, `top`, `policy`, `mute`, `headers`,
//! `replay`, `ui`, `create-table`.
//!
//! Adding a command: a module here with its `clap::Args` struct (flatten `StoreArgs` or
//! `ReportFilter` rather than declaring `--table`, `--site`, `--type` again) and its `run`; a
//! variant of `Command` and its line in `main`'s match. The work itself belongs below `cli`
//! (`policy/`, `store/`, `report/`), where the dashboard or the function can use it too.

mod guard;
mod headers;
mod mute;
mod policy;
mod replay;
mod scripts;
pub mod serve;
pub(crate) mod show;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::alert::AlertState;
use crate::config::DynamoArgs;
use crate::report::{Classification, ReportType, Timestamp, parse_site};
use crate::store::dynamodb::{DynamoStore, table};
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::embedded_alerts::EmbeddedAlertState;
use crate::store::{RecentQuery, ReportStore, TopQuery};

/// Lookout: collect browser reports (CSP, Reporting API, NEL, certificate reports).
#[derive(Debug, Parser)]
#[command(name = "lookout", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector locally, with the embedded store.
    Serve(Box<serve::ServeArgs>),
    /// Show recent reports of a site.
    Query(QueryArgs),
    /// Show the most frequent problems of a site.
    Top(TopArgs),
    /// Store again the reports that recovery log lines hold (reports the collector could not
    /// store), each once.
    Replay(replay::ReplayArgs),
    /// Print the response headers that make browsers send reports here.
    Headers(headers::HeadersArgs),
    /// Suggest the CSP the reports of a site ask for, with what changed and what was left out.
    Policy(policy::PolicyArgs),
    /// Mute alerts for a problem or a report type of a site.
    Mute(mute::MuteArgs),
    /// The scripts a site's pages ran (from `csp-hash` reports), their contents and
    /// authorizations; `authorize` and `revoke` record decisions.
    Scripts(scripts::ScriptsArgs),
    /// Serve a read-only dashboard of a site's problems on a local web page.
    Ui(ui::UiArgs),
    /// Create a DynamoDB table exactly as template.yaml defines it (for DynamoDB Local, moto,
    /// or an account without SAM).
    CreateTable(CreateTableArgs),
}

/// The embedded store's directory when `--data` is not given.
pub(crate) const DEFAULT_DATA: &str = "lookout-data";

/// Where the reports are: the embedded store, or a DynamoDB table with `--table`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory of the embedded store.
    #[arg(long, env = "LOOKOUT_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    #[command(flatten)]
    pub dynamodb: DynamoArgs,
    #[command(flatten)]
    pub kept: crate::config::TableArgs,
    /// Cap on the embedded store's file size in bytes; past it, reports are refused with 503.
    #[arg(long, env = "LOOKOUT_MAX_STORE_BYTES")]
    pub max_store_bytes: Option<u64>,
}

impl StoreArgs {
    /// Where the store is, for messages.
    pub fn describe(&self) -> String {
        match (&self.dynamodb.table, &self.dynamodb.endpoint_url) {
            (Some(t), Some(url)) => format!("DynamoDB table {t} at {url}"),
            (Some(t), None) => format!("DynamoDB table {t}"),
            _ => self
                .data
                .join(crate::store::embedded::DB_FILE)
                .display()
                .to_string(),
        }
    }

    /// Opens the store for reading (`query`, `top`): the embedded store must exist.
    pub async fn open_for_reading(&self) -> CliResult<Arc<dyn ReportStore>> {
        if self.dynamodb.table.is_some() {
            return self.open().await;
        }
        let options = EmbeddedOptions {
            read_only: true,
            ..EmbeddedOptions::default()
        };
        Ok(Arc::new(EmbeddedStore::open_with(&self.data, options)?))
    }

    /// The DynamoDB store, with `--table`.
    pub async fn dynamo(&self) -> Option<DynamoStore> {
        let table = self.dynamodb.table.as_ref()?;
        let client = self.dynamodb.endpoint().dynamodb().await;
        Some(DynamoStore::new(client, self.kept.settings(table)))
    }

    /// The alert state beside the store (mutes, script authorizations): the table itself with
    /// `--table`, else the embedded store's file, which must exist.
    pub async fn alert_state(&self) -> CliResult<Arc<dyn AlertState>> {
        Ok(match self.dynamo().await {
            Some(d) => Arc::new(d),
            None => Arc::new(EmbeddedAlertState::open(&self.data)?),
        })
    }

    /// Opens the store.
    pub async fn open(&self) -> CliResult<Arc<dyn ReportStore>> {
        if let Some(store) = self.dynamo().await {
            return Ok(Arc::new(store));
        }
        Ok(self.open_embedded()?)
    }

    /// Opens (creating if needed) the embedded store for writing.
    pub fn open_embedded(&self) -> CliResult<Arc<EmbeddedStore>> {
        let options = EmbeddedOptions {
            max_bytes: self.max_store_bytes,
            ..EmbeddedOptions::default()
        };
        Ok(Arc::new(EmbeddedStore::open_with(&self.data, options)?))
    }
}

// The table flags, with `--table` required: a table to create is named on the command line,
// so neither it nor `--endpoint-url` is read from the variables a `serve` may be set up with.
#[derive(Debug, clap::Args)]
#[command(mut_arg("table", table_to_create))]
#[command(mut_arg("endpoint_url", without_variable))]
struct CreateTableArgs {
    #[command(flatten)]
    dynamodb: DynamoArgs,
}

/// `create-table`'s `--table`.
fn table_to_create(arg: clap::Arg) -> clap::Arg {
    without_variable(arg)
        .required(true)
        .help("The table to create.")
}

/// A flag that reads no environment variable.
fn without_variable(arg: clap::Arg) -> clap::Arg {
    arg.env(None::<&'static str>)
}

/// A site and which of its reports: the filters `query` and `top` share.
#[derive(Debug, clap::Args)]
struct ReportFilter {
    /// The site (host name) to show.
    #[arg(long)]
    site: String,
    /// Only this report type (`csp-violation`, `network-error`, ...).
    #[arg(long = "type", value_parser = report_type_arg)]
    report_type: Option<ReportType>,
    /// Only CSP reports of this classification: `violation`, `allowed-by-policy` (the
    /// report's own policy allows what it reports), `indeterminate`.
    #[arg(long = "class", value_parser = class_arg)]
    classification: Option<Classification>,
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    #[command(flatten)]
    filter: ReportFilter,
    /// How far back: `30m`, `24h`, `7d`.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    since: Duration,
    /// The most reports shown.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Only the reports of one problem (a fingerprint from `lookout top`).
    #[arg(long)]
    fingerprint: Option<String>,
    /// One JSON report per line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct TopArgs {
    #[command(flatten)]
    filter: ReportFilter,
    /// How far back: `24h`, `7d`.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    since: Duration,
    /// The most groups shown.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// One JSON group per line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// A command's result: any error, which [`main`] prints with its causes. Commands never branch
/// on an error's kind, so a boxed error is all they need; the library's errors stay typed.
pub(crate) type CliResult<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init_terminal();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Query(args) => query(args).await,
        Command::Top(args) => top(args).await,
        Command::Headers(args) => headers::run(&args),
        Command::Policy(args) => policy::run(args).await,
        Command::Mute(args) => mute::run(args).await,
        Command::Scripts(args) => scripts::run(args).await,
        Command::Ui(args) => ui::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::CreateTable(args) => {
            let Some(name) = &args.dynamodb.table else {
                return Err("--table is required".into());
            };
            let client = args.dynamodb.endpoint().dynamodb().await;
            table::create(&client, name).await?;
            eprintln!("created table {name}");
            Ok(())
        }
    }
}

/// `--type`: a report type's name.
fn report_type_arg(s: &str) -> Result<ReportType, String> {
    ReportType::from_name(s).ok_or_else(|| format!("invalid report type {s:?}"))
}

/// `--class`: a classification's name.
fn class_arg(s: &str) -> Result<Classification, String> {
    Classification::from_name(s)
        .ok_or_else(|| "one of violation, allowed-by-policy, indeterminate".to_owned())
}

fn since(d: Duration) -> Timestamp {
    Timestamp::now().minus_millis(d.as_millis().min(u64::MAX as u128) as u64)
}

async fn query(args: QueryArgs) -> CliResult<()> {
    let store = args.store.open_for_reading().await?;
    let q = RecentQuery {
        site: parse_site(&args.filter.site)?,
        report_type: args.filter.report_type.clone(),
        since: since(args.since),
        limit: args.limit,
        classification: args.filter.classification,
        fingerprint: args.fingerprint.clone(),
    };
    let reports = store.recent(&q).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        show::reports_json(&mut out, &reports)?;
    } else {
        show::reports_table(&mut out, &reports)?;
        eprintln!(
            "{} report(s) for {} since {}",
            reports.len(),
            q.site,
            q.since
        );
    }
    Ok(())
}

async fn top(args: TopArgs) -> CliResult<()> {
    let store = args.store.open_for_reading().await?;
    let q = TopQuery {
        site: parse_site(&args.filter.site)?,
        report_type: args.filter.report_type.clone(),
        since: since(args.since),
        limit: args.limit,
        classification: args.filter.classification,
    };
    let groups = store.top(&q).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        show::groups_json(&mut out, &groups)?;
    } else {
        show::groups_table(&mut out, &groups)?;
        eprintln!(
            "{} problem(s) for {} since {}",
            groups.len(),
            q.site,
            q.since
        );
    }
    Ok(())
}
