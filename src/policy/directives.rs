//! A CSP as a list of directives to read and edit: the shape a policy builder needs (the
//! evaluation of a policy is `content-security-policy`'s job, see `report::classify`).

use std::fmt;

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

impl Directive {
    /// Whether the source list already holds `source` (case-insensitive, as CSP compares
    /// keywords, schemes and hosts).
    pub fn has(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s.eq_ignore_ascii_case(source))
    }

    /// Adds `source` unless present; a `'none'` goes, as it means nothing beside a source.
    pub fn add(&mut self, source: &str) -> bool {
        if self.has(source) {
            return false;
        }
        self.sources.retain(|s| !s.eq_ignore_ascii_case("'none'"));
        self.sources.push(source.to_owned());
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
        assert!(none.get_mut("img-src").unwrap().add("data:"));
        assert!(!none.get_mut("img-src").unwrap().add("DATA:"));
        assert_eq!(none.to_string(), "img-src data:");
    }
}
