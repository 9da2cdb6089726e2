//! The source expressions the builder may write, parsed from what a report names and never
//! copied from it: anyone can POST a report, so a blocked "origin" is a claim that must fit
//! CSP's grammar before it goes near a header.
//!
//! What fits:
//! - a host-source `scheme://host[:port]`: scheme `http`, `https`, `ws` or `wss`; a DNS name
//!   (an internationalized one in its punycode form) or an IPv4 address; no wildcard, no
//!   user-info, path, query or fragment;
//! - `data:`, `blob:` and `mediastream:`, only in directives whose loads cannot run code;
//! - `'self'`, `'wasm-unsafe-eval'` (script directives only) and `'sha256-…'` hashes.
//!
//! Only fetch directives are ever changed by reports (see [`FetchDirective`]): navigation,
//! document and reporting directives (`frame-ancestors`, `form-action`, `base-uri`,
//! `report-uri`, ...) are the owner's alone.

use std::fmt;

/// Longest DNS name (RFC 1035, without the root dot).
const MAX_HOST_LEN: usize = 253;
/// Longest DNS label.
const MAX_LABEL_LEN: usize = 63;

/// A fetch directive: the only kind a report may add a source to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchDirective {
    ScriptSrc,
    ScriptSrcElem,
    ScriptSrcAttr,
    StyleSrc,
    StyleSrcElem,
    StyleSrcAttr,
    ImgSrc,
    FontSrc,
    ConnectSrc,
    MediaSrc,
    FrameSrc,
    ChildSrc,
    WorkerSrc,
    ManifestSrc,
}

impl FetchDirective {
    /// Every fetch directive a report may change. `object-src` is left out on purpose: plugins
    /// run code, and the only good value for it is `'none'`. `default-src` too: a report names
    /// the directive that applied, and the builder writes that one.
    pub const ALL: [FetchDirective; 14] = [
        Self::ScriptSrc,
        Self::ScriptSrcElem,
        Self::ScriptSrcAttr,
        Self::StyleSrc,
        Self::StyleSrcElem,
        Self::StyleSrcAttr,
        Self::ImgSrc,
        Self::FontSrc,
        Self::ConnectSrc,
        Self::MediaSrc,
        Self::FrameSrc,
        Self::ChildSrc,
        Self::WorkerSrc,
        Self::ManifestSrc,
    ];

    /// The directive's name, as policies spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScriptSrc => "script-src",
            Self::ScriptSrcElem => "script-src-elem",
            Self::ScriptSrcAttr => "script-src-attr",
            Self::StyleSrc => "style-src",
            Self::StyleSrcElem => "style-src-elem",
            Self::StyleSrcAttr => "style-src-attr",
            Self::ImgSrc => "img-src",
            Self::FontSrc => "font-src",
            Self::ConnectSrc => "connect-src",
            Self::MediaSrc => "media-src",
            Self::FrameSrc => "frame-src",
            Self::ChildSrc => "child-src",
            Self::WorkerSrc => "worker-src",
            Self::ManifestSrc => "manifest-src",
        }
    }

    /// The fetch directive named `name` (case-insensitive), if it is one reports may change.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// Whether this directive governs scripts.
    pub fn is_script(self) -> bool {
        matches!(
            self,
            Self::ScriptSrc | Self::ScriptSrcElem | Self::ScriptSrcAttr
        )
    }
}

/// A scheme-source the builder may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafeScheme {
    Data,
    Blob,
    MediaStream,
}

impl SafeScheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data:",
            Self::Blob => "blob:",
            Self::MediaStream => "mediastream:",
        }
    }

    /// Where the scheme cannot run code: images, fonts and media; `blob:` and `mediastream:`
    /// not in fonts (no browser loads fonts from them for a page).
    fn fits(self, d: FetchDirective) -> bool {
        match self {
            Self::Data => matches!(
                d,
                FetchDirective::ImgSrc | FetchDirective::FontSrc | FetchDirective::MediaSrc
            ),
            Self::Blob => matches!(d, FetchDirective::ImgSrc | FetchDirective::MediaSrc),
            Self::MediaStream => d == FetchDirective::MediaSrc,
        }
    }
}

/// An ASCII host-source: scheme, host and port as the URL parser serializes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSource {
    scheme: &'static str,
    host: String,
    /// A port other than the scheme's default.
    port: Option<u16>,
}

/// A source expression the builder writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    SelfOrigin,
    WasmUnsafeEval,
    /// `'sha256-…'` of some inline code.
    Hash(String),
    Scheme(SafeScheme),
    Host(HostSource),
}

/// Why a reported value is no source to add.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error(
        "it holds a character outside printable ASCII (white space, a control, non-ASCII text)"
    )]
    NotPrintable,
    #[error("it is not an absolute URL")]
    NotAUrl,
    #[error("the scheme {0} is not one a report may add (http, https, ws, wss)")]
    Scheme(String),
    #[error(
        "its host is not a DNS name or an IPv4 address (wildcards and other characters are refused)"
    )]
    Host,
    #[error("it carries user-info, a path, a query or a fragment: an origin has none")]
    NotAnOrigin,
    #[error("{scheme} in {directive} would let the page run code it did not ship")]
    SchemeRunsCode {
        scheme: &'static str,
        directive: &'static str,
    },
    #[error("the scheme {0} is never added")]
    UnsafeScheme(String),
}

impl HostSource {
    /// Parses a reported origin (`https://cdn.example:8443`).
    pub fn parse(origin: &str) -> Result<Self, Refused> {
        // The URL parser silently drops TAB and newlines and maps other text; a report's origin
        // with any of them is refused before it is read. Non-ASCII hosts are allowed here: they
        // come out in their punycode form.
        if origin.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Refused::NotPrintable);
        }
        let url = url::Url::parse(origin).map_err(|_| Refused::NotAUrl)?;
        let scheme = match url.scheme() {
            "https" => "https",
            "http" => "http",
            "wss" => "wss",
            "ws" => "ws",
            other => return Err(Refused::Scheme(format!("{other}:"))),
        };
        if !url.username().is_empty()
            || url.password().is_some()
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(Refused::NotAnOrigin);
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if is_dns_name(d) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            _ => return Err(Refused::Host),
        };
        Ok(Self {
            scheme,
            host,
            port: url.port(),
        })
    }

    /// The host, in ASCII.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// A DNS name in ASCII: labels of letters, digits and inner hyphens (punycode's `xn--` too).
fn is_dns_name(host: &str) -> bool {
    host.len() <= MAX_HOST_LEN
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl Source {
    /// The source that allows loading `blocked` (a reported origin or scheme) in `directive`
    /// on a page of `document_origin`.
    pub fn for_blocked(
        blocked: &str,
        directive: FetchDirective,
        document_origin: &HostSource,
    ) -> Result<Self, Refused> {
        if let Some(scheme) = blocked.strip_suffix(':').filter(|s| !s.contains('/')) {
            let safe = match scheme.to_ascii_lowercase().as_str() {
                "data" => SafeScheme::Data,
                "blob" => SafeScheme::Blob,
                "mediastream" => SafeScheme::MediaStream,
                other => return Err(Refused::UnsafeScheme(format!("{other}:"))),
            };
            return if safe.fits(directive) {
                Ok(Self::Scheme(safe))
            } else {
                Err(Refused::SchemeRunsCode {
                    scheme: safe.as_str(),
                    directive: directive.name(),
                })
            };
        }
        let host = HostSource::parse(blocked)?;
        if &host == document_origin {
            return Ok(Self::SelfOrigin);
        }
        Ok(Self::Host(host))
    }
}

impl fmt::Display for HostSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SelfOrigin => f.write_str("'self'"),
            Self::WasmUnsafeEval => f.write_str("'wasm-unsafe-eval'"),
            Self::Hash(h) => f.write_str(h),
            Self::Scheme(s) => f.write_str(s.as_str()),
            Self::Host(h) => h.fmt(f),
        }
    }
}

/// Whether `token` can stand in a policy as one source expression: visible ASCII, and none of
/// the `;` and `,` that end a directive or a policy.
pub fn is_source_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b';' && b != b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> HostSource {
        HostSource::parse("https://example.com").unwrap()
    }

    fn src(blocked: &str, d: FetchDirective) -> Result<String, Refused> {
        Source::for_blocked(blocked, d, &page()).map(|s| s.to_string())
    }

    #[test]
    fn hosts_are_parsed_into_their_ascii_origin() {
        use FetchDirective::*;
        assert_eq!(
            src("https://CDN.Example.net", ScriptSrcElem).unwrap(),
            "https://cdn.example.net"
        );
        assert_eq!(
            src("https://cdn.example:8443", ImgSrc).unwrap(),
            "https://cdn.example:8443"
        );
        assert_eq!(
            src("https://cdn.example:443", ImgSrc).unwrap(),
            "https://cdn.example"
        );
        assert_eq!(
            src("https://例え.example", ImgSrc).unwrap(),
            "https://xn--r8jz45g.example"
        );
        assert_eq!(
            src("wss://live.example", ConnectSrc).unwrap(),
            "wss://live.example"
        );
        assert_eq!(
            src("https://192.0.2.1", ImgSrc).unwrap(),
            "https://192.0.2.1"
        );
        assert_eq!(src("https://example.com", ImgSrc).unwrap(), "'self'");
    }

    #[test]
    fn what_a_forger_puts_in_a_host_is_refused() {
        use FetchDirective::*;
        for hostile in [
            "https://*",
            "https://*.example",
            "http://*:*",
            "https://cdn.example\t'unsafe-inline'",
            "https://cdn.example\u{c}'unsafe-eval'",
            "https://cdn.example;script-src-elem",
            "https://cdn3.example,script-src",
            "https://cdn\u{1b}[2J.example",
            "https://a.example'unsafe-inline'",
            "https://${APACHE_RUN_USER}.example",
            "https://{$HOME}.example",
            "https://user@cdn.example",
            "https://cdn.example/path",
            "https://[::1]",
            "javascript://x.example",
            "https://-bad.example",
            "cdn.example",
        ] {
            assert!(
                src(hostile, ScriptSrcElem).is_err(),
                "{hostile:?} was accepted"
            );
        }
    }

    #[test]
    fn schemes_only_where_they_cannot_run_code() {
        use FetchDirective::*;
        assert_eq!(src("data:", ImgSrc).unwrap(), "data:");
        assert_eq!(src("blob:", MediaSrc).unwrap(), "blob:");
        for d in [
            ScriptSrc,
            ScriptSrcElem,
            WorkerSrc,
            FrameSrc,
            ChildSrc,
            StyleSrcElem,
        ] {
            assert!(
                matches!(src("data:", d), Err(Refused::SchemeRunsCode { .. })),
                "{d:?}"
            );
            assert!(src("blob:", d).is_err(), "{d:?}");
        }
        assert!(src("filesystem:", ImgSrc).is_err());
        assert!(src("https:", ImgSrc).is_err());
        assert!(src("javascript:", ImgSrc).is_err());
    }

    #[test]
    fn only_fetch_directives_are_named() {
        for name in [
            "frame-ancestors",
            "form-action",
            "base-uri",
            "report-uri",
            "default-src",
            "object-src",
            "sandbox",
        ] {
            assert_eq!(FetchDirective::parse(name), None, "{name}");
        }
        assert_eq!(
            FetchDirective::parse("Script-Src-Elem"),
            Some(FetchDirective::ScriptSrcElem)
        );
    }

    #[test]
    fn source_tokens_are_visible_ascii_without_separators() {
        assert!(is_source_token("'self'"));
        for bad in ["", "a b", "a;b", "a,b", "a\tb", "é"] {
            assert!(!is_source_token(bad), "{bad:?}");
        }
    }
}
