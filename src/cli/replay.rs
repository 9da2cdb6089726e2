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
        let summary = crate::failed_batches::count(
            &endpoint.sqs().await,
            queue,
            &tailer,
            &steps,
            args.dry_run,
        )
        .await?;
        if args.json {
            println!("{}", serde_json::to_string(&summary)?);
        } else {
            eprintln!(
                "{} failed batch(es) in the queue: counted {} ({} new reports), unreadable messages {}, failed {}",
                summary.batches,
                summary.counted,
                summary.reports,
                summary.unreadable,
                summary.failed
            );
        }
        if summary.failed > 0 {
            return Err(format!("{} batch(es) could not be counted again", summary.failed).into());
        }
        return Ok(());
    }
    let mut text = String::new();
    let stdin = args.files.is_empty() || args.files.iter().any(|f| f.as_os_str() == "-");
    for f in args.files.iter().filter(|f| f.as_os_str() != "-") {
        text.push_str(&std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?);
        text.push('\n');
    }
    if stdin {
        std::io::stdin().read_to_string(&mut text)?;
    }
    let records = recovery::read(&text);
    let mut summary = Summary {
        found: records.reports.len(),
        unreadable: records.unreadable,
        bodies: records.bodies,
        ..Summary::default()
    };
    let now = crate::report::Timestamp::now();
    let retention_ms = i64::try_from(args.retention.as_millis()).unwrap_or(i64::MAX);
    let mut checked = Vec::with_capacity(records.reports.len());
    for mut r in records.reports {
        match r.check_replayable(now, retention_ms) {
            Ok(()) => checked.push(r),
            Err(e) => {
                summary.invalid += 1;
                tracing::warn!(id = %r.id.escape_default(), reason = %e, "replay: report refused");
            }
        }
    }
    let mut seen = HashSet::new();
    let reports: Vec<Report> = checked
        .into_iter()
        .filter(|r| seen.insert((r.window(), r.id.clone())))
        .collect();
    summary.duplicates = summary.found - summary.invalid - reports.len();

    let store = args.store.open().await?;
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
        if args.dry_run || new.is_empty() {
            summary.stored += if args.dry_run { new.len() } else { 0 };
            continue;
        }
        let failed = match put_with_retries(store.as_ref(), &new, PutRetry::REPLAY).await {
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

    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        let verb = if args.dry_run {
            "would store"
        } else {
            "stored"
        };
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
    }
    if summary.failed > 0 {
        return Err(format!("{} report(s) could not be stored", summary.failed).into());
    }
    Ok(())
}
