//! Output of `query` and `top`: aligned tables for people, JSON lines for tools.
//! Values from reports are cleaned of control characters before they reach a terminal.

use std::io::{self, Write};

use crate::report::Report;
use crate::store::GroupSummary;

/// Reports as JSON lines.
pub fn reports_json(out: &mut impl Write, reports: &[Report]) -> io::Result<()> {
    for r in reports {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Groups as JSON lines.
pub fn groups_json(out: &mut impl Write, groups: &[GroupSummary]) -> io::Result<()> {
    for g in groups {
        serde_json::to_writer(&mut *out, g)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Reports as a table: when, type, disposition, classification, browser, problem, URL.
pub fn reports_table(out: &mut impl Write, reports: &[Report]) -> io::Result<()> {
    let rows = reports
        .iter()
        .map(|r| {
            vec![
                seconds(&r.occurred_at.to_string()),
                r.report_type.to_string(),
                r.disposition.map(|d| d.as_str()).unwrap_or("-").to_owned(),
                r.classification.map_or("-", |c| c.as_str()).to_owned(),
                r.browser.clone().unwrap_or_else(|| "-".into()),
                problem(&r.group, r.report_type.as_str()),
                r.url.clone(),
            ]
        })
        .collect::<Vec<_>>();
    table(
        out,
        &[
            "OCCURRED",
            "TYPE",
            "DISPOSITION",
            "CLASS",
            "BROWSER",
            "PROBLEM",
            "URL",
        ],
        rows,
    )
}

/// Groups as a table: count, visitors, fingerprint, type, classification, policy version, first and last seen, browsers, problem.
pub fn groups_table(out: &mut impl Write, groups: &[GroupSummary]) -> io::Result<()> {
    let rows = groups
        .iter()
        .map(|g| {
            vec![
                g.count.to_string(),
                g.visitors.to_string(),
                g.fingerprint.clone(),
                g.report_type.to_string(),
                g.classification.map_or("-", |c| c.as_str()).to_owned(),
                g.policy_version.clone().unwrap_or_else(|| "-".into()),
                seconds(&g.first_seen.to_string()),
                seconds(&g.last_seen.to_string()),
                if g.browsers.is_empty() {
                    "-".into()
                } else {
                    g.browsers.join(", ")
                },
                problem(&g.group, g.report_type.as_str()),
            ]
        })
        .collect::<Vec<_>>();
    table(
        out,
        &[
            "COUNT",
            "VISITORS",
            "FINGERPRINT",
            "TYPE",
            "CLASS",
            "VERSION",
            "FIRST SEEN",
            "LAST SEEN",
            "BROWSERS",
            "PROBLEM",
        ],
        rows,
    )
}

/// The grouping key without its leading type name.
fn problem(group: &str, type_name: &str) -> String {
    group
        .strip_prefix(type_name)
        .map(str::trim_start)
        .unwrap_or(group)
        .to_owned()
}

/// `2026-11-21T23:59:19.123Z` → `2026-11-21 23:59:19`.
fn seconds(ts: &str) -> String {
    ts.get(..19).unwrap_or(ts).replacen('T', " ", 1)
}

/// `s` for a terminal: control characters (ESC, CR, BEL, ...) and the bidirectional overrides
/// that reorder what is shown replaced by `?`, so that report text cannot redraw the screen.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                '?'
            } else {
                c
            }
        })
        .collect()
}

fn table(out: &mut impl Write, head: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
    const MAX_WIDTH: usize = 60;
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| {
                    let c = clean(&c);
                    if c.chars().count() > MAX_WIDTH {
                        let mut cut: String = c.chars().take(MAX_WIDTH - 1).collect();
                        cut.push('…');
                        cut
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> io::Result<()> {
        let last = cells.len() - 1;
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                writeln!(out, "{c}")?;
            } else {
                write!(out, "{c:<w$}  ")?;
            }
        }
        Ok(())
    };
    line(out, head)?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(out, &cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["A", "B"],
            vec![vec!["x\u{1b}[31mred".into(), "y\nz".into()]],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{1b}'));
        assert_eq!(text.lines().count(), 2);
    }
}
