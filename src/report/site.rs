//! Sites: the host names reports are filed under.

use thiserror::Error;

/// A site name that is not a host name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a host name (letters, digits, '-' and '.', at most 253 characters)")]
pub struct InvalidSite;

/// Validates and normalizes a site name: an ASCII host name (`example.com`, `localhost`,
/// `127.0.0.1`), lowercased, without a trailing dot. IDNs must be given in punycode.
pub fn parse_site(s: &str) -> Result<String, InvalidSite> {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return Err(InvalidSite);
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(InvalidSite);
        }
    }
    Ok(s.to_ascii_lowercase())
}

/// The host name of a URL, lowercased, if it has one that is a valid site.
pub fn host_of(url: &str) -> Option<String> {
    parse_site(super::weburl::WebUrl::parse(url)?.host).ok()
}

/// Whether `host` is `site` itself or one of its subdomains.
pub fn is_same_or_subdomain(host: &str, site: &str) -> bool {
    host == site
        || (host.len() > site.len()
            && host.ends_with(site)
            && host.as_bytes()[host.len() - site.len() - 1] == b'.')
}

/// A list of allowed sites; empty allows every site. A listed site allows its subdomains.
#[derive(Debug, Clone, Default)]
pub struct SiteList(Vec<String>);

impl SiteList {
    /// Builds a list from site names, validating each.
    pub fn new<I, S>(sites: I) -> Result<Self, InvalidSite>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        sites
            .into_iter()
            .map(|s| parse_site(s.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `site` may be collected for.
    pub fn allows(&self, site: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|s| is_same_or_subdomain(site, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_names_and_refuses_the_rest() {
        assert_eq!(parse_site("Example.COM."), Ok("example.com".to_owned()));
        assert!(parse_site("localhost").is_ok());
        assert!(parse_site("127.0.0.1").is_ok());
        for bad in [
            "",
            "../etc",
            "a b",
            "exa_mple.com",
            "-a.com",
            "a..b",
            "ünïcode.com",
            &"a".repeat(300),
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert_eq!(parse_site(bad), Err(InvalidSite), "{bad:?}");
        }
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            host_of("https://WWW.Example.com:8443/a?b"),
            Some("www.example.com".into())
        );
        assert_eq!(host_of("http://127.0.0.1:9999/"), Some("127.0.0.1".into()));
        assert_eq!(host_of("about:blank"), None);
        assert_eq!(host_of("inline"), None);
        assert_eq!(host_of("http://[::1]/"), None);
    }

    #[test]
    fn subdomains() {
        assert!(is_same_or_subdomain("a.example.com", "example.com"));
        assert!(is_same_or_subdomain("example.com", "example.com"));
        assert!(!is_same_or_subdomain("badexample.com", "example.com"));
        assert!(!is_same_or_subdomain("example.com.evil", "example.com"));
        let list = SiteList::new(["example.com"]).unwrap();
        assert!(list.allows("www.example.com"));
        assert!(!list.allows("example.org"));
        assert!(SiteList::default().allows("anything.test"));
    }
}
