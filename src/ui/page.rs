//! The dashboard's pages, rendered on the server from what the store returned.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::chart::{PALETTE, sparkline, stacked_days};
use super::filters::{Filters, Fingerprint, Window, family};
use super::html::escape;
use super::shell::shell_quote;
use serde_json::Value;

use crate::report::{Classification, Report, ReportType, Timestamp};
use crate::scripts::{Content, Script, Status};
use crate::store::{GroupSummary, SiteSummary};

/// Reports listed per page of one problem.
pub const PAGE_SIZE: usize = 25;

/// Problems listed per page of the problems view.
pub const PROBLEMS_PER_PAGE: usize = 100;

/// The last page a view offers (from 0): a problem's page reads up to
/// `(MAX_PAGE + 1) * PAGE_SIZE` reports, and no URL asks for more.
pub const MAX_PAGE: usize = 400;

pub use crate::store::days_between;

/// What the problems view needs beside the problems.
pub struct Context<'a> {
    /// The filters of the view.
    pub filters: &'a Filters,
    /// The store's `--table ...` arguments for the command-line equivalents (empty: embedded).
    pub store_args: &'a str,
    /// The window's days, oldest first.
    pub days: &'a [String],
    /// The report types with problems in the window (for the type filter).
    pub types: &'a [String],
    /// The browser families seen in the window (for the browser filter).
    pub families: &'a [String],
}

fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}}
table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:3px 6px;border-bottom:1px solid #ddd;vertical-align:top}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}.problem{{word-break:break-all}}
form{{margin:.5em 0 1em}}label{{margin-right:1em}}code,pre{{background:#f4f4f5;padding:2px 4px}}
pre{{white-space:pre-wrap;word-break:break-all;padding:8px}}.legend span{{margin-right:1em}}
.muted{{color:#666}}nav a{{margin-right:1em}}.changed{{color:#b91c1c;font-weight:600}}
</style></head><body>
<nav><a href="/">Lookout</a></nav>
{body}
</body></html>
"#,
        title = escape(title)
    )
}

fn select(name: &str, label: &str, current: &str, options: &[(String, String)]) -> String {
    let mut s = format!(r#"<label>{label} <select name="{name}">"#);
    for (value, text) in options {
        let selected = if value == current { " selected" } else { "" };
        let _ = write!(
            s,
            r#"<option value="{}"{selected}>{}</option>"#,
            escape(value),
            escape(text)
        );
    }
    s.push_str("</select></label>");
    s
}

fn filter_form(c: &Context<'_>) -> String {
    let f = c.filters;
    let any = |label: &str| (String::new(), label.to_owned());
    let mut types = vec![any("any type")];
    types.extend(c.types.iter().map(|t| (t.clone(), t.clone())));
    let current = f.type_name();
    if !current.is_empty() && !c.types.iter().any(|t| t == current) {
        types.push((current.to_owned(), current.to_owned()));
    }
    let mut families = vec![any("any browser")];
    families.extend(c.families.iter().map(|b| (b.clone(), b.clone())));
    if !f.browser.is_empty() && !c.families.contains(&f.browser) {
        families.push((f.browser.clone(), f.browser.clone()));
    }
    let mut classes = vec![any("any class")];
    classes.extend(
        Classification::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), c.as_str().to_owned())),
    );
    let dispositions: Vec<(String, String)> = ["", "enforce", "report"]
        .iter()
        .map(|d| {
            let text = if d.is_empty() { "any disposition" } else { d };
            (d.to_string(), text.to_owned())
        })
        .collect();
    let windows: Vec<(String, String)> = Window::ALL
        .iter()
        .map(|w| (w.as_str().to_owned(), format!("last {}", w.as_str())))
        .collect();
    format!(
        r#"<form method="get" action="/"><label>site <input name="site" value="{site}"></label>{}{}{}{}{} <button>Show</button></form>"#,
        select("window", "window", f.window.as_str(), &windows),
        select("type", "type", current, &types),
        select("class", "class", f.class_name(), &classes),
        select("disposition", "disposition", &f.disposition, &dispositions),
        select("browser", "browser", &f.browser, &families),
        site = escape(&f.site),
    )
}

fn cli(command: &str, c_store_args: &str) -> String {
    format!("<code>{}{}</code>", escape(command), escape(c_store_args))
}

/// Shown without a site: the sites with reports in the window, busiest first, each a link
/// to its problems; the form to name another.
pub fn sites(c: &Context<'_>, sites: &[SiteSummary]) -> String {
    let mut body = format!("<h1>Lookout</h1>{}", filter_form(c));
    if sites.is_empty() {
        let _ = write!(
            body,
            "<p>No site has reports in the last {}. Point a site's <code>report-uri</code> or <code>Reporting-Endpoints</code> at <code>/r/SITE</code> (<code>lookout headers</code>), or load the samples: <code>scripts/sample-reports</code>.</p>",
            c.filters.window.as_str()
        );
    } else {
        let _ = write!(
            body,
            r#"<h2>Sites with reports in the last {}</h2><table id="sites"><thead><tr><th>site</th><th>reports</th><th>problems</th><th>last seen</th></tr></thead><tbody>"#,
            c.filters.window.as_str()
        );
        for s in sites {
            let link = c.filters.link("/", &[("site", s.site.clone())]);
            let _ = write!(
                body,
                r#"<tr data-site="{site}" data-count="{n}"><td><a href="{link}">{site}</a></td><td class="n">{n}</td><td class="n">{p}</td><td>{last}</td></tr>"#,
                site = escape(&s.site),
                n = s.reports,
                p = s.problems,
                last = escape(&seconds(s.last_seen)),
            );
        }
        body.push_str("</tbody></table>");
    }
    layout("Lookout", &body)
}

/// The problems of a site, ranked, with the reports per day by type: every problem of the
/// window counts in the totals and the chart by type, and the page lists
/// [`PROBLEMS_PER_PAGE`] of them (page `filters.page`), with a chart each.
pub fn problems(c: &Context<'_>, groups: &[GroupSummary]) -> String {
    let f = c.filters;
    let start = f.page.saturating_mul(PROBLEMS_PER_PAGE).min(groups.len());
    let end = start.saturating_add(PROBLEMS_PER_PAGE).min(groups.len());
    let shown = &groups[start..end];
    let mut body = format!("<h1>{}</h1>", escape(&f.site));
    body.push_str(&filter_form(c));
    body.push_str(&reports_by_type(c, groups));
    body.push_str(&problems_in_the_terminal(c, groups.len()));
    body.push_str(
        r#"<table id="problems"><thead><tr><th>#</th><th>reports</th><th title="distinct senders' networks, summed over days: evidence a forger cannot fake from one network">visitors</th><th>per day</th><th>type</th><th>class</th><th>disposition</th><th>problem</th><th>browsers</th><th>first seen</th><th>last seen</th></tr></thead><tbody>"#,
    );
    for (i, g) in shown.iter().enumerate() {
        problem_row(&mut body, c, start + i + 1, g);
    }
    body.push_str("</tbody></table>");
    if groups.is_empty() {
        body.push_str("<p>No problems in this window.</p>");
    } else if shown.is_empty() {
        body.push_str("<p>No problems on this page.</p>");
    }
    body.push_str(&problem_pages(f, start, end, groups.len()));
    layout(&format!("{} · Lookout", f.site), &body)
}

/// The chart of the reports per day, one series per type, with its totals and legend.
fn reports_by_type(c: &Context<'_>, groups: &[GroupSummary]) -> String {
    let mut by_type: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for g in groups {
        let days = by_type.entry(g.report_type.to_string()).or_default();
        for (d, n) in &g.days {
            *days.entry(d.clone()).or_default() += n;
        }
    }
    let series: Vec<(String, BTreeMap<String, u64>)> = by_type.into_iter().collect();
    let total: u64 = groups.iter().map(|g| g.count).sum();
    let mut out = format!(
        r#"<h2>Reports per day by type</h2><p><span id="total-reports">{total}</span> report(s) in <span id="total-problems">{}</span> problem(s), last {}.</p>{}<p class="legend">"#,
        groups.len(),
        c.filters.window.as_str(),
        stacked_days(&series, c.days)
    );
    for (k, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            out,
            r#"<span><svg width="10" height="10"><rect width="10" height="10" fill="{}"/></svg> {}</span>"#,
            PALETTE[k % PALETTE.len()],
            escape(name)
        );
    }
    out.push_str("</p>");
    out
}

/// The problems' heading: the `lookout top` that lists the `listed` problems, and a link to
/// the suggested policy.
fn problems_in_the_terminal(c: &Context<'_>, listed: usize) -> String {
    let f = c.filters;
    let mut top = format!(
        "lookout top --site {} --since {} --limit {}",
        shell_quote(&f.site),
        f.window.as_str(),
        listed.max(1)
    );
    if let Some(t) = &f.report_type {
        let _ = write!(top, " --type {}", shell_quote(t.as_str()));
    }
    if let Some(class) = f.class {
        let _ = write!(top, " --class {}", shell_quote(class.as_str()));
    }
    let browser_note = if f.browser.is_empty() && f.disposition.is_empty() {
        ""
    } else {
        " (the page keeps only the problems with reports of that browser family or disposition: `top --json` lists them in `browsers` and `dispositions`)"
    };
    format!(
        r#"<h2>Problems</h2><p class="muted">In the terminal: {}{browser_note}. <a href="{}">Suggested policy</a> · <a href="{}">Scripts</a></p>"#,
        cli(&top, c.store_args),
        f.link("/policy", &[]),
        f.link("/scripts", &[])
    )
}

/// One row of the problems table: problem `g`, ranked `rank`, linked to its reports.
fn problem_row(body: &mut String, c: &Context<'_>, rank: usize, g: &GroupSummary) {
    let link = c.filters.link(
        "/problem",
        &[
            ("type", g.report_type.to_string()),
            ("fingerprint", g.fingerprint.clone()),
        ],
    );
    let _ = write!(
        body,
        r#"<tr data-fingerprint="{fp}" data-type="{t}" data-count="{n}"><td class="n">{rank}</td><td class="n">{n}</td><td class="n">{visitors}</td><td>{spark}</td><td>{t}</td><td>{class}</td><td>{disp}</td><td class="problem"><a href="{link}">{group}</a></td><td>{browsers}</td><td>{first}</td><td>{last}</td></tr>"#,
        fp = escape(&g.fingerprint),
        t = escape(g.report_type.as_str()),
        n = g.count,
        visitors = g.visitors,
        spark = sparkline(&g.days, c.days),
        class = g.classification.map_or("", |c| c.as_str()),
        disp = escape(&g.dispositions.join(", ")),
        group = escape(&g.group),
        browsers = escape(&g.browsers.join(", ")),
        first = escape(&seconds(g.first_seen)),
        last = escape(&seconds(g.last_seen)),
    );
}

/// The links to the previous and next pages of problems, when there are any; the page shows
/// problems `start + 1` to `end` of `total`.
fn problem_pages(f: &Filters, start: usize, end: usize, total: usize) -> String {
    let next = end < total && f.page < MAX_PAGE;
    if f.page == 0 && !next {
        return String::new();
    }
    let mut out = String::from(r#"<p class="pages">"#);
    if f.page > 0 {
        let _ = write!(
            out,
            r#"<a id="previous" href="{}">previous</a> "#,
            f.link("/", &[("page", (f.page - 1).to_string())])
        );
    }
    if start < end {
        let _ = write!(out, "problems {} to {} of {}", start + 1, end, total);
    }
    if next {
        let _ = write!(
            out,
            r#" <a id="next" href="{}">next</a>"#,
            f.link("/", &[("page", (f.page + 1).to_string())])
        );
    }
    out.push_str("</p>");
    out
}

/// One problem opened (`fingerprint`, of the filters' type): its reports, newest first, a page
/// at a time.
pub fn problem(
    f: &Filters,
    fingerprint: &Fingerprint,
    store_args: &str,
    group: Option<&GroupSummary>,
    reports: &[Report],
    more: bool,
) -> String {
    let mut body = format!(
        r#"<p><a href="{}">← the problems of {}</a></p>"#,
        f.link("/", &[("type", String::new())]),
        escape(&f.site)
    );
    match group {
        Some(g) => {
            let _ = write!(
                body,
                r#"<h1 class="problem">{}</h1><p><span id="problem-count">{}</span> report(s) in the last {}, from {} to {}; browsers: {}.</p>"#,
                escape(&g.group),
                g.count,
                f.window.as_str(),
                escape(&seconds(g.first_seen)),
                escape(&seconds(g.last_seen)),
                escape(&g.browsers.join(", ")),
            );
        }
        None => {
            let _ = write!(
                body,
                "<h1>Problem {}</h1><p>Not seen in the last {}.</p>",
                escape(fingerprint.as_str()),
                f.window.as_str()
            );
        }
    }
    let query = format!(
        "lookout query --site {} --type {} --fingerprint {} --since {} --limit {} --json",
        shell_quote(&f.site),
        shell_quote(f.type_name()),
        shell_quote(fingerprint.as_str()),
        f.window.as_str(),
        f.page.saturating_add(1).saturating_mul(PAGE_SIZE)
    );
    body.push_str(&crash_details(reports));
    let _ = write!(
        body,
        r#"<p class="muted">In the terminal: {}</p><table id="reports"><thead><tr><th>occurred</th><th>disposition</th><th>browser</th><th>page</th><th>report</th></tr></thead><tbody>"#,
        cli(&query, store_args)
    );
    for r in reports {
        report_row(&mut body, r);
    }
    body.push_str("</tbody></table><p>");
    if f.page > 0 {
        let _ = write!(
            body,
            r#"<a href="{}">newer</a> "#,
            problem_link(f, fingerprint, f.page - 1)
        );
    }
    if more && f.page < MAX_PAGE {
        let _ = write!(
            body,
            r#"<a id="older" href="{}">older</a>"#,
            problem_link(f, fingerprint, f.page + 1)
        );
    }
    body.push_str("</p>");
    layout(&format!("{} · Lookout", f.site), &body)
}

/// One row of a problem's reports: when, how, by which browser, on which page, and the
/// report as JSON.
fn report_row(body: &mut String, r: &Report) {
    let json = serde_json::to_string_pretty(r).unwrap_or_default();
    let _ = write!(
        body,
        r#"<tr data-id="{id}"><td>{when}</td><td>{disp}</td><td>{browser}</td><td class="problem">{url}</td><td><details><summary>JSON</summary><pre>{json}</pre></details></td></tr>"#,
        id = escape(&r.id),
        when = escape(&seconds(r.occurred_at)),
        disp = r.disposition.map_or("", |d| d.as_str()),
        browser = escape(r.browser.as_deref().unwrap_or("")),
        url = escape(&r.url),
        json = escape(&json),
    );
}

/// For crash reports among `reports`: the key-values the pages set with
/// `window.crashReport.set()` (Chrome sends them as `crash_report_api`), each value with the
/// number of these reports that carried it, and the first report's JavaScript stack. Empty
/// when they carry neither.
fn crash_details(reports: &[Report]) -> String {
    let crashes = || {
        reports
            .iter()
            .filter(|r| r.report_type == ReportType::Crash)
    };
    let mut values: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for r in crashes() {
        // Key-values are an object; anything else a sender put there is in the report's JSON.
        if let Some(Value::Object(map)) = r.body.get("crash_report_api") {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                *values.entry((k.as_str(), text)).or_default() += 1;
            }
        }
    }
    let mut out = String::new();
    if !values.is_empty() {
        out.push_str(
            r#"<h2>Crash key-values</h2><p class="muted">What the page set with <code>window.crashReport.set()</code> before it crashed (<code>crash_report_api</code>), over the reports below.</p><table id="crash-keys"><thead><tr><th>key</th><th>value</th><th>reports</th></tr></thead><tbody>"#,
        );
        for ((k, v), n) in &values {
            let _ = write!(
                out,
                r#"<tr><td class="problem">{}</td><td class="problem">{}</td><td class="n">{n}</td></tr>"#,
                escape(k),
                escape(v)
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(stack) = crashes().find_map(|r| r.body.str_of("stack")) {
        let _ = write!(
            out,
            r#"<h2>JavaScript stack</h2><p class="muted">Of the newest report below that has one.</p><pre id="crash-stack">{}</pre>"#,
            escape(stack)
        );
    }
    out
}

fn problem_link(f: &Filters, fingerprint: &Fingerprint, page: usize) -> String {
    f.link(
        "/problem",
        &[
            ("fingerprint", fingerprint.to_string()),
            ("page", page.to_string()),
        ],
    )
}

/// The suggested policy, what changed and why, as `lookout policy` prints it.
pub fn policy(f: &Filters, store_args: &str, outcome: Result<&PolicyView, &str>) -> String {
    let mut body = format!(
        r#"<p><a href="{}">← the problems of {}</a></p><h1>Suggested policy for {}</h1>"#,
        f.link("/", &[]),
        escape(&f.site),
        escape(&f.site)
    );
    let command = format!(
        "lookout policy --site {} --since {}",
        shell_quote(&f.site),
        f.window.as_str()
    );
    match outcome {
        Ok(v) => {
            let _ = write!(
                body,
                r#"<p class="muted">From {} CSP problem(s) of the last {}, starting from your policy. In the terminal: {} --from-policy '…'</p>{}<pre id="policy">{}</pre><h2>Changes</h2><pre id="diff">{}</pre>"#,
                v.problems,
                f.window.as_str(),
                cli(&command, store_args),
                v.note
                    .as_deref()
                    .map(|n| format!("<p>{}</p>", escape(n)))
                    .unwrap_or_default(),
                escape(&v.policy),
                escape(&v.diff),
            );
            if !v.left_out.is_empty() {
                body.push_str("<h2>Left out</h2><ul>");
                for l in &v.left_out {
                    let _ = write!(body, "<li>{}</li>", escape(l));
                }
                body.push_str("</ul>");
            }
        }
        Err(reason) => {
            let _ = write!(
                body,
                "<p>{}</p><p class=\"muted\">In the terminal: {}</p>",
                escape(reason),
                cli(&command, store_args)
            );
        }
    }
    layout(&format!("{} policy · Lookout", f.site), &body)
}

/// A suggestion as the policy page shows it.
pub struct PolicyView {
    /// CSP problems read.
    pub problems: usize,
    /// What the reports' own policies say, against the owner's (information only).
    pub note: Option<String>,
    /// The suggested policy.
    pub policy: String,
    /// What changed, line by line.
    pub diff: String,
    /// The problems not allowed, each with its reason.
    pub left_out: Vec<String>,
}

/// The scripts the site's pages loaded ([`crate::scripts`]), most reported first: each with
/// its status, contents (the latest first), pages, authorization and what Integrity-Policy
/// reports say of it. `unread`: why the authorizations are not shown, when they could not be
/// read (every script then shows as unreviewed).
pub fn scripts(f: &Filters, store_args: &str, scripts: &[Script], unread: Option<&str>) -> String {
    let site = shell_quote(&f.site);
    let mut body = format!(
        r#"<p><a href="{}">← the problems of {}</a></p><h1>Scripts of {}</h1>"#,
        f.link("/", &[]),
        escape(&f.site),
        escape(&f.site)
    );
    let list = format!(
        "lookout scripts --site {site} --since {}",
        f.window.as_str()
    );
    let authorize = format!("lookout scripts authorize --site {site} URL --reason '…'");
    let _ = write!(
        body,
        r#"<p class="muted">From the <code>csp-hash</code> reports of the last {} (browsers send one for each script a page loads when its policy has <code>'report-sha256'</code> in <code>script-src</code>; <code>lookout headers --script-hashes</code> prints such headers); authorize a script in the terminal with {}. In the terminal: {}</p>"#,
        f.window.as_str(),
        cli(&authorize, store_args),
        cli(&list, store_args),
    );
    if let Some(reason) = unread {
        let _ = write!(
            body,
            r#"<p id="authorizations-unread">{}</p>"#,
            escape(reason)
        );
    }
    if scripts.is_empty() {
        let headers = format!("lookout headers --endpoint URL --site {site} --script-hashes");
        let _ = write!(
            body,
            r#"<p id="no-scripts">No script was reported in the last {}. Scripts are listed from <code>csp-hash</code> reports: send the headers {} prints (its CSP has <code>'report-sha256'</code> in <code>script-src</code>, for which Chrome 133 and later reports the SHA-256 of each script a page loads), then load a page.</p>"#,
            f.window.as_str(),
            cli(&headers, ""),
        );
        return layout(&format!("{} scripts · Lookout", f.site), &body);
    }
    body.push_str(
        r#"<table id="scripts"><thead><tr><th>script</th><th>status</th><th>contents</th><th>pages</th><th>authorization</th><th>integrity</th></tr></thead><tbody>"#,
    );
    for s in scripts {
        script_row(&mut body, f, s);
    }
    body.push_str("</tbody></table>");
    layout(&format!("{} scripts · Lookout", f.site), &body)
}

/// One row of the scripts table.
fn script_row(body: &mut String, f: &Filters, s: &Script) {
    let status = match s.status {
        Status::Changed => r#"<span class="changed">⚠ changed</span>"#.to_owned(),
        other => other.as_str().to_owned(),
    };
    let authorized_hash = s.authorization.as_ref().map(|a| a.hash.as_deref());
    let mut contents = String::new();
    for c in &s.hashes {
        content_line(
            &mut contents,
            f,
            c,
            authorized_hash == Some(c.hash.as_deref()),
        );
    }
    let mut pages = String::new();
    for p in &s.pages {
        let _ = write!(pages, "<div>{}</div>", escape(p));
    }
    let authorization = match &s.authorization {
        Some(a) => format!(
            r#"<code>{}</code><div>{}</div><div class="muted">by {}, {}</div>"#,
            escape(a.hash.as_deref().unwrap_or("no hash")),
            escape(&a.reason),
            escape(&a.by),
            escape(&seconds(a.at)),
        ),
        None => r#"<span class="muted">none</span>"#.to_owned(),
    };
    let integrity = match &s.integrity {
        Some(i) => {
            let mut out = format!(
                "loaded without <code>integrity</code>: {} report(s)",
                i.missing_reports
            );
            if let Some(h) = &i.suggested {
                let _ = write!(
                    out,
                    "<div>add <code>{}</code></div>",
                    escape(&format!("integrity=\"{h}\""))
                );
            }
            out
        }
        None => String::new(),
    };
    let note = s
        .note
        .as_deref()
        .map(|n| format!(r#"<div class="muted">{}</div>"#, escape(n)))
        .unwrap_or_default();
    let _ = write!(
        body,
        r#"<tr data-url="{url}" data-status="{status_name}"><td class="problem">{url}<div class="muted">{destination}</div>{note}</td><td>{status}</td><td>{contents}</td><td class="problem">{pages}</td><td class="problem">{authorization}</td><td>{integrity}</td></tr>"#,
        url = escape(&s.url),
        status_name = s.status.as_str(),
        destination = escape(&s.destination),
    );
}

/// One content of a script: its hash, linked to its reports (the problem it is), and its
/// figures; `authorized` when it is the content the authorization names.
fn content_line(out: &mut String, f: &Filters, c: &Content, authorized: bool) {
    let hash = match &c.hash {
        Some(h) => format!("<code>{}</code>", escape(h)),
        None => r#"<code>no hash</code>"#.to_owned(),
    };
    let link = f.link(
        "/problem",
        &[
            ("type", ReportType::CspHash.to_string()),
            ("fingerprint", c.fingerprint.clone()),
        ],
    );
    let _ = write!(
        out,
        r#"<div class="content">{hash}{mark} <a href="{link}">{n} report(s)</a>, {visitors} visitor(s), {first} to {last}</div>"#,
        mark = if authorized { " (authorized)" } else { "" },
        n = c.reports,
        visitors = c.visitors,
        first = escape(&seconds(c.first_seen)),
        last = escape(&seconds(c.last_seen)),
    );
}

/// A short page saying what was wrong with a request.
pub fn error(message: &str) -> String {
    layout(
        "Lookout",
        &format!("<h1>Cannot show this</h1><p>{}</p>", escape(message)),
    )
}

/// `2026-11-21T23:59:19.123Z` → `2026-11-21 23:59:19`.
fn seconds(t: Timestamp) -> String {
    let s = t.to_string();
    s.get(..19).unwrap_or(&s).replacen('T', " ", 1)
}

/// The families of the browsers that sent `groups`, sorted.
pub fn families(groups: &[GroupSummary]) -> Vec<String> {
    let set: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| g.browsers.iter().map(|b| family(b)))
        .collect();
    set.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_problem_shows_its_key_values_and_stack_as_text() {
        let body = br#"[{"type":"crash","age":0,"url":"https://e.com/a","body":{"reason":"unresponsive","stack":"\n    at spin (https://e.com/<b>.js:1:2)","crash_report_api":{"route":"/cart","x<script>":"\u001b[31m","n":7}}},
                        {"type":"crash","age":0,"url":"https://e.com/b","body":{"reason":"unresponsive","crash_report_api":{"route":"/cart"}}},
                        {"type":"crash","age":0,"url":"https://e.com/c","body":{"reason":"oom","crash_report_api":"not key-values"}}]"#;
        let now = Timestamp::parse_rfc3339("2026-12-03T10:00:00Z").unwrap();
        let reports = crate::report::decode(
            body,
            &crate::report::RequestMeta::new(Some("e.com"), now),
            &crate::report::Options::default(),
        )
        .unwrap()
        .reports;
        assert_eq!(reports.len(), 3);
        let f =
            Filters::from_query("site=e.com&type=crash&fingerprint=0123456789abcdef", "").unwrap();
        let fp = Fingerprint::parse("0123456789abcdef").unwrap();
        let page = problem(&f, &fp, "", None, &reports, false);
        assert!(page.contains(r#"<table id="crash-keys">"#), "{page}");
        assert!(page.contains(
            r#"<tr><td class="problem">route</td><td class="problem">/cart</td><td class="n">2</td></tr>"#
        ));
        assert!(page.contains(r#"<td class="problem">n</td><td class="problem">7</td>"#));
        assert!(page.contains("x&lt;script&gt;</td><td class=\"problem\">\u{241b}[31m</td>"));
        assert!(!page.contains("not key-values</td>"));
        assert!(page.contains(
            r#"<pre id="crash-stack">
    at spin (https://e.com/&lt;b&gt;.js:1:2)</pre>"#
        ));
        assert!(!page.contains("<script") && !page.contains("<b>") && !page.contains('\u{1b}'));
        // Other problems show neither.
        let deprecation = crate::report::decode(
            br#"[{"type":"deprecation","age":0,"url":"https://e.com/","body":{"id":"x","stack":"at f (https://e.com/a.js:1:1)","crash_report_api":{"k":"v"}}}]"#,
            &crate::report::RequestMeta::new(Some("e.com"), now),
            &crate::report::Options::default(),
        )
        .unwrap()
        .reports;
        let page = problem(&f, &fp, "", None, &deprecation, false);
        assert!(!page.contains("crash-keys") && !page.contains("crash-stack"));
    }

    fn group(i: usize, now: Timestamp) -> GroupSummary {
        GroupSummary {
            report_type: crate::report::ReportType::Deprecation,
            fingerprint: format!("{i:016x}"),
            group: format!("deprecation feature{i}"),
            count: 1,
            first_seen: now,
            last_seen: now,
            browsers: Vec::new(),
            visitors: 0,
            dispositions: Vec::new(),
            classification: None,
            policy_version: None,
            days: BTreeMap::from([(now.day(), 1)]),
        }
    }

    #[test]
    fn the_problems_come_a_page_at_a_time() {
        let now = Timestamp::parse_rfc3339("2026-12-03T10:00:00Z").unwrap();
        let groups: Vec<GroupSummary> = (0..250).map(|i| group(i, now)).collect();
        let days = days_between(Window::Week.since(now), now);
        let page = |n: usize| {
            let mut filters = Filters::from_query("site=a.example", "").unwrap();
            filters.page = n;
            let c = Context {
                filters: &filters,
                store_args: "",
                days: &days,
                types: &[],
                families: &[],
            };
            problems(&c, &groups)
        };
        let first = page(0);
        assert_eq!(first.matches("<tr data-fingerprint=").count(), 100);
        assert_eq!(first.matches(r#"<svg class="spark""#).count(), 100);
        assert!(first.contains(r#"<span id="total-problems">250</span>"#));
        assert!(first.contains(r#"id="next" href="/?site=a.example&amp;window=7d&amp;page=1""#));
        assert!(first.contains(r#"<a href="/scripts?site=a.example&amp;window=7d">Scripts</a>"#));
        assert!(!first.contains(r#"id="previous""#));
        let last = page(2);
        assert_eq!(last.matches("<tr data-fingerprint=").count(), 50);
        assert!(last.contains(r#"<td class="n">201</td>"#));
        assert!(last.contains(r#"id="previous""#) && !last.contains(r#"id="next""#));
        let past = page(MAX_PAGE);
        assert_eq!(past.matches("<tr data-fingerprint=").count(), 0);
        assert!(past.contains("No problems on this page."));
    }

    #[test]
    fn the_scripts_show_their_contents_and_authorizations_as_text() {
        use crate::scripts::{Authorized, Integrity, NO_HASH_NOTE};
        let f = Filters::from_query("site=shop.example&window=30d", "").unwrap();
        let old = "sha256-kXpLomJzl7/XaYNWb9qqrD03SIV3MeQ858OKe5bGOks=";
        let new = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let content = |hash: Option<&str>, last: i64| Content {
            hash: hash.map(str::to_owned),
            first_seen: Timestamp(0),
            last_seen: Timestamp(last),
            reports: 3,
            visitors: 2,
            browsers: vec!["Chrome 156".into()],
            fingerprint: "0123456789abcdef".into(),
        };
        let inventory = [
            Script {
                url: "https://shop.example/s/<script>alert(1)</script>.js".into(),
                destination: "script".into(),
                pages: vec!["https://shop.example/checkout\"><img src=x>".into()],
                hashes: vec![content(Some(new), 2_000), content(Some(old), 1_000)],
                status: Status::Changed,
                authorization: Some(Authorized {
                    hash: Some(old.into()),
                    reason: "the vendor's <b>widget</b>".into(),
                    by: "ops".into(),
                    at: Timestamp(1_500),
                }),
                integrity: Some(Integrity {
                    missing_reports: 4,
                    suggested: Some(old.into()),
                }),
                note: None,
            },
            Script {
                url: "https://cdn.example/x.js".into(),
                destination: "script".into(),
                pages: Vec::new(),
                hashes: vec![content(None, 0)],
                status: Status::Unreviewed,
                authorization: None,
                integrity: None,
                note: Some(NO_HASH_NOTE.into()),
            },
        ];
        let page = scripts(&f, "", &inventory, None);
        assert!(page.contains(
            r#"<tr data-url="https://shop.example/s/&lt;script&gt;alert(1)&lt;/script&gt;.js" data-status="changed">"#
        ), "{page}");
        assert!(page.contains(r#"<span class="changed">⚠ changed</span>"#));
        let newer = page.find(&format!("<code>{new}</code> <a")).unwrap();
        let authorized = page
            .find(&format!("<code>{old}</code> (authorized) <a"))
            .unwrap();
        assert!(newer < authorized, "the latest content first");
        assert!(page.contains(
            r#"<a href="/problem?site=shop.example&amp;window=30d&amp;type=csp-hash&amp;fingerprint=0123456789abcdef">3 report(s)</a>, 2 visitor(s), 1970-01-01 00:00:00 to 1970-01-01 00:00:02"#
        ));
        assert!(page.contains("https://shop.example/checkout&quot;&gt;&lt;img src=x&gt;"));
        assert!(page.contains(&format!(
            r#"<code>{old}</code><div>the vendor&#39;s &lt;b&gt;widget&lt;/b&gt;</div><div class="muted">by ops, 1970-01-01 00:00:01</div>"#
        )));
        assert!(page.contains(&format!(
            "loaded without <code>integrity</code>: 4 report(s)<div>add <code>integrity=&quot;{old}&quot;</code></div>"
        )));
        assert!(
            page.contains(r#"<tr data-url="https://cdn.example/x.js" data-status="unreviewed">"#)
        );
        assert!(page.contains("<code>no hash</code>"));
        assert!(page.contains(&escape(NO_HASH_NOTE)));
        assert!(page.contains("lookout scripts authorize --site shop.example URL"));
        assert!(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"));
        assert!(!page.contains("authorizations-unread") && !page.contains("no-scripts"));

        let empty = scripts(&f, "", &[], Some("could not read <x>"));
        assert!(empty.contains(r#"<p id="authorizations-unread">could not read &lt;x&gt;</p>"#));
        assert!(empty.contains(r#"<p id="no-scripts">"#) && !empty.contains(r#"id="scripts""#));
        assert!(
            empty.contains("lookout headers --endpoint URL --site shop.example --script-hashes")
        );
    }
}
