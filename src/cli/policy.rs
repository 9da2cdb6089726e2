//! `lookout policy`: the CSP the reports of a site ask for, from either store.
//!
//! Reads the site's CSP problems (the aggregates: one read per problem and day) and, to find
//! the policy the reports carry, its most recent CSP reports (at most [`POLICY_SAMPLE`]).

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::CliResult as Result;
use super::StoreArgs;
use crate::policy::builder::{self, Added, LeftOut, Observation, Thresholds};
use crate::policy::directives::Policy;
use crate::policy::snippet::{HeaderSet, Server, render};
use crate::report::{ReportType, Timestamp, parse_csp_group, parse_site};
use crate::store::{RecentQuery, ReportStore, TopQuery};

/// Recent CSP reports read to find the policy they carry.
pub const POLICY_SAMPLE: usize = 1000;

/// Arguments of `lookout policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// The site (host name).
    #[arg(long)]
    site: String,
    /// How far back the reports go.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    since: Duration,
    /// Problems seen fewer times are left out.
    #[arg(long, default_value_t = 1)]
    min_reports: u64,
    /// Problems seen from fewer browsers (family and major version) are left out.
    #[arg(long, default_value_t = 1)]
    min_browsers: usize,
    /// Start from this policy instead of the one the reports carry.
    #[arg(long)]
    from_policy: Option<String>,
    /// Print the policy as headers for a server (`raw`, `nginx`, `apache`, `caddy`,
    /// `express`, `django`) instead of the explained text.
    #[arg(long, value_enum)]
    format: Option<Server>,
    /// The report URL for `--format` (default: the policy's own `report-uri`).
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
    base_source: &'a str,
    policy: String,
    diff: String,
    added: &'a [Added],
    left_out: &'a [LeftOut],
}

/// A suggestion with what it was made from.
pub(crate) struct Suggested {
    /// The CSP problems read.
    pub problems: usize,
    /// Where the base policy came from.
    pub base_source: &'static str,
    /// The suggestion.
    pub suggestion: builder::Suggestion,
}

/// The suggestion for `site` from the CSP problems since `since`, starting from `from_policy`
/// or else the policy most of the site's recent CSP reports carry.
pub(crate) async fn suggest(
    store: &dyn ReportStore,
    site: &str,
    since: Timestamp,
    from_policy: Option<&str>,
    thresholds: Thresholds,
) -> Result<Suggested> {
    let groups = store
        .top(&TopQuery {
            site: site.to_owned(),
            report_type: Some(ReportType::CspViolation),
            since,
            limit: usize::MAX,
            classification: None,
        })
        .await?;
    let (base, base_source) = match from_policy {
        Some(p) => (Policy::parse(p), "--from-policy"),
        None => {
            let recent = store
                .recent(&RecentQuery {
                    site: site.to_owned(),
                    report_type: Some(ReportType::CspViolation),
                    since,
                    limit: POLICY_SAMPLE,
                    classification: None,
                    fingerprint: None,
                })
                .await?;
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for r in &recent {
                if let Some(p) = r.body.str_of("originalPolicy") {
                    *counts.entry(p).or_default() += 1;
                }
            }
            let Some((text, _)) = counts
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            else {
                return Err(format!(
                    "no CSP report of {site} since {since} carries a policy: pass --from-policy"
                )
                .into());
            };
            (Policy::parse(text), "the reports' most frequent policy")
        }
    };
    let observations: Vec<Observation> = groups
        .iter()
        .filter_map(|g| {
            let parts = parse_csp_group(&g.group, g.classification, g.policy_version.as_deref())?;
            Some(Observation {
                fingerprint: g.fingerprint.clone(),
                directive: parts.directive.to_owned(),
                blocked: parts.blocked.to_owned(),
                document: parts.document.to_owned(),
                sample: parts.sample.map(str::to_owned),
                classification: g.classification,
                reports: g.count,
                browsers: g.browsers.len(),
            })
        })
        .collect();
    Ok(Suggested {
        problems: groups.len(),
        base_source,
        suggestion: builder::suggest(&base, site, &observations, thresholds),
    })
}

/// Runs `lookout policy`.
pub async fn run(args: PolicyArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    let store = args.store.open_for_reading().await?;
    let since = super::since(args.since);
    let thresholds = Thresholds {
        min_reports: args.min_reports,
        min_browsers: args.min_browsers,
    };
    let Suggested {
        problems,
        base_source,
        suggestion: s,
    } = suggest(
        store.as_ref(),
        &site,
        since,
        args.from_policy.as_deref(),
        thresholds,
    )
    .await?;

    if let Some(server) = args.format {
        let url = match args.endpoint.as_deref().or(s.policy.report_uri()) {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => u.to_owned(),
            _ => {
                return Err(
                    "--format needs --endpoint (the policy has no absolute report-uri)".into(),
                );
            }
        };
        let set = HeaderSet {
            report_url: url,
            policy: s.policy.without_reporting().to_string(),
            enforce: args.enforce,
        };
        print!("{}", render(server, &set.headers())?);
        return Ok(());
    }
    let diff = builder::diff(&s.base, &s.policy);
    if args.json {
        let out = Output {
            site: &site,
            base: s.base.to_string(),
            base_source,
            policy: s.policy.to_string(),
            diff,
            added: &s.added,
            left_out: &s.left_out,
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!(
        "# Suggested policy for {site} ({problems} problem(s) since {since}; from {base_source})"
    );
    println!("{}\n", s.policy);
    println!("# Changes");
    print!("{diff}");
    if !s.added.is_empty() {
        println!("\n# Added");
        for a in &s.added {
            let seeded = a
                .seeded_from
                .as_ref()
                .map(|f| format!(" (new directive, starting from {f}'s sources)"))
                .unwrap_or_default();
            println!(
                "{} {}: {} report(s), {} browser(s){seeded}",
                a.directive, a.source, a.reports, a.browsers
            );
        }
    }
    println!(
        "\n# Noise (extensions, injected code, the collector's own uploads) is filtered before it is stored: it never reaches this count."
    );
    if !s.left_out.is_empty() {
        println!("\n# Left out");
        for l in &s.left_out {
            println!(
                "{} {} on {} ({} report(s); {}): {}",
                l.directive, l.blocked, l.document, l.reports, l.reason, l.advice
            );
            println!(
                "  lookout query --site {site} --fingerprint {}",
                l.fingerprint
            );
        }
    }
    println!(
        "\n# Deploy it report-only first: lookout policy --site {site} --format nginx (or raw, apache, caddy, express, django)"
    );
    Ok(())
}
