//! Browser family and major version from a User-Agent string, for grouping and display.

/// Digits a major version may have: browsers are at 3 today, and 4 leaves a century of room.
pub const MAX_MAJOR_DIGITS: usize = 4;

/// `Chrome 120`, `Firefox 149`, `Safari 17`, `Edge 120`, ...; `None` when not recognised.
///
/// One pass over the `Name/Version` product tokens. Edge and Opera also say Chrome, and Chrome
/// also says Safari, so the most specific token wins.
pub fn browser_of(user_agent: &str) -> Option<String> {
    let mut best: Option<(u8, &str, &[u8])> = None;
    let mut safari_version = None;
    let mut says_safari = false;
    // Only `Name/Version` tokens matter: from each `/`, read the name back to the delimiter
    // before it. Byte-wise: every delimiter and name looked for is ASCII.
    let bytes = user_agent.as_bytes();
    let delimiter = |b: &u8| matches!(b, b' ' | b'(' | b')' | b';');
    for (slash, _) in user_agent.match_indices('/') {
        let start = bytes[..slash]
            .iter()
            .rposition(delimiter)
            .map_or(0, |i| i + 1);
        let name = &bytes[start..slash];
        let version = &bytes[slash + 1..];
        let digits = version.iter().take_while(|b| b.is_ascii_digit()).count();
        let major = &version[..digits];
        // A real major version has at most MAX_MAJOR_DIGITS digits; a longer one is the sender's
        // invention (a 430-digit "Chrome" would be a label of its own per report).
        if major.is_empty() || major.len() > MAX_MAJOR_DIGITS || major[0] == b'0' {
            continue;
        }
        let (rank, family) = match name {
            b"Edg" | b"EdgA" | b"EdgiOS" => (0, "Edge"),
            b"OPR" => (1, "Opera"),
            b"SamsungBrowser" => (2, "Samsung Internet"),
            b"Firefox" | b"FxiOS" => (3, "Firefox"),
            b"CriOS" => (4, "Chrome"),
            b"HeadlessChrome" => (5, "HeadlessChrome"),
            b"Chrome" => (6, "Chrome"),
            b"Version" => {
                safari_version = Some(major);
                continue;
            }
            b"Safari" => {
                says_safari = true;
                continue;
            }
            _ => continue,
        };
        if best.is_none_or(|(r, _, _)| rank < r) {
            best = Some((rank, family, major));
        }
    }
    let named = |family: &str, major: &[u8]| {
        let mut s = String::with_capacity(family.len() + 1 + major.len());
        s.push_str(family);
        s.push(' ');
        // ASCII digits only.
        s.extend(major.iter().map(|&b| char::from(b)));
        s
    };
    match (best, safari_version) {
        (Some((_, family, major)), _) => Some(named(family, major)),
        (None, Some(major)) if says_safari => Some(named("Safari", major)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_major_version_a_browser_could_not_have_is_no_label() {
        let long = format!("Mozilla/5.0 Chrome/{}.0 Safari/537.36", "9".repeat(430));
        assert_eq!(browser_of(&long), None);
        assert_eq!(browser_of("Mozilla/5.0 Chrome/12345.0"), None);
        assert_eq!(browser_of("Mozilla/5.0 Chrome/0120.0"), None);
        assert_eq!(
            browser_of("Mozilla/5.0 Chrome/9999.0").as_deref(),
            Some("Chrome 9999")
        );
    }

    #[test]
    fn families() {
        let cases = [
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0.4692.71 Safari/537.36",
                Some("Chrome 100"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:149.0) Gecko/20100101 Firefox/149.0",
                Some("Firefox 149"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                Some("Safari 17"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                Some("Edge 120"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
                Some("HeadlessChrome 156"),
            ),
            ("Mozilla/5.0", None),
            ("", None),
        ];
        for (ua, want) in cases {
            assert_eq!(browser_of(ua).as_deref(), want, "{ua}");
        }
    }
}
