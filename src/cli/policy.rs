//! `lookout policy`: the CSP the reports of a site ask for, from either store
//! ([`crate::policy::suggest`]), printed as explained text, as JSON or as headers for a server.
//!
//! Starts from the owner's policy (`--from-policy`), never from one a report carries: anyone can
//! POST reports, so their `originalPolicy` is only shown as information.

use std::time::Duration;

use serde::Serialize;

use super::CliResult as Result;
use super::StoreArgs;
use super::show::clean;
use crate::policy::builder::{self, Added, LeftOut, Rules};
use crate::policy::snippet::{Endpoint, HeaderSet, Server, render};
use crate::policy::suggest::{ReportedPolicies, Suggested, suggest_for_site};
use crate::report::{Timestamp, parse_site};
use crate::ui::shell::shell_quote;

/// Arguments of `lookout policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// The site (host name).
    #[arg(long)]
    site: String,
    /// How far back the reports go.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    since: Duration,
    /// Your policy, as your site sends it: the suggestion starts from it. (Policies carried by
    /// reports are shown for information only: anyone can send a report.)
    #[arg(long)]
    from_policy: String,
    /// Problems seen from fewer visitors (distinct networks, summed over days) are left out:
    /// the threshold against forged reports, since a sender cannot choose its network. Use 1
    /// to try Lookout from one machine.
    #[arg(long, default_value_t = Rules::default().min_visitors)]
    min_visitors: u64,
    /// Problems seen fewer times are left out (against noise: a sender chooses its count).
    #[arg(long, default_value_t = 1)]
    min_reports: u64,
    /// Problems seen from fewer browsers (family and major version) are left out (against
    /// noise: a sender chooses its User-Agent).
    #[arg(long, default_value_t = 1)]
    min_browsers: usize,
    /// Allow inline code by the hash of its reported sample. This allows exactly the code in
    /// the report, which a forger chooses (or the injection your policy blocked): only for
    /// samples you recognise as your own.
    #[arg(long)]
    hash_samples: bool,
    /// Print the policy as headers for a server (`raw`, `nginx`, `apache`, `caddy`,
    /// `express`, `django`) instead of the explained text. Needs `--endpoint`.
    #[arg(long, value_enum, requires = "endpoint")]
    format: Option<Server>,
    /// With `--format`: your report URL (`https://reports.example.com/r/example.com`).
    #[arg(long)]
    endpoint: Option<String>,
    /// With `--format`: send the policy enforced instead of report-only.
    #[arg(long)]
    enforce: bool,
    /// The suggestion as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Serialize)]
struct Output<'a> {
    site: &'a str,
    base: String,
    policy: String,
    diff: String,
    added: &'a [Added],
    left_out: &'a [LeftOut],
    reported_policies: &'a ReportedPolicies,
}

impl PolicyArgs {
    /// The thresholds the flags set.
    fn rules(&self) -> Rules {
        Rules {
            min_reports: self.min_reports,
            min_browsers: self.min_browsers,
            min_visitors: self.min_visitors,
            hash_samples: self.hash_samples,
        }
    }
}

/// Runs `lookout policy`.
pub async fn run(args: PolicyArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    // Checked before the store is read: a bad endpoint is the owner's typo, said at once.
    let endpoint = args.endpoint.as_deref().map(Endpoint::parse).transpose()?;
    let store = args.store.open_for_reading().await?;
    let since = super::since(args.since);
    let suggested = suggest_for_site(
        store.as_ref(),
        &site,
        since,
        &args.from_policy,
        args.rules(),
    )
    .await?;
    if let Some(server) = args.format {
        let Some(report_url) = endpoint else {
            return Err("--format needs --endpoint (your report URL)".into());
        };
        let set = HeaderSet {
            report_url,
            policy: suggested.suggestion.policy.without_reporting().to_string(),
            enforce: args.enforce,
            crash_stacks: false,
            script_hashes: false,
        };
        print!("{}", render(server, &set.headers()?)?);
        return Ok(());
    }
    if args.json {
        return print_json(&site, &suggested);
    }
    print_text(&site, since, &suggested);
    Ok(())
}

/// The suggestion as one JSON object.
fn print_json(site: &str, suggested: &Suggested) -> Result<()> {
    let s = &suggested.suggestion;
    let out = Output {
        site,
        base: s.base.to_string(),
        policy: s.policy.to_string(),
        diff: builder::diff(&s.base, &s.policy),
        added: &s.added,
        left_out: &s.left_out,
        reported_policies: &suggested.reported,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

/// The suggestion explained. Every line may carry report text (a document URL, a blocked
/// value, a sample): control characters are replaced so that a report cannot redraw the
/// terminal.
fn print_text(site: &str, since: Timestamp, suggested: &Suggested) {
    let Suggested {
        problems,
        reported,
        suggestion: s,
    } = suggested;
    println!(
        "# Suggested policy for {site} ({problems} problem(s) since {since}; from your --from-policy)"
    );
    println!("{}\n", clean(&s.policy.to_string()));
    if let Some(line) = reported.summary() {
        println!("# Note: {line}\n");
    }
    println!("# Changes");
    for line in builder::diff(&s.base, &s.policy).lines() {
        println!("{}", clean(line));
    }
    print_added(&s.added);
    println!(
        "\n# Noise (extensions, injected code, the collector's own uploads) is filtered before it is stored: it never reaches this count."
    );
    println!(
        "# Reports are unauthenticated: check every added source is one you load before you deploy it."
    );
    print_left_out(site, &s.left_out);
    println!(
        "\n# Deploy it report-only first: lookout policy --site {} --from-policy ... --format nginx --endpoint <your report URL> (or raw, apache, caddy, express, django)",
        shell_quote(site)
    );
}

/// The sources added, with their evidence.
fn print_added(added: &[Added]) {
    if added.is_empty() {
        return;
    }
    println!("\n# Added");
    for a in added {
        let seeded = a
            .seeded_from
            .as_ref()
            .map(|f| format!(" (new directive, starting from {f}'s sources)"))
            .unwrap_or_default();
        println!(
            "{} {}: {} visitor(s), {} report(s), {} browser(s){seeded}",
            a.directive,
            clean(&a.source),
            a.visitors,
            a.reports,
            a.browsers
        );
    }
}

/// The problems left out, each with why and the command that lists its reports.
fn print_left_out(site: &str, left_out: &[LeftOut]) {
    if left_out.is_empty() {
        return;
    }
    println!("\n# Left out");
    for l in left_out {
        println!("{}", clean(&l.to_string()));
        println!(
            "  lookout query --site {} --type csp-violation --fingerprint {}",
            shell_quote(site),
            shell_quote(&l.fingerprint)
        );
    }
}
