//! The one reader of `scheme://host:port/path` URLs and of authorities (borrowed slices):
//! what grouping, site derivation, filters and the HTTP layer need, without a full WHATWG
//! parse.
//!
//! Only hierarchical URLs with an authority are read; anything else (`about:blank`,
//! `data:...`, `inline`) gives `None`. Hosts are returned as sent: compare them
//! case-insensitively, or validate them with [`super::site::parse_site`].

/// The parts of a URL that Lookout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WebUrl<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// The path without query or fragment; `/` when empty.
    pub path: &'a str,
}

impl<'a> WebUrl<'a> {
    /// Reads `s`, or `None` when it has no `scheme://authority`.
    pub fn parse(s: &'a str) -> Option<Self> {
        // The scheme ends at the first `:` (it has none in it), which must start `://`.
        let colon = s.bytes().position(|b| b == b':')?;
        let (scheme, rest) = (&s[..colon], s[colon..].strip_prefix("://")?);
        let valid_scheme = scheme
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return None;
        }
        let a = Authority::read(rest);
        let (host, port, end) = (a.host, a.port, a.end);
        if host.is_empty() {
            return None;
        }
        let tail = &rest[end..];
        let path_end = query_start(tail);
        let path = if path_end == 0 {
            "/"
        } else {
            &tail[..path_end]
        };
        Some(Self {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The port unless it is the scheme's default.
    fn explicit_port(&self) -> Option<&'a str> {
        let scheme = |names: [&str; 2]| names.iter().any(|n| self.scheme.eq_ignore_ascii_case(n));
        match self.port {
            Some("80") if scheme(["http", "ws"]) => None,
            Some("443") if scheme(["https", "wss"]) => None,
            p => p,
        }
    }

    /// Appends `scheme://host[:port]` (scheme and host lowercased) to `out`.
    pub fn push_origin(&self, out: &mut String) {
        push_lower(out, self.scheme);
        out.push_str("://");
        push_lower(out, self.host);
        if let Some(p) = self.explicit_port() {
            out.push(':');
            out.push_str(p);
        }
    }
}

/// The authority at the start of a URL's remainder (after `scheme://`), or of a bare
/// `host[:port][/path]` (a filter's source, a `Host` header): it ends at the first `/`, `?` or
/// `#`, starts after its last `@` (user info), and its port follows its last `:` unless a `]`
/// does (the colons of `[::1]`). The one reading of authorities in Lookout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authority<'a> {
    /// The host, as sent (`[::1]` keeps its brackets); may be empty.
    pub host: &'a str,
    /// The port, when one is written (`host:` has none).
    pub port: Option<&'a str>,
    /// Where the authority ends in the text read.
    pub end: usize,
}

impl<'a> Authority<'a> {
    /// Reads the authority at the start of `rest`.
    pub(crate) fn read(rest: &'a str) -> Self {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let start = rest[..end].rfind('@').map_or(0, |at| at + 1);
        let authority = &rest[start..end];
        let port_colon = authority
            .rfind(':')
            .filter(|&i| !authority.as_bytes()[i + 1..].contains(&b']'));
        let (host, port) = match port_colon {
            Some(i) => (
                &authority[..i],
                Some(&authority[i + 1..]).filter(|p| !p.is_empty()),
            ),
            None => (authority, None),
        };
        Self { host, port, end }
    }
}

/// Where the query or fragment of URL `s` starts (its first `?` or `#`), else its length.
pub(crate) fn query_start(s: &str) -> usize {
    s.find(['?', '#']).unwrap_or(s.len())
}

/// Appends `s` lowercased (ASCII): copied, then lowered in place.
fn push_lower(out: &mut String, s: &str) {
    let start = out.len();
    out.push_str(s);
    out[start..].make_ascii_lowercase();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bare_authorities_as_filters_and_host_headers_give_them() {
        let a = |s| {
            let a = Authority::read(s);
            (a.host, a.port)
        };
        assert_eq!(a("example.com"), ("example.com", None));
        assert_eq!(a("example.com:8080/x"), ("example.com", Some("8080")));
        assert_eq!(a("u:p@h:1?q"), ("h", Some("1")));
        assert_eq!(a("[::1]:8443"), ("[::1]", Some("8443")));
        assert_eq!(a("[::1]"), ("[::1]", None));
        assert_eq!(a("h:"), ("h", None));
        assert_eq!(a(""), ("", None));
    }

    #[test]
    fn reads_the_parts() {
        let u = WebUrl::parse("HTTPS://user@WWW.Example.com:443/a/b?q=1#f").unwrap();
        assert_eq!(u.host, "WWW.Example.com");
        assert_eq!(u.path, "/a/b");
        let mut o = String::new();
        u.push_origin(&mut o);
        assert_eq!(o, "https://www.example.com");
        let u = WebUrl::parse("http://127.0.0.1:9999").unwrap();
        assert_eq!((u.host, u.port, u.path), ("127.0.0.1", Some("9999"), "/"));
        let mut o = String::new();
        u.push_origin(&mut o);
        assert_eq!(o, "http://127.0.0.1:9999");
        let u = WebUrl::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((u.host, u.port), ("[::1]", Some("8080")));
        // A bracketed literal's colons are not a port's.
        for bare in ["http://[::1]/x", "http://u:p@[::1]?q"] {
            let u = WebUrl::parse(bare).unwrap();
            assert_eq!((u.host, u.port), ("[::1]", None), "{bare}");
        }
        for none in [
            "about:blank",
            "inline",
            "data:text/html,x",
            "",
            "://x",
            "1a://x",
            "https:///p",
            "a:b://x",
        ] {
            assert_eq!(WebUrl::parse(none), None, "{none}");
        }
    }
}
