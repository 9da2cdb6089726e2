//! `lookout policy`: the CSP the reports of a site ask for, from either store.
//!
//! Starts from the owner's policy (`--from-policy`), never from one a report carries: anyone can
//! POST reports, so their `originalPolicy` is only shown as information. Reads the site's CSP
//! problems (the aggregates: one read per problem and day) and, for that information, its most
//! recent CSP reports (at most [`POLICY_SAMPLE`]).

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use super::CliResult as Result;
use super::StoreArgs;
use super::show::clean;
use crate::policy::builder::{self, Added, LeftOut, Observation, Rules};
use crate::policy::directives::Policy;
use crate::policy::snippet::{Endpoint, HeaderSet, Server, render};
use crate::report::{ReportType, Timestamp, parse_csp_group, parse_site};
use crate::store::{RecentQuery, ReportStore, TopQuery};
use crate::ui::shell::shell_quote;

/// Recent CSP reports read to compare the policies they carry with the owner's.
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

/// What the site's recent CSP reports say of the policy they were sent under: information,
/// never a base (anyone can send a report).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ReportedPolicies {
    /// Recent CSP reports read.
    pub read: usize,
    /// Of those, reports whose policy differs from the owner's.
    pub differing: usize,
    /// Distinct policies among those.
    pub distinct_differing: usize,
}

impl ReportedPolicies {
    /// One line for a person, or nothing when every report carries the owner's policy.
    pub fn summary(&self) -> Option<String> {
        (self.differing > 0).then(|| {
            format!(
                "{} of the latest {} CSP report(s) carry a policy that differs from yours ({} distinct): a second policy, an old deployment, or forged reports; they do not shape the suggestion",
                self.differing, self.read, self.distinct_differing
            )
        })
    }
}

/// A suggestion with what it was made from.
pub(crate) struct Suggested {
    /// The CSP problems read.
    pub problems: usize,
    /// The policies the reports carry, against the owner's.
    pub reported: ReportedPolicies,
    /// The suggestion.
    pub suggestion: builder::Suggestion,
}

/// The suggestion for `site` from the CSP problems since `since`, starting from the owner's
/// `from_policy`.
pub(crate) async fn suggest(
    store: &dyn ReportStore,
    site: &str,
    since: Timestamp,
    from_policy: &str,
    rules: Rules,
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
    let base = Policy::parse(from_policy);
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
    let mut reported = ReportedPolicies {
        read: recent.len(),
        ..Default::default()
    };
    let mut distinct = HashSet::new();
    for p in recent
        .iter()
        .filter_map(|r| r.body.str_of("originalPolicy"))
    {
        if Policy::parse(p).without_reporting() != base.without_reporting() {
            reported.differing += 1;
            distinct.insert(p);
        }
    }
    reported.distinct_differing = distinct.len();
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
                visitors: g.visitors,
            })
        })
        .collect();
    Ok(Suggested {
        problems: groups.len(),
        reported,
        suggestion: builder::suggest(&base, site, &observations, rules)?,
    })
}

/// Runs `lookout policy`.
pub async fn run(args: PolicyArgs) -> Result<()> {
    let site = parse_site(&args.site)?;
    // Checked before the store is read: a bad endpoint is the owner's typo, said at once.
    let endpoint = args.endpoint.as_deref().map(Endpoint::parse).transpose()?;
    let store = args.store.open_for_reading().await?;
    let since = super::since(args.since);
    let rules = Rules {
        min_reports: args.min_reports,
        min_browsers: args.min_browsers,
        min_visitors: args.min_visitors,
        hash_samples: args.hash_samples,
    };
    let Suggested {
        problems,
        reported,
        suggestion: s,
    } = suggest(store.as_ref(), &site, since, &args.from_policy, rules).await?;

    if let Some(server) = args.format {
        let Some(report_url) = endpoint else {
            return Err("--format needs --endpoint (your report URL)".into());
        };
        let set = HeaderSet {
            report_url,
            policy: s.policy.without_reporting().to_string(),
            enforce: args.enforce,
            crash_stacks: false,
        };
        print!("{}", render(server, &set.headers())?);
        return Ok(());
    }
    let diff = builder::diff(&s.base, &s.policy);
    if args.json {
        let out = Output {
            site: &site,
            base: s.base.to_string(),
            policy: s.policy.to_string(),
            diff,
            added: &s.added,
            left_out: &s.left_out,
            reported_policies: &reported,
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    // Every line below may carry report text (a document URL, a blocked value, a sample):
    // control characters are replaced so that a report cannot redraw the terminal.
    println!(
        "# Suggested policy for {site} ({problems} problem(s) since {since}; from your --from-policy)"
    );
    println!("{}\n", clean(&s.policy.to_string()));
    if let Some(line) = reported.summary() {
        println!("# Note: {line}\n");
    }
    println!("# Changes");
    for line in diff.lines() {
        println!("{}", clean(line));
    }
    if !s.added.is_empty() {
        println!("\n# Added");
        for a in &s.added {
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
    println!(
        "\n# Noise (extensions, injected code, the collector's own uploads) is filtered before it is stored: it never reaches this count."
    );
    println!(
        "# Reports are unauthenticated: check every added source is one you load before you deploy it."
    );
    if !s.left_out.is_empty() {
        println!("\n# Left out");
        for l in &s.left_out {
            println!(
                "{}",
                clean(&format!(
                    "{} {} on {} ({} report(s); {}): {}",
                    l.directive, l.blocked, l.document, l.reports, l.reason, l.advice
                ))
            );
            println!(
                "  lookout query --site {} --fingerprint {}",
                shell_quote(&site),
                shell_quote(&l.fingerprint)
            );
        }
    }
    println!(
        "\n# Deploy it report-only first: lookout policy --site {} --from-policy ... --format nginx --endpoint <your report URL> (or raw, apache, caddy, express, django)",
        shell_quote(&site)
    );
    Ok(())
}
