//! The inventory as text (a terminal), JSON lines, Markdown and CSV (evidence for an
//! assessor). URLs, hashes and pages come from reports, which anyone can send; reasons and
//! names from operators. Each format escapes them for where they go: control characters and
//! bidi overrides never reach a terminal, a Markdown cell cannot break its table or become a
//! link or HTML, a CSV cell cannot become a spreadsheet formula.

use std::fmt::Write as _;

use super::{Content, Script};
use crate::cli::show::clean;
use crate::report::Timestamp;

/// The inventory as lines of JSON, one script each.
pub fn json_lines(scripts: &[Script]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for s in scripts {
        out.push_str(&serde_json::to_string(s)?);
        out.push('\n');
    }
    Ok(out)
}

fn hash_text(c: &Content) -> &str {
    c.hash.as_deref().unwrap_or("(no hash)")
}

/// The inventory for a terminal: one block per script.
pub fn text(site: &str, since: Timestamp, scripts: &[Script]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} scripts on {} since {since}",
        scripts.len(),
        clean(site)
    );
    for s in scripts {
        let _ = writeln!(out, "\n{} [{}]", clean(&s.url), s.status.as_str());
        if let Some(a) = &s.authorization {
            let _ = writeln!(
                out,
                "  authorized {} by {} on {}: {}",
                clean(a.hash.as_deref().unwrap_or("(no hash)")),
                clean(&a.by),
                a.at,
                clean(&a.reason)
            );
        }
        for c in &s.hashes {
            let _ = writeln!(
                out,
                "  {}  {} report(s), {} visitor(s), {} .. {}",
                clean(hash_text(c)),
                c.reports,
                c.visitors,
                c.first_seen,
                c.last_seen
            );
        }
        for p in &s.pages {
            let _ = writeln!(out, "  page {}", clean(p));
        }
        if let Some(i) = &s.integrity {
            let _ = writeln!(
                out,
                "  loaded without integrity= ({} report(s)){}",
                i.missing_reports,
                i.suggested
                    .as_deref()
                    .map(|h| format!(": add integrity=\"{}\"", clean(h)))
                    .unwrap_or_default()
            );
        }
        if let Some(n) = &s.note {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    out
}

/// `s` as the text of a Markdown table cell: one line, in a code span long enough not to be
/// closed by the backticks inside, so that nothing in it is markup.
fn md_code(s: &str) -> String {
    let s = clean(s).replace('|', "\\|");
    if s.is_empty() {
        return String::new();
    }
    let mut fence = String::from("`");
    while s.contains(fence.as_str()) {
        fence.push('`');
    }
    format!("{fence} {s} {fence}")
}

/// `s` as plain Markdown table text: one line; characters that make markup escaped.
fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The inventory as Markdown: a table of scripts with their authorizations, then every
/// content of each script with its first and last sighting.
pub fn markdown(site: &str, since: Timestamp, now: Timestamp, scripts: &[Script]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Scripts of {}\n", md_text(site));
    let _ = writeln!(
        out,
        "Reported by visitors' browsers (`csp-hash` reports) from {since} to {now}. Report text is sent by browsers and is unverified.\n"
    );
    out.push_str("| Script | Status | Authorized content | Reason | By | On | Reports | Pages |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- | ---: | --- |\n");
    for s in scripts {
        let (hash, reason, by, at) = match &s.authorization {
            Some(a) => (
                md_code(a.hash.as_deref().unwrap_or("(no hash)")),
                md_text(&a.reason),
                md_text(&a.by),
                a.at.to_string(),
            ),
            None => Default::default(),
        };
        let pages: Vec<String> = s.pages.iter().map(|p| md_code(p)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {hash} | {reason} | {by} | {at} | {} | {} |",
            md_code(&s.url),
            s.status.as_str(),
            s.reports(),
            pages.join("<br>")
        );
    }
    out.push_str("\n## Contents seen\n\n");
    out.push_str("| Script | Content (SHA-256) | First seen | Last seen | Reports | Visitors |\n");
    out.push_str("| --- | --- | --- | --- | ---: | ---: |\n");
    for s in scripts {
        for c in &s.hashes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                md_code(&s.url),
                md_code(hash_text(c)),
                c.first_seen,
                c.last_seen,
                c.reports,
                c.visitors
            );
        }
    }
    out
}

/// A CSV cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR)
/// prefixed with `'`, as OWASP advises; control characters cleaned.
fn csv_cell(s: &str) -> String {
    let s = clean(s);
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s,
    }
}

/// The inventory as CSV: one row per script content, with its script's status and
/// authorization.
pub fn csv(scripts: &[Script]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "url",
        "destination",
        "status",
        "hash",
        "first_seen",
        "last_seen",
        "reports",
        "visitors",
        "authorized_hash",
        "authorized_by",
        "authorized_at",
        "reason",
        "pages",
    ])?;
    for s in scripts {
        let (a_hash, by, at, reason) = match &s.authorization {
            Some(a) => (
                a.hash.clone().unwrap_or_default(),
                a.by.clone(),
                a.at.to_string(),
                a.reason.clone(),
            ),
            None => Default::default(),
        };
        // A script known only from Integrity-Policy reports has no content: one row still.
        let none = [None];
        let contents: Vec<Option<&Content>> = if s.hashes.is_empty() {
            none.to_vec()
        } else {
            s.hashes.iter().map(Some).collect()
        };
        for c in contents {
            let (hash, first, last, reports, visitors) = match c {
                Some(c) => (
                    c.hash.clone().unwrap_or_default(),
                    c.first_seen.to_string(),
                    c.last_seen.to_string(),
                    c.reports.to_string(),
                    c.visitors.to_string(),
                ),
                None => Default::default(),
            };
            w.write_record([
                csv_cell(&s.url),
                csv_cell(&s.destination),
                s.status.as_str().to_owned(),
                csv_cell(&hash),
                first,
                last,
                reports,
                visitors,
                csv_cell(&a_hash),
                csv_cell(&by),
                at.clone(),
                csv_cell(&reason),
                csv_cell(&s.pages.join(" ")),
            ])?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
