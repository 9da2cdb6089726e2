//! `lookout scripts`: the scripts a site's pages ran (from `csp-hash` reports), each with its
//! contents and authorization; `authorize` and `revoke` record an operator's decision.

use std::time::Duration;

use super::{CliResult as Result, StoreArgs, since};
use crate::alert::scripts::Authorization;
use crate::report::script::{origin_and_path, valid_hash};
use crate::report::{Timestamp, parse_site};
use crate::scripts::{self, Status, render};

/// The longest reason kept, in characters.
const MAX_REASON_CHARS: usize = 1_000;

/// Arguments of `lookout scripts`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ScriptsArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Authorize a script (its latest content, or `--hash`), with a written reason; or every
    /// script not authorized yet with `--all-current`, for a first baseline.
    Authorize(AuthorizeArgs),
    /// Remove a script's authorization.
    Revoke(RevokeArgs),
}

/// How the inventory is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
    Csv,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The site.
    #[arg(long)]
    site: Option<String>,
    /// How far back: `24h`, `30d`.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    since: Duration,
    /// One JSON object per script and line (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// `text`, `json` (lines), `markdown` or `csv` (evidence for an assessor).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct AuthorizeArgs {
    /// The site.
    #[arg(long)]
    site: String,
    /// The script's URL (its query is ignored, as in the inventory).
    #[arg(
        required_unless_present = "all_current",
        conflicts_with = "all_current"
    )]
    url: Option<String>,
    /// Why it may run (kept with the authorization, shown in the evidence).
    #[arg(long)]
    reason: String,
    /// The content authorized (`sha256-...`); default: the latest seen.
    #[arg(long, conflicts_with = "all_current")]
    hash: Option<String>,
    /// Authorize every script of the inventory not authorized yet, each with its latest content.
    #[arg(long)]
    all_current: bool,
    /// Who authorizes (default: `LOOKOUT_OPERATOR`, else the login name).
    #[arg(long)]
    by: Option<String>,
    /// How far back the inventory is read for the latest content.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    since: Duration,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// The site.
    #[arg(long)]
    site: String,
    /// The script's URL.
    url: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `lookout scripts`.
pub async fn run(args: ScriptsArgs) -> Result<()> {
    match args.action {
        Some(Action::Authorize(a)) => authorize(a).await,
        Some(Action::Revoke(r)) => revoke(r).await,
        None => list(args.list).await,
    }
}

async fn list(args: ListArgs) -> Result<()> {
    let site = parse_site(args.site.as_deref().ok_or("--site is required")?)?;
    let store = args.store.open_for_reading().await?;
    let state = args.store.alert_state().await?;
    let from = since(args.since);
    let scripts = scripts::gather(store.as_ref(), state.as_ref(), &site, from).await?;
    let format = if args.json { Format::Json } else { args.format };
    let out = match format {
        Format::Text => render::text(&site, from, &scripts),
        Format::Json => render::json_lines(&scripts)?,
        Format::Markdown => render::markdown(&site, from, Timestamp::now(), &scripts),
        Format::Csv => render::csv(&scripts)?,
    };
    print!("{out}");
    Ok(())
}

/// The operator's name: `--by`, else `LOOKOUT_OPERATOR`, else the login name; one line.
fn operator(by: Option<String>) -> Result<String> {
    let name = by
        .or_else(|| std::env::var("LOOKOUT_OPERATOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|n| !n.trim().is_empty())
        .ok_or("say who authorizes: --by NAME or LOOKOUT_OPERATOR")?;
    checked_text("--by", &name, 100)
}

/// `s` when it is one line of at most `max` characters.
fn checked_text(what: &str, s: &str, max: usize) -> Result<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("{what} is empty").into());
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} must be one line without control characters").into());
    }
    if s.chars().count() > max {
        return Err(format!("{what} is over {max} characters").into());
    }
    Ok(s.to_owned())
}

async fn authorize(args: AuthorizeArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    let reason = checked_text("--reason", &args.reason, MAX_REASON_CHARS)?;
    let by = operator(args.by)?;
    let hash = args
        .hash
        .as_deref()
        .map(|h| {
            valid_hash(h).ok_or(format!(
                "--hash {h:?} is not sha256-, sha384- or sha512- and base64"
            ))
        })
        .transpose()?;
    let store = args.store.open_for_reading().await?;
    let state = args.store.alert_state().await?;
    let scripts = scripts::gather(store.as_ref(), state.as_ref(), &site, since(args.since)).await?;
    let now = Timestamp::now();
    let chosen: Vec<(String, Option<String>)> = match &args.url {
        Some(url) => {
            let url = origin_and_path(url);
            let hash = match hash {
                Some(h) => Some(h),
                None => scripts
                    .iter()
                    .find(|s| s.url == url)
                    .ok_or(format!(
                        "{url} is not in the inventory of {site}: give its --hash"
                    ))?
                    .latest()
                    .and_then(|c| c.hash.clone()),
            };
            vec![(url, hash)]
        }
        None => scripts
            .iter()
            .filter(|s| s.status != Status::Authorized)
            .map(|s| (s.url.clone(), s.latest().and_then(|c| c.hash.clone())))
            .collect(),
    };
    for (url, hash) in chosen {
        state
            .authorize(&Authorization {
                site: site.clone(),
                url: url.clone(),
                hash: hash.clone(),
                reason: reason.clone(),
                by: by.clone(),
                at: now,
            })
            .await?;
        eprintln!(
            "authorized {} with {}",
            super::show::clean(&url),
            hash.as_deref().unwrap_or("no hash")
        );
    }
    Ok(())
}

async fn revoke(args: RevokeArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    let state = args.store.alert_state().await?;
    let url = origin_and_path(&args.url);
    let removed = state.revoke(&site, &url).await?;
    eprintln!(
        "{}",
        if removed {
            "revoked"
        } else {
            "was not authorized"
        }
    );
    Ok(())
}
