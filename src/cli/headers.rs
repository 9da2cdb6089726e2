//! `lookout headers`: the response headers that make browsers report to Lookout, for one server
//! (`--server`) or for all of them.

use crate::policy::snippet::{Endpoint, HeaderSet, Server, render};
use crate::report::parse_site;

/// Arguments of `lookout headers`.
#[derive(Debug, clap::Args)]
pub struct HeadersArgs {
    /// The collector's base URL (`https://reports.example.com`, or the API URL from the stack).
    #[arg(long)]
    pub endpoint: String,
    /// The site the headers are for; reports then go to `/r/{site}`.
    #[arg(long)]
    pub site: Option<String>,
    /// The policy to report on (default: a strict starting policy). Its own `report-uri` and
    /// `report-to` are replaced by Lookout's.
    #[arg(long, default_value = "default-src 'self'")]
    pub policy: String,
    /// Print the snippet for one server only (default: every server).
    #[arg(long, value_enum)]
    pub server: Option<Server>,
    /// Send the CSP enforced (`Content-Security-Policy`) instead of report-only. COOP and COEP
    /// stay report-only.
    #[arg(long)]
    pub enforce: bool,
    /// Also ask Chrome for crash reports with the JavaScript stack of a page it found
    /// unresponsive: adds `Document-Policy: include-js-call-stacks-in-crash-reports` and names
    /// the report URL a second time in `Reporting-Endpoints` as `crash-reporting` (where Chrome
    /// 139 and later sends crash reports).
    #[arg(long)]
    pub crash_stacks: bool,
    /// Also report the scripts pages load: adds `'report-sha256'` to the CSP's `script-src`
    /// (made from `default-src` when the policy has none), for which Chrome 133 and later sends
    /// a `csp-hash` report with the SHA-256 of each script, and
    /// `Integrity-Policy-Report-Only: blocked-destinations=(script)`, for which Chrome 138,
    /// Firefox 149, Safari 26 and later report each script loaded without an `integrity`
    /// attribute. That header stays report-only with `--enforce`. `lookout scripts` lists what
    /// these reports show.
    #[arg(long)]
    pub script_hashes: bool,
}

/// Errors of `lookout headers`.
#[derive(Debug, thiserror::Error)]
pub enum HeadersError {
    #[error("--endpoint: {0}")]
    Endpoint(#[from] crate::policy::snippet::InvalidEndpoint),
    #[error(transparent)]
    Site(#[from] crate::report::InvalidSite),
    #[error(transparent)]
    Snippet(#[from] crate::policy::snippet::SnippetError),
}

/// The text `lookout headers` prints.
pub fn output(args: &HeadersArgs) -> Result<String, HeadersError> {
    let site = args.site.as_deref().map(parse_site).transpose()?;
    let set = HeaderSet {
        report_url: Endpoint::for_site(&args.endpoint, site.as_deref())?,
        policy: args.policy.clone(),
        enforce: args.enforce,
        crash_stacks: args.crash_stacks,
        script_hashes: args.script_hashes,
    };
    let headers = set.headers()?;
    if let Some(server) = args.server {
        return Ok(render(server, &headers)?);
    }
    let mut s = format!("# Reports go to {}\n", set.report_url.as_str());
    if set.enforce {
        s.push_str("# The CSP is enforced: what it does not allow is blocked (and reported).\n");
    } else {
        s.push_str(
            "# Report-only: nothing is blocked. Enforce (`--enforce`) once the reports are quiet.\n",
        );
    }
    if set.crash_stacks {
        s.push_str(
            "# Crash reports: Chrome sends the JavaScript stack of a page it found unresponsive\n\
             # (Document-Policy) to the crash-reporting endpoint; Lookout groups them by its top frames.\n",
        );
    }
    if set.script_hashes {
        s.push_str(
            "# Script hashes: Chrome reports each script a page loads with its SHA-256 (csp-hash), and\n\
             # browsers each one loaded without an integrity attribute (Integrity-Policy, report-only\n\
             # even with --enforce). `lookout scripts` lists them.\n",
        );
    }
    for server in Server::ALL {
        s.push_str(&format!("\n## {}\n", server.title()));
        s.push_str(&render(server, &headers)?);
    }
    s.push_str(
        "\n# Notes: browsers deliver report-to reports only from https pages; NEL's success_fraction\n\
         # is left at 0 on purpose (with 1.0 browsers also report every upload to this collector).\n",
    );
    Ok(s)
}

/// Prints the headers.
pub fn run(args: &HeadersArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    print!("{}", output(args)?);
    Ok(())
}
