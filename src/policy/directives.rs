//! A CSP as a list of directives to read and edit: the shape a policy builder needs (the
//! evaluation of a policy is `content-security-policy`'s job, see `report::classify`).

use std::fmt;

use super::source::{Source, is_source_token};

/// One directive: its name (lower case) and its source expressions, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub sources: Vec<String>,
}

/// A policy: directives in their order, each name once (as browsers read it, the first wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub directives: Vec<Directive>,
}

/// Directives that say where reports go rather than what loads.
pub const REPORTING: [&str; 2] = ["report-uri", "report-to"];

impl Policy {
    /// Parses a serialized policy (one policy: `a b; c d`).
    pub fn parse(text: &str) -> Self {
        let mut directives: Vec<Directive> = Vec::new();
        for part in text.split(';') {
            let mut tokens = part.split_ascii_whitespace();
            let Some(name) = tokens.next() else { continue };
            let name = name.to_ascii_lowercase();
            if directives.iter().any(|d| d.name == name) {
                continue;
            }
            directives.push(Directive {
                name,
                sources: tokens.map(str::to_owned).collect(),
            });
        }
        Self { directives }
    }

    /// The directive named `name`.
    pub fn get(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name == name)
    }

    /// The directive named `name`, to edit.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Directive> {
        self.directives.iter_mut().find(|d| d.name == name)
    }

    /// The policy without its reporting directives.
    pub fn without_reporting(&self) -> Self {
        Self {
            directives: self
                .directives
                .iter()
                .filter(|d| !REPORTING.contains(&d.name.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// The first `report-uri` URL, if any.
    pub fn report_uri(&self) -> Option<&str> {
        self.get("report-uri")
            .and_then(|d| d.sources.first())
            .map(String::as_str)
    }
}

impl Policy {
    /// Parses this policy's text back as browsers do (`content-security-policy`, Servo's
    /// parser) and checks that it holds exactly these directives and sources, in order: one
    /// policy (no `,`), each token where it was meant. Returns what differs.
    pub fn check_parses_back(&self) -> Result<(), String> {
        use content_security_policy::{CspList, PolicyDisposition, PolicySource};
        let text = self.to_string();
        if let Some(c) = text.chars().find(|c| !(' '..='~').contains(c)) {
            return Err(format!("it holds {c:?}, outside printable ASCII"));
        }
        let parsed = CspList::parse(&text, PolicySource::Header, PolicyDisposition::Report);
        let [policy] = parsed.0.as_slice() else {
            return Err(format!("it reads as {} policies", parsed.0.len()));
        };
        let read: Vec<(&str, Vec<&str>)> = policy
            .directive_set
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.value.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let meant: Vec<(&str, Vec<&str>)> = self
            .directives
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.sources.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        if read == meant {
            Ok(())
        } else {
            Err(format!("read {read:?}, built {meant:?}"))
        }
    }
}

impl Directive {
    /// Whether the source list already holds `source` (case-insensitive, as CSP compares
    /// keywords, schemes and hosts).
    pub fn has(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s.eq_ignore_ascii_case(source))
    }

    /// Adds `source` unless present; a `'none'` goes, as it means nothing beside a source.
    pub fn add(&mut self, source: &Source) -> bool {
        let token = source.to_string();
        // Every `Source` prints as one token; checked again here, where text becomes policy.
        debug_assert!(is_source_token(&token), "{token:?}");
        if !is_source_token(&token) || self.has(&token) {
            return false;
        }
        self.sources.retain(|s| !s.eq_ignore_ascii_case("'none'"));
        self.sources.push(token);
        true
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for s in &self.sources {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_a_policy_as_browsers_read_it() {
        let p = Policy::parse(
            " Default-Src 'self';script-src 'self'  https://a.example ;; script-src evil; report-uri /r",
        );
        assert_eq!(
            p.to_string(),
            "default-src 'self'; script-src 'self' https://a.example; report-uri /r"
        );
        assert_eq!(p.report_uri(), Some("/r"));
        assert_eq!(
            p.without_reporting().to_string(),
            "default-src 'self'; script-src 'self' https://a.example"
        );
        let mut none = Policy::parse("img-src 'none'");
        let data = Source::for_blocked(
            "data:",
            super::super::source::FetchDirective::ImgSrc,
            &super::super::source::HostSource::parse("https://a.example").unwrap(),
        )
        .unwrap();
        assert!(none.get_mut("img-src").unwrap().add(&data));
        assert!(!none.get_mut("img-src").unwrap().add(&data));
        assert_eq!(none.to_string(), "img-src data:");
        assert_eq!(none.check_parses_back(), Ok(()));
    }

    #[test]
    fn a_policy_that_browsers_would_read_otherwise_does_not_parse_back() {
        assert!(
            Policy::parse("script-src 'self', img-src *")
                .check_parses_back()
                .is_err()
        );
        let mut tabbed = Policy::parse("script-src 'self'");
        tabbed.directives[0]
            .sources
            .push("https://a.example\t'unsafe-inline'".into());
        assert!(tabbed.check_parses_back().is_err());
        let mut dup = Policy::parse("script-src 'self'");
        dup.directives.push(Directive {
            name: "script-src".into(),
            sources: vec!["https://x.example".into()],
        });
        assert!(
            dup.check_parses_back().is_err(),
            "a second script-src is ignored by browsers"
        );
    }
}
