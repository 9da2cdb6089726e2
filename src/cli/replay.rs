//! `lookout replay`: stores again the reports that recovery lines hold (reports the collector
//! could not store and logged whole), idempotently: a report stored already, or given twice,
//! is stored once.

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;

use super::CliResult as Result;
use super::StoreArgs;
use crate::recovery;
use crate::report::Report;
use crate::store::retry::{PutRetry, put_with_retries};

/// Arguments of `lookout replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Files of exported log events: Lambda's JSON lines, `sam logs` output, `aws logs
    /// filter-log-events` output, or the local server's log; standard input when none (or `-`).
    files: Vec<PathBuf>,
    /// Reports received longer ago than this are not stored again (the store would keep them
    /// past its retention).
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    retention: std::time::Duration,
    /// Instead of log files: count again the stream batches Lambda gave up on, from the
    /// stack's `FailedBatches` queue (its URL; needs --table). The stream keeps records 24
    /// hours.
    #[arg(long, value_name = "QUEUE_URL", requires = "table")]
    failed_batches: Option<String>,
    /// Say what would be stored, and store nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// What a replay did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Reports found in recovery records.
    pub found: usize,
    /// Stored now.
    pub stored: usize,
    /// Stored before (by the collector after all, or by an earlier replay).
    pub already_there: usize,
    /// The same report more than once in the input (a browser's re-deliveries, each logged).
    pub duplicates: usize,
    /// Recovery records whose report does not read back.
    pub unreadable: usize,
    /// Recovery records of undecodable request bodies (not reports; not replayed).
    pub bodies: usize,
    /// Reports that fail the checks a request's reports pass (site, group, sizes, age): a log
    /// is text anyone may have edited, so these are refused, each logged.
    pub invalid: usize,
    /// Reports the store still refused.
    pub failed: usize,
}

/// Reports given to the store at a time.
const CHUNK: usize = 500;

/// Runs the command.
pub async fn run(args: ReplayArgs) -> Result<()> {
    if let Some(queue) = &args.failed_batches {
        return replay_failed_batches(&args, queue).await;
    }
    let text = read_input(&args.files)?;
    let records = recovery::read(&text);
    let mut summary = Summary {
        found: records.reports.len(),
        unreadable: records.unreadable,
        bodies: records.bodies,
        ..Summary::default()
    };
    let reports = checked_once(records.reports, &args, &mut summary);
    let store = args.store.open().await?;
    store_new(store.as_ref(), &reports, args.dry_run, &mut summary).await?;
    print_summary(&summary, args.json, args.dry_run)?;
    if summary.failed > 0 {
        return Err(format!("{} report(s) could not be stored", summary.failed).into());
    }
    Ok(())
}

/// The stream batches Lambda gave up on, counted again (`--failed-batches`).
async fn replay_failed_batches(args: &ReplayArgs, queue: &str) -> Result<()> {
    let Some(store) = args.store.dynamo().await else {
        return Err("--failed-batches needs --table".into());
    };
    let endpoint = args.store.dynamodb.endpoint();
    let tailer =
        crate::store::dynamodb::stream::Tailer::new(endpoint.streams().await, &store).await?;
    let steps = crate::pipeline::Pipeline {
        counter: store,
        alerter: None,
    };
    let sqs = endpoint.sqs().await;
    let summary = crate::failed_batches::count(&sqs, queue, &tailer, &steps, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!(
            "{} failed batch(es) in the queue: counted {} ({} new reports), unreadable messages {}, failed {}",
            summary.batches, summary.counted, summary.reports, summary.unreadable, summary.failed
        );
    }
    if summary.failed > 0 {
        return Err(format!("{} batch(es) could not be counted again", summary.failed).into());
    }
    Ok(())
}

/// The files' text, and standard input's when no file (or `-`) is named.
fn read_input(files: &[PathBuf]) -> Result<String> {
    let mut text = String::new();
    let stdin = files.is_empty() || files.iter().any(|f| f.as_os_str() == "-");
    for f in files.iter().filter(|f| f.as_os_str() != "-") {
        text.push_str(&std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?);
        text.push('\n');
    }
    if stdin {
        std::io::stdin().read_to_string(&mut text)?;
    }
    Ok(text)
}

/// The reports that pass a request's checks, each once (a browser's re-deliveries are each
/// logged); the refused and the repeated counted in `summary`.
fn checked_once(reports: Vec<Report>, args: &ReplayArgs, summary: &mut Summary) -> Vec<Report> {
    let now = crate::report::Timestamp::now();
    let retention_ms = i64::try_from(args.retention.as_millis()).unwrap_or(i64::MAX);
    let mut checked = Vec::with_capacity(reports.len());
    for mut r in reports {
        match r.check_replayable(now, retention_ms) {
            Ok(()) => checked.push(r),
            Err(e) => {
                summary.invalid += 1;
                tracing::warn!(id = %r.id.escape_default(), reason = %e, "replay: report refused");
            }
        }
    }
    let mut seen = HashSet::new();
    let once: Vec<Report> = checked
        .into_iter()
        .filter(|r| seen.insert((r.window(), r.id.clone())))
        .collect();
    summary.duplicates = summary.found - summary.invalid - once.len();
    once
}

/// Stores the reports not stored yet, [`CHUNK`] at a time; what the store still refuses is
/// logged again for recovery.
async fn store_new(
    store: &dyn crate::store::ReportStore,
    reports: &[Report],
    dry_run: bool,
    summary: &mut Summary,
) -> Result<()> {
    // Reports still unstored are logged again, within the default recovery bytes per minute.
    let budget = crate::limits::Budget::default();
    for chunk in reports.chunks(CHUNK) {
        let stored = store.stored(chunk).await?;
        let new: Vec<Report> = chunk
            .iter()
            .zip(&stored)
            .filter(|(_, s)| !**s)
            .map(|(r, _)| r.clone())
            .collect();
        summary.already_there += chunk.len() - new.len();
        if dry_run || new.is_empty() {
            summary.stored += if dry_run { new.len() } else { 0 };
            continue;
        }
        let failed = match put_with_retries(store, &new, PutRetry::REPLAY).await {
            Ok(()) => Vec::new(),
            Err(left) => left.reports,
        };
        summary.stored += new.len() - failed.len();
        summary.failed += failed.len();
        if !failed.is_empty() {
            // Still unstored: logged again, so that nothing is lost from this run either.
            recovery::log_unstored(&budget, &failed, "replay: the store refused");
        }
    }
    Ok(())
}

fn print_summary(summary: &Summary, json: bool, dry_run: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    let verb = if dry_run { "would store" } else { "stored" };
    eprintln!(
        "{} report(s) in recovery records: {verb} {}, already there {}, duplicates {}, unreadable {}, invalid {} (refused), undecoded bodies {} (not replayed), failed {}",
        summary.found,
        summary.stored,
        summary.already_there,
        summary.duplicates,
        summary.unreadable,
        summary.invalid,
        summary.bodies,
        summary.failed
    );
    Ok(())
}
