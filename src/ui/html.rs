//! Text into HTML: every value that came from a report goes through [`escape`].

use std::fmt::Write;

/// `s` as HTML text or attribute value: `& < > " '` escaped, control characters shown as
/// their Unicode pictures (U+2400...) or U+FFFD, so they can neither end an element nor hide.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A link to one of the page's own views: `path?name=value&...`, values percent-encoded,
/// the whole escaped for an attribute. Pairs with an empty value are left out.
pub fn href(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            query.append_pair(k, v);
        }
    }
    let query = query.finish();
    let mut out = String::from(path);
    if !query.is_empty() {
        let _ = write!(out, "?{query}");
    }
    escape(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_become_text() {
        assert_eq!(
            escape("<script>alert('x')</script>&\"\u{1b}[31m\u{7f}\u{85}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\u{241b}[31m\u{2421}\u{fffd}"
        );
    }

    #[test]
    fn links_carry_values_encoded() {
        assert_eq!(
            href(
                "/problem",
                &[("site", "a.example"), ("fp", "x&y=\"z\""), ("type", "")]
            ),
            "/problem?site=a.example&amp;fp=x%26y%3D%22z%22"
        );
    }
}
