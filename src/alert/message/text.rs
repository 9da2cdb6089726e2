//! Reported text made safe to show: on one line, cut short, escaped for Slack, ASCII for an
//! SNS subject.

/// The most characters of a reported value shown in Slack or an e-mail (then "…").
pub const MAX_VALUE_CHARS: usize = 200;

/// The most characters of an SNS subject: SNS takes fewer than 100, ASCII only.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Whether `c` would break a line or reorder what follows it: control characters (CR, LF,
/// TAB, ESC, the C1 range), Unicode's line and paragraph separators, bidirectional controls
/// and the byte order mark.
fn breaks_text(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` on one line: each character that [`breaks_text`] becomes a space.
pub fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if breaks_text(c) { ' ' } else { c })
        .collect()
}

/// A reported value as shown: on one line, at most [`MAX_VALUE_CHARS`] characters.
pub fn flatten(s: &str) -> String {
    cut(&single_line(s), MAX_VALUE_CHARS)
}

/// `s` as a Slack inline code span: flattened, its backticks made quotes (a backtick would end
/// the span), and Slack's three escapes; an empty value says so.
pub fn code_span(s: &str) -> String {
    let v = flatten(s).replace('`', "'");
    if v.trim().is_empty() {
        return "_(empty)_".to_owned();
    }
    format!("`{}`", slack_escape(&v))
}

/// An SNS subject: ASCII only (other characters become `?`, control characters spaces), at
/// most [`MAX_SUBJECT_CHARS`] characters, ending in "..." when cut.
pub fn sns_subject(s: &str) -> String {
    let ascii: String = s
        .chars()
        .map(|c| {
            if breaks_text(c) {
                ' '
            } else if c.is_ascii() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if ascii.len() <= MAX_SUBJECT_CHARS {
        return ascii;
    }
    // Every character is one byte here.
    let mut out = ascii[..MAX_SUBJECT_CHARS - 3].to_owned();
    out.push_str("...");
    out
}

/// Slack's three escapes.
pub(super) fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `s` cut to `max` characters, with an ellipsis when cut.
pub(super) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_flattened_and_cut() {
        assert_eq!(single_line("a\r\nb\tc\u{1b}[31m\u{2028}d"), "a  b c [31m d");
        let long = "é".repeat(500);
        let f = flatten(&long);
        assert_eq!(f.chars().count(), MAX_VALUE_CHARS);
        assert!(f.ends_with('…'));
        assert_eq!(code_span("a`b<c>"), "`a'b&lt;c&gt;`");
        assert_eq!(code_span("\n\t"), "_(empty)_");
    }

    #[test]
    fn sns_subjects_are_short_and_ascii() {
        assert_eq!(sns_subject("Lookout: ok"), "Lookout: ok");
        assert_eq!(sns_subject("a\nb é"), "a b ?");
        let long = format!("Lookout: New {} problem on example.com", "x".repeat(64));
        let s = sns_subject(&long);
        assert!(s.len() <= MAX_SUBJECT_CHARS, "{s}");
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS);
        assert!(s.ends_with("..."));
        assert!(s.is_ascii());
        let s = sns_subject(&"ü".repeat(300));
        assert_eq!(s.len(), MAX_SUBJECT_CHARS);
        assert!(s.is_ascii());
    }
}
