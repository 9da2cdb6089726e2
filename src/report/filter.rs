//! The noise filter: reports caused by browser extensions, injected adware and the like.
//!
//! Patterns follow Sentry's CSP filter: `scheme://host:port`, each part may be `*`;
//! `*.example.com` matches the domain and its subdomains; a pattern without a scheme matches any
//! scheme and port; a bare word without dots (`about`, `ms-browser-extension`) matches that
//! scheme as well as that host; matching is case-insensitive.
//!
//! Two optional lists, off by default, look elsewhere: in-app browsers by their User-Agent
//! ([`in_app_browser`]) and Google Translate's proxy by the document's host
//! ([`is_translate_proxy`]).

use thiserror::Error;

/// Sentry's default disallowed sources, plus the extension schemes and injected hosts that
/// other collectors (go-csp-collector, django-csp-reports, reporting-api) filter by default.
pub const DEFAULT_PATTERNS: &[&str] = &[
    // Sentry DEFAULT_DISALLOWED_SOURCES
    "about",
    "ms-browser-extension",
    "chrome://*",
    "chrome-extension://*",
    "chromeinvokeimmediate://*",
    "chromenull://*",
    "data:text/html,chromewebdata",
    "safari-extension://*",
    "mxaddon-pkg://*",
    "jar://*",
    "webviewprogressproxy://*",
    "ms-browser-extension://*",
    "tmtbff://*",
    "mbinit://*",
    "symres://*",
    "resource://*",
    "moz-extension://*",
    "*.metrext.com",
    "static.image2play.com",
    "*.tlscdn.com",
    "73a5b0806e464be8bd4e694c744624f0.com",
    "020dfefc4ac745dab7594f2f771c1ded.com",
    "*.superfish.com",
    "addons.mozilla.org",
    "v.zilionfast.in",
    "widgets.amung.us",
    "xls.searchfun.in",
    "istatic.datafastguru.info",
    "localhost",
    "resultshub-a.akamaihd.net",
    "pulseadnetwork.com",
    "gateway.zscalertwo.net",
    "www.passpack.com",
    "middlerush-a.akamaihd.net",
    "www.websmartcenter.com",
    "a.linkluster.com",
    "saveyoutime.ru",
    "cdncache-a.akamaihd.net",
    "x.rafomedia.com",
    "savingsslider-a.akamaihd.net",
    "injections.adguard.com",
    "icontent.us",
    "amiok.org",
    "connectionstrenth.com",
    "siteheart.net",
    "netanalitics.space",
    "printapplink.com",
    "godlinkapp.com",
    "devappstor.com",
    "hoholikik.club",
    "smartlink.cool",
    "promfflinkdev.com",
    // Extension and in-app browser schemes filtered by other collectors
    "safari-web-extension://*",
    "chromeinvoke://*",
    "mxjscall://*",
    "res://*",
    "mx://*",
    "safari-resource://*",
    "opera://*",
    "ms-appx://*",
    "ms-appx-web://*",
    "android-webview",
    "wvjbscheme://*",
    "nativebaiduhd://*",
    "bdvideo://*",
    // Injected by antivirus software
    "*.kaspersky-labs.com",
    // Extension URLs as browsers put them in reports now: Chromium and Firefox strip them to
    // the bare scheme (`"source-file": "chrome-extension"`), which the `://` patterns above
    // do not match; Safari masks them as `webkit-masked-url://hidden/`. A bare word matches
    // the bare value and the scheme of a whole URL.
    "chrome-extension",
    "moz-extension",
    "webkit-masked-url",
];

/// User-Agent markers of in-app browsers, and the app each names: their pages carry the app's
/// injected scripts, so their reports tell more about the app than about the site.
pub const IN_APP_BROWSERS: &[(&str, &str)] = &[
    ("FBAN/", "Facebook"),
    ("FB_IAB/", "Facebook"),
    ("Instagram", "Instagram"),
    (" Line/", "LINE"),
];

/// The in-app browser a User-Agent names (a marker of [`IN_APP_BROWSERS`], case as sent), if
/// any.
pub fn in_app_browser(user_agent: &str) -> Option<&'static str> {
    IN_APP_BROWSERS
        .iter()
        .find(|&&(marker, _)| user_agent.contains(marker))
        .map(|&(_, app)| app)
}

/// The domain under which Google Translate's proxy serves the pages it translates
/// (`example-com.translate.goog`).
pub const TRANSLATE_PROXY_DOMAIN: &str = "translate.goog";

/// Whether `url` is a page served through Google Translate's proxy: its host is under
/// [`TRANSLATE_PROXY_DOMAIN`].
pub fn is_translate_proxy(url: &str) -> bool {
    super::weburl::WebUrl::parse(url).is_some_and(|u| {
        let host = u.host.to_ascii_lowercase();
        super::site::is_same_or_subdomain(host.trim_end_matches('.'), TRANSLATE_PROXY_DOMAIN)
    })
}

/// A pattern that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid source pattern {0:?}: expected scheme://host:port, *.domain, host or scheme")]
pub struct InvalidPattern(pub String);

/// One source pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePattern {
    text: String,
    kind: PatternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternKind {
    /// `scheme://host:port` with optional parts (None or `*` = any).
    Parts {
        scheme: Option<String>,
        host: HostPattern,
        port: Option<String>,
    },
    /// A bare word: matches that scheme or that exact host.
    Word(String),
    /// `scheme:rest` without `//` (`data:text/html,chromewebdata`): a prefix of the value.
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: the domain and its subdomains.
    Suffix(String),
}

impl SourcePattern {
    /// Parses a pattern.
    pub fn parse(text: &str) -> Result<Self, InvalidPattern> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || InvalidPattern(text.to_owned());
        if t.is_empty() || t.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let kind = if let Some((scheme, rest)) = t.split_once("://") {
            let (host, port) = split_host_port(rest);
            PatternKind::Parts {
                scheme: (scheme != "*").then(|| scheme.to_owned()),
                host: host_pattern(host),
                port: port.filter(|p| *p != "*").map(str::to_owned),
            }
        } else if !t.contains('.') && !t.contains(':') && !t.contains('/') {
            PatternKind::Word(t.clone())
        } else if let Some((scheme, _)) = t.split_once(':')
            && !scheme.contains('.')
            && !rest_is_port(&t[scheme.len() + 1..])
        {
            PatternKind::Prefix(t.clone())
        } else {
            let (host, port) = split_host_port(&t);
            if host.is_empty() {
                return Err(bad());
            }
            PatternKind::Parts {
                scheme: None,
                host: host_pattern(host),
                port: port.filter(|p| *p != "*").map(str::to_owned),
            }
        };
        Ok(Self { text: t, kind })
    }

    /// The pattern as written (lowercased).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, source: &Source<'_>) -> bool {
        match &self.kind {
            PatternKind::Word(w) => {
                source.scheme == Some(w.as_str()) || source.host == w || source.whole == w
            }
            PatternKind::Prefix(p) => source.whole.starts_with(p.as_str()),
            PatternKind::Parts { scheme, host, port } => {
                if let Some(s) = scheme
                    && source.scheme != Some(s.as_str())
                {
                    return false;
                }
                if let Some(p) = port
                    && source.port != Some(p.as_str())
                {
                    return false;
                }
                match host {
                    HostPattern::Any => true,
                    HostPattern::Exact(h) => source.host == h,
                    HostPattern::Suffix(d) => {
                        super::site::is_same_or_subdomain(source.host, d.as_str())
                    }
                }
            }
        }
    }
}

fn host_pattern(host: &str) -> HostPattern {
    match host {
        "" | "*" => HostPattern::Any,
        h => match h.strip_prefix("*.") {
            Some(d) => HostPattern::Suffix(d.to_owned()),
            None => HostPattern::Exact(h.to_owned()),
        },
    }
}

fn rest_is_port(rest: &str) -> bool {
    let end = rest.find('/').unwrap_or(rest.len());
    let p = &rest[..end];
    !p.is_empty() && (p == "*" || p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits `host:port/path` into host and port, dropping the path and any user info.
fn split_host_port(rest: &str) -> (&str, Option<&str>) {
    let a = super::weburl::Authority::read(rest);
    (a.host, a.port)
}

/// A source value (a `blockedURL` or `sourceFile`) taken apart for matching.
struct Source<'a> {
    whole: &'a str,
    scheme: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
}

impl<'a> Source<'a> {
    fn parse(lower: &'a str) -> Self {
        if let Some((scheme, rest)) = lower.split_once("://") {
            let (host, port) = split_host_port(rest);
            return Self {
                whole: lower,
                scheme: Some(scheme),
                host,
                port,
            };
        }
        if let Some((scheme, rest)) = lower.split_once(':')
            && !rest_is_port(rest)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            // `about:blank`, `data:image/png;...`, `blob:https://...`
            return Self {
                whole: lower,
                scheme: Some(scheme),
                host: "",
                port: None,
            };
        }
        let (host, port) = split_host_port(lower);
        Self {
            whole: lower,
            scheme: None,
            host,
            port,
        }
    }
}

/// The noise filter: the default list (unless turned off) plus user patterns, tried in order
/// (about 70 patterns against one parsed source: a microsecond, beside a request's milliseconds).
#[derive(Debug, Clone, Default)]
pub struct NoiseFilter {
    patterns: Vec<SourcePattern>,
}

impl NoiseFilter {
    /// A filter with the default patterns (when `defaults`) and `extra` user patterns.
    pub fn new<S: AsRef<str>>(defaults: bool, extra: &[S]) -> Result<Self, InvalidPattern> {
        let defaults: &[&str] = if defaults { DEFAULT_PATTERNS } else { &[] };
        let mut filter = Self::default();
        for text in defaults
            .iter()
            .copied()
            .chain(extra.iter().map(AsRef::as_ref))
        {
            filter.push(SourcePattern::parse(text)?);
        }
        Ok(filter)
    }

    /// The default patterns only.
    pub fn defaults() -> Self {
        Self::new::<&str>(true, &[]).expect("the default patterns parse")
    }

    /// A filter that lets everything through.
    pub fn none() -> Self {
        Self::default()
    }

    fn push(&mut self, p: SourcePattern) {
        self.patterns.push(p);
    }

    /// The first pattern (in list order) matching `source`, if any.
    pub fn matching(&self, source: &str) -> Option<&SourcePattern> {
        if self.patterns.is_empty() || source.is_empty() {
            return None;
        }
        let lower = source.to_ascii_lowercase();
        let s = Source::parse(&lower);
        self.patterns.iter().find(|p| p.matches(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(f: &NoiseFilter, s: &str) -> Option<String> {
        f.matching(s).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn defaults_catch_extensions_and_adware() {
        let f = NoiseFilter::defaults();
        for noise in [
            "chrome-extension://aapbdbdomjkkjkaonfhkkikfgjllcleb/bubble_compiled.js",
            "moz-extension://0d2d0e7f/content.js",
            "safari-web-extension://ABC/script.js",
            "about",
            "about:blank",
            "https://cdn.superfish.com/x.js",
            "https://superfish.com/",
            "http://localhost:3000/x.js",
            "data:text/html,chromewebdata",
            "ms-browser-extension://x",
            "https://gc.kis.v2.scr.kaspersky-labs.com/x.js",
        ] {
            assert!(hit(&f, noise).is_some(), "{noise} should be noise");
        }
        for real in [
            "https://example.com/app.js",
            "inline",
            "eval",
            "data",
            "blob",
            "https://notsuperfish.com/x",
            "https://example.com/chrome-extension://",
            "http://127.0.0.1:9999/x.png",
        ] {
            assert_eq!(hit(&f, real), None, "{real} is not noise");
        }
    }

    #[test]
    fn bare_and_masked_extension_urls_are_noise() {
        let f = NoiseFilter::defaults();
        for (noise, pattern) in [
            ("chrome-extension", "chrome-extension"),
            ("Chrome-Extension", "chrome-extension"),
            ("moz-extension", "moz-extension"),
            ("webkit-masked-url://hidden/", "webkit-masked-url"),
            ("webkit-masked-url", "webkit-masked-url"),
            // Whole URLs keep matching the pattern they matched before.
            ("chrome-extension://abc/x.js", "chrome-extension://*"),
            ("moz-extension://abc/x.js", "moz-extension://*"),
        ] {
            assert_eq!(hit(&f, noise).as_deref(), Some(pattern), "{noise}");
        }
        for real in [
            "https://chrome-extension.example/x.js",
            "https://example.com/webkit-masked-url",
            "data",
            "blob",
        ] {
            assert_eq!(hit(&f, real), None, "{real} is not noise");
        }
    }

    #[test]
    fn in_app_browsers_and_translate_proxies_are_told_apart() {
        for (ua, app) in [
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.40.98;FBBV/634190493]",
                Some("Facebook"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/468.1.0.56.78;]",
                Some("Facebook"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,3; iOS 17_5; en_US)",
                Some("Instagram"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0",
                Some("LINE"),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                None,
            ),
        ] {
            assert_eq!(in_app_browser(ua), app, "{ua}");
        }
        assert!(is_translate_proxy(
            "https://example-com.translate.goog/page?_x_tr_sl=auto&_x_tr_tl=de"
        ));
        assert!(is_translate_proxy(
            "https://Shop-Example-Org.Translate.Goog/"
        ));
        assert!(!is_translate_proxy("https://example.com/translate.goog"));
        assert!(!is_translate_proxy("https://nottranslate.goog/"));
        assert!(!is_translate_proxy("inline"));
    }

    #[test]
    fn user_patterns_follow_sentry_semantics() {
        let f = NoiseFilter::new(
            false,
            &[
                "https://ads.example.com:8443",
                "*.tracker.test",
                "http://*",
                "wss",
            ],
        )
        .unwrap();
        assert!(hit(&f, "https://ads.example.com:8443/a.js").is_some());
        assert!(hit(&f, "https://ads.example.com/a.js").is_none());
        assert!(hit(&f, "https://x.y.tracker.test/p").is_some());
        assert!(hit(&f, "https://tracker.test/p").is_some());
        assert!(hit(&f, "http://anything.example/").is_some());
        assert!(hit(&f, "wss://socket.example/").is_some());
        assert!(hit(&f, "https://example.org/").is_none());
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(NoiseFilter::new(false, &["has space"]).is_err());
        assert!(NoiseFilter::new(false, &[""]).is_err());
    }
}
