//! Browser family and major version from a User-Agent string, for grouping and display.

/// `Chrome 120`, `Firefox 149`, `Safari 17`, `Edge 120`, ...; `None` when not recognised.
pub fn browser_of(user_agent: &str) -> Option<String> {
    // Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
    const TOKENS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "HeadlessChrome"),
        ("Chrome/", "Chrome"),
    ];
    for (token, name) in TOKENS {
        if let Some(v) = version_after(user_agent, token) {
            return Some(format!("{name} {v}"));
        }
    }
    if user_agent.contains("Safari/")
        && let Some(v) = version_after(user_agent, "Version/")
    {
        return Some(format!("Safari {v}"));
    }
    None
}

/// The major version number following `token`.
fn version_after<'a>(ua: &'a str, token: &str) -> Option<&'a str> {
    let start = ua.find(token)? + token.len();
    let rest = &ua[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
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
