//! `lookout mute`: no more alerts for a problem, or for a whole report type, of a site.

use std::time::Duration;

use super::CliResult as Result;
use super::StoreArgs;
use crate::alert::{Mute, MuteTarget};
use crate::report::{ReportType, Timestamp, parse_site};

/// Arguments of `lookout mute`.
#[derive(Debug, clap::Args)]
pub struct MuteArgs {
    /// The site.
    #[arg(long)]
    site: String,
    /// The problem to mute (a fingerprint from `lookout top` or an alert).
    #[arg(required_unless_present_any = ["report_type", "script", "list"], conflicts_with_all = ["report_type", "script"])]
    fingerprint: Option<String>,
    /// Mute a script's alerts instead (its URL; every content of it): for a script whose
    /// bytes change on every load.
    #[arg(long, conflicts_with = "report_type")]
    script: Option<String>,
    /// Mute a whole report type instead (`deprecation`, ...).
    #[arg(long = "type", value_parser = super::report_type_arg)]
    report_type: Option<ReportType>,
    /// For how long (default: until `--remove`).
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Remove the mute instead.
    #[arg(long)]
    remove: bool,
    /// List the site's mutes.
    #[arg(long, conflicts_with_all = ["fingerprint", "report_type", "script", "remove"])]
    list: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `lookout mute`.
pub async fn run(args: MuteArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    let state = args.store.alert_state().await?;
    if args.list {
        for m in state.mutes(&site).await? {
            println!("{}", serde_json::to_string(&m)?);
        }
        return Ok(());
    }
    let target = match (&args.fingerprint, &args.report_type) {
        _ if args.script.is_some() => MuteTarget::Script(crate::report::script::origin_and_path(
            args.script.as_deref().unwrap_or_default(),
        )),
        (Some(f), _) if f.len() == 16 && f.bytes().all(|b| b.is_ascii_hexdigit()) => {
            MuteTarget::Fingerprint(f.to_ascii_lowercase())
        }
        (Some(f), _) => return Err(format!("{f:?} is not a fingerprint (16 hex digits)").into()),
        (None, Some(t)) => MuteTarget::Type(t.as_str().to_owned()),
        (None, None) => return Err("name a fingerprint, --type or --script".into()),
    };
    if args.remove {
        let removed = state.unmute(&site, &target).await?;
        eprintln!("{}", if removed { "unmuted" } else { "was not muted" });
        return Ok(());
    }
    let until = args
        .duration
        .map(|d| Timestamp(Timestamp::now().millis() + d.as_millis().min(i64::MAX as u128) as i64));
    state
        .mute(&Mute {
            site: site.clone(),
            target,
            until,
        })
        .await?;
    match until {
        Some(u) => eprintln!("muted until {u}"),
        None => eprintln!("muted until `lookout mute --remove`"),
    }
    Ok(())
}
