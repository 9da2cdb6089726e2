//! The names the dashboard answers for (`lookout ui`): its own address, `localhost`,
//! `127.0.0.1` and `[::1]` on its port, and the names given with `--allowed-host`. A request
//! naming any other host is refused, so that a page on another site that points a name of its
//! own at this machine (DNS rebinding) cannot read the dashboard.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::report::weburl::Authority;

/// A name the dashboard answers for: `NAME` on any port, or `NAME:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// The name, lowercased; an IPv6 address in brackets (`[::1]`).
    pub host: String,
    /// Its port; `None`: any port.
    pub port: Option<u16>,
}

impl AllowedHost {
    /// Reads `--allowed-host`: a host name, an IPv4 address or a bracketed IPv6 address, with
    /// an optional port.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not NAME or NAME:PORT (an IPv6 address in brackets)");
        let a = Authority::read(s);
        if a.end != s.len() || s.contains('@') || a.host.is_empty() {
            return Err(bad());
        }
        let bracketed_ip = a
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok());
        let name = a
            .host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !(bracketed_ip || name) {
            return Err(bad());
        }
        let port = match a.port {
            None => None,
            Some(p) => Some(port_number(p).ok_or_else(bad)?),
        };
        Ok(Self {
            host: a.host.to_ascii_lowercase(),
            port,
        })
    }
}

/// A port as written in an authority: decimal digits only, within `u16`.
fn port_number(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// The names one dashboard answers for.
#[derive(Debug, Clone)]
pub struct Hosts(Vec<AllowedHost>);

impl Hosts {
    /// The address the dashboard listens on (`bound`), `localhost`, `127.0.0.1` and `[::1]`, all
    /// on its port, and `extra`.
    pub fn new(bound: SocketAddr, extra: &[AllowedHost]) -> Self {
        let port = Some(bound.port());
        let own = match bound.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let mut names: Vec<AllowedHost> = [own.as_str(), "localhost", "127.0.0.1", "[::1]"]
            .into_iter()
            .map(|host| AllowedHost {
                host: host.to_owned(),
                port,
            })
            .collect();
        names.extend(extra.iter().cloned());
        Self(names)
    }

    /// Whether `authority` (a `Host` header's value, or HTTP/2's `:authority`: `host[:port]`,
    /// nothing else) names the dashboard; without a port, it names `default_port`.
    pub fn admits(&self, authority: &str, default_port: u16) -> bool {
        let a = Authority::read(authority);
        if a.end != authority.len() || authority.contains('@') || a.host.is_empty() {
            return false;
        }
        let port = match a.port {
            None => default_port,
            Some(p) => match port_number(p) {
                Some(p) => p,
                None => return false,
            },
        };
        self.0
            .iter()
            .any(|n| n.host.eq_ignore_ascii_case(a.host) && n.port.is_none_or(|p| p == port))
    }

    /// Whether an `Origin` header's value (`http://localhost:8081`) is the dashboard's own.
    pub fn admits_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let default_port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            return false;
        };
        self.admits(authority, default_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(extra: &[&str]) -> Hosts {
        let extra: Vec<AllowedHost> = extra
            .iter()
            .map(|s| AllowedHost::parse(s).unwrap())
            .collect();
        Hosts::new("127.0.0.1:8081".parse().unwrap(), &extra)
    }

    #[test]
    fn the_dashboard_answers_for_its_own_names_on_its_port() {
        let h = hosts(&[]);
        for ok in [
            "127.0.0.1:8081",
            "localhost:8081",
            "LocalHost:8081",
            "[::1]:8081",
        ] {
            assert!(h.admits(ok, 80), "{ok}");
        }
        for no in [
            "attacker.example:8081",
            "localhost:8082",
            "localhost",
            "127.0.0.1",
            "localhost:8081/x",
            "localhost:8081?x",
            "evil@localhost:8081",
            "localhost:+8081",
            "localhost:8081 ",
            "",
            ":8081",
            "::1:8081",
            "localhost.:8081",
        ] {
            assert!(!h.admits(no, 80), "{no}");
        }
        assert!(h.admits_origin("http://localhost:8081"));
        assert!(h.admits_origin("http://[::1]:8081"));
        for no in [
            "null",
            "http://attacker.example:8081",
            "http://localhost:8082",
            "http://localhost",
            "http://localhost:8081/",
            "ftp://localhost:8081",
            "localhost:8081",
        ] {
            assert!(!h.admits_origin(no), "{no}");
        }
        let on_80 = Hosts::new("[::1]:80".parse().unwrap(), &[]);
        assert!(on_80.admits("localhost", 80) && on_80.admits("[::1]", 80));
        assert!(
            on_80.admits_origin("http://localhost") && !on_80.admits_origin("https://localhost")
        );
    }

    #[test]
    fn allowed_hosts_add_names_on_any_port_or_on_theirs() {
        let h = hosts(&[
            "Dash.Example",
            "other.example:8443",
            "[::2]:9000",
            "10.0.0.5",
        ]);
        for ok in [
            "dash.example:8081",
            "dash.example",
            "DASH.example:1234",
            "other.example:8443",
            "[::2]:9000",
            "10.0.0.5:8081",
        ] {
            assert!(h.admits(ok, 80), "{ok}");
        }
        for no in [
            "other.example:8081",
            "other.example",
            "[::2]:8081",
            "sub.dash.example",
        ] {
            assert!(!h.admits(no, 80), "{no}");
        }
        assert!(h.admits_origin("https://dash.example"));
        assert!(h.admits_origin("https://other.example:8443"));
        assert!(!h.admits_origin("https://other.example"));
        for bad in [
            "", "a b", "a/b", "u@h", "h:x", "h:70000", "::1", "[nope]", "h:8081:1", "h:+1",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AllowedHost::parse("Dash.Example:8443"),
            Ok(AllowedHost {
                host: "dash.example".to_owned(),
                port: Some(8443)
            })
        );
    }
}
