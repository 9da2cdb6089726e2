//! Charts drawn as inline SVG: a bar per day, no script, no library.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::html::escape;

/// Fill colours of the report types in stacked charts, in the order the types are listed
/// (as many as there are known types, so a site's types rarely share one).
pub const PALETTE: [&str; 16] = [
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
    "#65a30d", "#9333ea", "#ea580c", "#0d9488", "#be123c", "#1e3a8a", "#a16207", "#94a3b8",
];

/// A small bar chart of one problem's reports per day over `days` (oldest first).
pub fn sparkline(counts: &BTreeMap<String, u64>, days: &[String]) -> String {
    const BAR: usize = 4;
    const HEIGHT: u64 = 20;
    let max = days
        .iter()
        .filter_map(|d| counts.get(d))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = format!(
        r#"<svg class="spark" width="{w}" height="{HEIGHT}" viewBox="0 0 {w} {HEIGHT}" role="img">"#,
        w = days.len() * BAR
    );
    for (i, d) in days.iter().enumerate() {
        let n = counts.get(d).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let h = (n * HEIGHT).div_ceil(max);
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{y}" width="{bw}" height="{h}" fill="#2563eb"><title>{day}: {n}</title></rect>"##,
            x = i * BAR,
            y = HEIGHT - h,
            bw = BAR - 1,
            day = escape(d),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Reports per day, stacked by type: `series` holds each type's counts per day, in legend order.
pub fn stacked_days(series: &[(String, BTreeMap<String, u64>)], days: &[String]) -> String {
    const HEIGHT: u64 = 120;
    /// Room for the first and the last day's labels side by side (10 characters each at 11 px):
    /// a few days get wider bars, so that each label stays under its own day's bar.
    const LABELS_WIDTH: usize = 160;
    let n = days.len().max(1);
    let bar = (720 / n)
        .clamp(4, 40)
        .max(if n > 1 { LABELS_WIDTH.div_ceil(n) } else { 0 });
    let totals: Vec<u64> = days
        .iter()
        .map(|d| series.iter().filter_map(|(_, c)| c.get(d)).sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let width = (days.len() * bar).max(LABELS_WIDTH);
    let mut svg = format!(
        r#"<svg class="days" width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" aria-label="reports per day by type">"#,
        h = HEIGHT + 16
    );
    for (i, d) in days.iter().enumerate() {
        let mut top = HEIGHT;
        for (k, (name, counts)) in series.iter().enumerate() {
            let n = counts.get(d).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = (n * HEIGHT).div_ceil(max).min(top);
            top -= h;
            let _ = write!(
                svg,
                r#"<rect x="{x}" y="{top}" width="{w}" height="{h}" fill="{fill}"><title>{day} {name}: {n}</title></rect>"#,
                x = i * bar,
                w = bar - 1,
                fill = PALETTE[k % PALETTE.len()],
                day = escape(d),
                name = escape(name),
            );
        }
    }
    let y = HEIGHT + 13;
    if let Some(first) = days.first() {
        let _ = write!(
            svg,
            r#"<text x="0" y="{y}" font-size="11">{}</text>"#,
            escape(first)
        );
    }
    if let Some(last) = days.last().filter(|_| days.len() > 1) {
        let _ = write!(
            svg,
            r#"<text x="{width}" y="{y}" font-size="11" text-anchor="end">{}</text>"#,
            escape(last)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days() -> Vec<String> {
        ["2026-12-01", "2026-12-02", "2026-12-03"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn a_bar_per_day_with_reports() {
        let counts = BTreeMap::from([("2026-12-01".to_owned(), 2), ("2026-12-03".to_owned(), 4)]);
        let svg = sparkline(&counts, &days());
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains(r#"height="10""#) && svg.contains(r#"height="20""#));
        assert!(svg.contains("<title>2026-12-03: 4</title>"));
    }

    #[test]
    fn stacks_never_overflow_and_names_are_escaped() {
        let series = vec![
            (
                "<b>".to_owned(),
                BTreeMap::from([("2026-12-02".to_owned(), 3)]),
            ),
            (
                "coep".to_owned(),
                BTreeMap::from([("2026-12-02".to_owned(), 1)]),
            ),
        ];
        let svg = stacked_days(&series, &days());
        assert!(svg.contains("&lt;b&gt;: 3") && !svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains(r#"y="0" width"#),
            "the tallest stack reaches the top: {svg}"
        );
    }

    #[test]
    fn two_days_leave_room_for_both_labels_and_one_day_has_one() {
        let two = ["2026-12-03".to_owned(), "2026-12-04".to_owned()];
        let series = vec![(
            "coep".to_owned(),
            BTreeMap::from([("2026-12-04".to_owned(), 1)]),
        )];
        let svg = stacked_days(&series, &two);
        assert!(svg.starts_with(r#"<svg class="days" width="160""#), "{svg}");
        assert!(
            svg.contains(r#"<rect x="80" "#),
            "the second day's bar ends at the label: {svg}"
        );
        assert!(svg.contains(
            r#"<text x="160" y="133" font-size="11" text-anchor="end">2026-12-04</text>"#
        ));
        let one = stacked_days(&[], &two[..1]);
        assert_eq!(one.matches("<text").count(), 1, "{one}");
    }
}
