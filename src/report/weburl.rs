//! A light, allocation-free reading of `scheme://host:port/path` URLs: what grouping, site
//! derivation and filters need, many times per report, without a full WHATWG parse.
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
        let a = Authority::scan(rest);
        let authority = &rest[a.start..a.end];
        // The port's `:` is the last one, unless a `]` follows it (inside `[::1]`).
        let port_colon = a
            .last_colon
            .filter(|&i| !authority.as_bytes()[i + 1..].contains(&b']'));
        let (host, port) = match port_colon {
            Some(i) => (
                &authority[..i],
                Some(&authority[i + 1..]).filter(|p| !p.is_empty()),
            ),
            None => (authority, None),
        };
        let end = a.end;
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

/// Where the authority at the start of a URL's remainder (after `scheme://`) lies, found in
/// one pass: it ends at the first `/`, `?` or `#` and starts after its last `@` (user info).
/// Its last `:` is noted; whether that begins a port (IPv6 literals have colons too) is each
/// reader's rule. Authorities are short: a byte loop beats several searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Authority {
    /// Where the authority starts in the scanned text.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
    /// The authority's last `:`, relative to `start`.
    pub last_colon: Option<usize>,
}

impl Authority {
    pub(crate) fn scan(rest: &str) -> Self {
        let (mut start, mut colon) = (0, None);
        let mut end = rest.len();
        for (i, &b) in rest.as_bytes().iter().enumerate() {
            match b {
                b'/' | b'?' | b'#' => {
                    end = i;
                    break;
                }
                b'@' => (start, colon) = (i + 1, None),
                b':' => colon = Some(i),
                _ => {}
            }
        }
        Self {
            start,
            end,
            last_colon: colon.map(|c| c - start),
        }
    }
}

/// Where the query or fragment of URL `s` starts (its first `?` or `#`), else its length
/// (`memchr`: the whole URL may be scanned, several times per report).
pub(crate) fn query_start(s: &str) -> usize {
    memchr::memchr2(b'?', b'#', s.as_bytes()).unwrap_or(s.len())
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

    /// The reading the one-pass scan replaced, searches over the authority: the model the
    /// scan must agree with.
    fn authority_by_searches(rest: &str) -> (usize, usize, Option<usize>) {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let start = rest[..end].rfind('@').map_or(0, |at| at + 1);
        let authority = &rest[start..end];
        (start, end, authority.rfind(':'))
    }

    proptest::proptest! {
        #[test]
        fn one_pass_authority_agrees_with_searches(rest in "[a:/@?#\\[\\]1.]{0,24}") {
            let a = Authority::scan(&rest);
            proptest::prop_assert_eq!((a.start, a.end, a.last_colon), authority_by_searches(&rest));
        }
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
