//! Browser family and major version from a User-Agent string, for grouping and display.

/// `Chrome 120`, `Firefox 149`, `Safari 17`, `Edge 120`, ...; `None` when not recognised.
///
/// One pass over the `Name/Version` product tokens. Edge and Opera also say Chrome, and Chrome
/// also says Safari, so the most specific token wins.
pub fn browser_of(user_agent: &str) -> Option<String> {
    let mut best: Option<(u8, &str, &str)> = None;
    let mut safari_version = None;
    let mut says_safari = false;
    for token in user_agent.split([' ', '(', ')', ';']) {
        let Some((name, version)) = token.split_once('/') else {
            continue;
        };
        let major = &version[..version
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(version.len())];
        if major.is_empty() {
            continue;
        }
        let (rank, family) = match name {
            "Edg" | "EdgA" | "EdgiOS" => (0, "Edge"),
            "OPR" => (1, "Opera"),
            "SamsungBrowser" => (2, "Samsung Internet"),
            "Firefox" | "FxiOS" => (3, "Firefox"),
            "CriOS" => (4, "Chrome"),
            "HeadlessChrome" => (5, "HeadlessChrome"),
            "Chrome" => (6, "Chrome"),
            "Version" => {
                safari_version = Some(major);
                continue;
            }
            "Safari" => {
                says_safari = true;
                continue;
            }
            _ => continue,
        };
        if best.is_none_or(|(r, _, _)| rank < r) {
            best = Some((rank, family, major));
        }
    }
    match (best, safari_version) {
        (Some((_, family, major)), _) => Some(format!("{family} {major}")),
        (None, Some(major)) if says_safari => Some(format!("Safari {major}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
