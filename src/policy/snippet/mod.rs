//! The response headers that make browsers report to Lookout, and the same headers written for
//! each web server's configuration language, quoted so that the server sends them byte for byte.

use std::fmt::Write as _;

use super::directives::{Directive, Policy};

/// The Reporting API endpoint name used in every header.
pub const GROUP: &str = "lookout";

/// The endpoint name Chrome (139 and later) sends crash reports to when a page names it,
/// instead of `default`.
pub const CRASH_GROUP: &str = "crash-reporting";

/// The Document-Policy that asks Chrome for the JavaScript stack of an unresponsive page in
/// its crash report.
pub const CRASH_STACKS_POLICY: &str = "include-js-call-stacks-in-crash-reports";

/// The CSP keyword for which Chromium (133 and later) sends a `csp-hash` report, with the
/// SHA-256 of its bytes, for each script a page loads.
pub const REPORT_SHA256: &str = "'report-sha256'";

/// The header for which browsers (Chrome 138, Firefox 149, Safari 26 and later) report each
/// script loaded without an `integrity` attribute as an `integrity-violation`. Always
/// report-only: enforcing it would block every such script.
pub const INTEGRITY_POLICY: &str = "Integrity-Policy-Report-Only";

/// Where a snippet is pasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Server {
    /// `Name: value` lines, as the browser receives them.
    #[value(alias = "header")]
    Raw,
    /// `add_header` lines for a `server` or `location` block.
    Nginx,
    /// `Header always set` lines (mod_headers).
    Apache,
    /// `header` lines for a site block of a Caddyfile.
    Caddy,
    /// An Express middleware.
    Express,
    /// A Django middleware (a module of its own, named in `MIDDLEWARE`).
    Django,
}

impl Server {
    /// Every server, in the order the all-in-one output lists them.
    pub const ALL: [Server; 6] = [
        Server::Raw,
        Server::Nginx,
        Server::Apache,
        Server::Caddy,
        Server::Express,
        Server::Django,
    ];

    /// The heading of this server's section.
    pub fn title(self) -> &'static str {
        match self {
            Server::Raw => "Raw headers",
            Server::Nginx => "nginx (server or location block)",
            Server::Apache => "Apache (mod_headers, server or directory context)",
            Server::Caddy => "Caddy (inside the site block)",
            Server::Express => "Express (before the routes)",
            Server::Django => {
                "Django (save as lookout_headers.py, add \"lookout_headers.LookoutHeaders\" to MIDDLEWARE)"
            }
        }
    }
}

/// The largest header value a snippet carries: 4 KiB, what nginx's default proxy buffer and
/// most CDNs take for one header without a 502 (CloudFront refuses 20 KB of them in all).
pub const MAX_HEADER_BYTES: usize = 4096;

/// Where reports are sent: an absolute `https` URL the owner gave (`http` only to an IP address
/// or `localhost`, as a local collector is), in
/// ASCII, with nothing a header, a JSON string or a structured-field string would read as
/// syntax (`"`, `\`, `,`, `;`, white space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

/// An endpoint that cannot be written into the headers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the report URL must be an absolute https URL (http only to an IP address or localhost) in printable ASCII without quotes, backslashes, commas, semicolons or spaces: {0}"
)]
pub struct InvalidEndpoint(String);

impl Endpoint {
    /// Parses an endpoint the owner gave.
    pub fn parse(text: &str) -> Result<Self, InvalidEndpoint> {
        let refuse = || InvalidEndpoint(text.escape_default().to_string());
        if text.is_empty()
            || text
                .bytes()
                .any(|b| !(0x21..=0x7e).contains(&b) || matches!(b, b'"' | b'\\' | b',' | b';'))
        {
            return Err(refuse());
        }
        let url = url::Url::parse(text).map_err(|_| refuse())?;
        let local = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => true,
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            _ => return Err(refuse()),
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(refuse());
        }
        Ok(Self(text.to_owned()))
    }

    /// The report URL for a collector's base URL and optional site (`{base}/r/{site}`).
    pub fn for_site(base: &str, site: Option<&str>) -> Result<Self, InvalidEndpoint> {
        Self::parse(&report_url(base.trim(), site))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A header that cannot be written, or that a server cannot be told to send as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnippetError {
    /// Script hashes asked for with a policy that does not restrict scripts: there is no
    /// directive to add [`REPORT_SHA256`] to, and a `script-src` of Lookout's would restrict them.
    #[error(
        "--script-hashes needs a script-src or default-src in the policy: without either, the policy does not restrict scripts, and adding a script-src would"
    )]
    NoScriptDirective,
    /// A character no header value may hold (CR, LF, other controls).
    #[error("{header} holds a control character, which no header value may hold")]
    ControlCharacter { header: String },
    /// A character outside printable ASCII: Node refuses it, Django MIME-encodes it away.
    #[error(
        "{header} holds a character outside printable ASCII, which not every server sends as it is"
    )]
    NotAscii { header: String },
    /// Larger than [`MAX_HEADER_BYTES`].
    #[error(
        "{header} is {bytes} bytes, over the {MAX_HEADER_BYTES} a proxy or CDN passes: shorten the policy"
    )]
    TooLarge { header: String, bytes: usize },
    /// A character this server's configuration would interpret instead of sending.
    #[error("{server:?} cannot send {header} as it is: it holds {found}")]
    Unquotable {
        server: Server,
        header: String,
        found: &'static str,
    },
}

/// One response header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: &'static str,
    pub value: String,
}

/// What to send: the report URL, the CSP to report on, whether it is enforced, whether crash
/// reports are asked for with their JavaScript stacks, and whether the scripts pages load are
/// reported.
#[derive(Debug, Clone)]
pub struct HeaderSet {
    pub report_url: Endpoint,
    pub policy: String,
    pub enforce: bool,
    /// Adds `Document-Policy: include-js-call-stacks-in-crash-reports` and a
    /// `crash-reporting` endpoint (the report URL) to `Reporting-Endpoints`.
    pub crash_stacks: bool,
    /// Adds [`REPORT_SHA256`] to the CSP's `script-src` (made from `default-src` when the
    /// policy has none) and an [`INTEGRITY_POLICY`] header for scripts, report-only even when
    /// the CSP is enforced.
    pub script_hashes: bool,
}

impl HeaderSet {
    /// The CSP header's name: report-only unless enforcing.
    pub fn csp_name(&self) -> &'static str {
        if self.enforce {
            "Content-Security-Policy"
        } else {
            "Content-Security-Policy-Report-Only"
        }
    }

    /// The CSP value: the policy's directives (the user's `report-uri` and `report-to`
    /// replaced by Lookout's; with `script_hashes`, [`REPORT_SHA256`] added), then
    /// `report-uri` and `report-to`.
    pub fn csp_value(&self) -> Result<String, SnippetError> {
        let mut parts = if self.script_hashes {
            self.directives_with_report_sha256()?
        } else {
            self.directives_as_given()
        };
        parts.push(format!("report-uri {}", self.report_url.as_str()));
        parts.push(format!("report-to {GROUP}"));
        Ok(parts.join("; "))
    }

    /// The policy's directives as the owner wrote them, without `report-uri` and `report-to`.
    fn directives_as_given(&self) -> Vec<String> {
        self.policy
            .split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .filter(|d| {
                let name = d.split_ascii_whitespace().next().unwrap_or_default();
                !name.eq_ignore_ascii_case("report-uri") && !name.eq_ignore_ascii_case("report-to")
            })
            .map(str::to_owned)
            .collect()
    }

    /// The policy's directives read as browsers read them ([`Policy`]), in their order, without
    /// `report-uri` and `report-to`, with [`REPORT_SHA256`] added. A control character is
    /// refused before the policy is read: reading takes a line break for white space, and the
    /// header would no longer show what the owner wrote.
    fn directives_with_report_sha256(&self) -> Result<Vec<String>, SnippetError> {
        if self.policy.chars().any(char::is_control) {
            return Err(SnippetError::ControlCharacter {
                header: self.csp_name().to_owned(),
            });
        }
        let mut policy = Policy::parse(&self.policy).without_reporting();
        add_report_sha256(&mut policy)?;
        Ok(policy.directives.iter().map(Directive::to_string).collect())
    }

    /// Every header, in the order they are printed. COOP and COEP stay report-only even when
    /// the CSP is enforced: enforcing them is a separate decision with its own reports; so does
    /// the Integrity-Policy of `script_hashes`, which comes after them. With `crash_stacks`,
    /// `Reporting-Endpoints` names the report URL a second time as `crash-reporting`, and
    /// `Document-Policy` comes last.
    pub fn headers(&self) -> Result<Vec<Header>, SnippetError> {
        // The endpoint holds no `"`, `\\` or `,` (see `Endpoint`), so it is a valid
        // structured-field string as it is, and a dictionary member of its own; the Report-To
        // JSON is written by serde_json all the same.
        let url = self.report_url.as_str();
        let h = |name, value: String| Header { name, value };
        let report_to = serde_json::json!({
            "group": GROUP,
            "max_age": 10_886_400,
            "endpoints": [{ "url": url }],
        });
        let mut endpoints = format!("{GROUP}=\"{url}\"");
        if self.crash_stacks {
            let _ = write!(endpoints, ", {CRASH_GROUP}=\"{url}\"");
        }
        let mut headers = vec![
            h("Reporting-Endpoints", endpoints),
            h(self.csp_name(), self.csp_value()?),
            h("Report-To", report_to.to_string()),
            h(
                "NEL",
                format!(
                    "{{\"report_to\":\"{GROUP}\",\"max_age\":2592000,\"failure_fraction\":1.0}}"
                ),
            ),
            h(
                "Cross-Origin-Opener-Policy-Report-Only",
                format!("same-origin; report-to=\"{GROUP}\""),
            ),
            h(
                "Cross-Origin-Embedder-Policy-Report-Only",
                format!("require-corp; report-to=\"{GROUP}\""),
            ),
        ];
        if self.script_hashes {
            headers.push(h(
                INTEGRITY_POLICY,
                format!("blocked-destinations=(script), endpoints=({GROUP})"),
            ));
        }
        if self.crash_stacks {
            headers.push(h("Document-Policy", CRASH_STACKS_POLICY.to_owned()));
        }
        Ok(headers)
    }
}

/// Adds [`REPORT_SHA256`] (once: a keyword compares case-insensitively) to the policy's
/// `script-src`, and to its `script-src-elem`, which governs script elements in its place
/// when present. A policy with neither gets a `script-src` of `default-src`'s sources, after
/// its other directives: what browsers would fall back to, so that no load changes. Without a
/// `default-src` either, the policy does not restrict scripts and no `script-src` is added.
fn add_report_sha256(policy: &mut Policy) -> Result<(), SnippetError> {
    if policy.get("script-src").is_none() && policy.get("script-src-elem").is_none() {
        let sources = policy
            .get("default-src")
            .ok_or(SnippetError::NoScriptDirective)?
            .sources
            .clone();
        policy.directives.push(Directive {
            name: "script-src".to_owned(),
            sources,
        });
    }
    for name in ["script-src", "script-src-elem"] {
        if let Some(d) = policy.get_mut(name)
            && !d.has(REPORT_SHA256)
        {
            // A `'none'` goes: beside another expression browsers ignore it (with a console
            // warning), and the keyword allows no load, so the list still allows nothing.
            d.sources.retain(|s| !s.eq_ignore_ascii_case("'none'"));
            d.sources.push(REPORT_SHA256.to_owned());
        }
    }
    Ok(())
}

/// The report URL for a base endpoint and optional site.
fn report_url(endpoint: &str, site: Option<&str>) -> String {
    let base = endpoint.trim_end_matches('/');
    match site {
        Some(site) => format!("{base}/r/{site}"),
        None => format!("{base}/"),
    }
}

/// `headers` written for `server`.
pub fn render(server: Server, headers: &[Header]) -> Result<String, SnippetError> {
    for h in headers {
        check(h)?;
    }
    let mut out = String::new();
    match server {
        Server::Raw => {
            for h in headers {
                let _ = writeln!(out, "{}: {}", h.name, h.value);
            }
        }
        Server::Nginx => nginx(&mut out, headers)?,
        Server::Apache => apache(&mut out, headers)?,
        Server::Caddy => caddy(&mut out, headers)?,
        Server::Express => express(&mut out, headers),
        Server::Django => django(&mut out, headers),
    }
    Ok(out)
}

/// What no server may send: a control character, a character outside printable ASCII, a value
/// over [`MAX_HEADER_BYTES`].
fn check(h: &Header) -> Result<(), SnippetError> {
    let header = h.name.to_owned();
    if h.value.chars().any(|c| c.is_control()) {
        return Err(SnippetError::ControlCharacter { header });
    }
    if !h.value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(SnippetError::NotAscii { header });
    }
    if h.value.len() > MAX_HEADER_BYTES {
        let bytes = h.value.len();
        return Err(SnippetError::TooLarge { header, bytes });
    }
    Ok(())
}

/// Refuses `h` when its value holds one of the `bad` characters (each with what it is to
/// `server`).
fn refuse(server: Server, h: &Header, bad: &[(char, &'static str)]) -> Result<(), SnippetError> {
    match bad.iter().find(|(c, _)| h.value.contains(*c)) {
        Some((_, found)) => Err(SnippetError::Unquotable {
            server,
            header: h.name.to_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// `add_header` lines.
fn nginx(out: &mut String, headers: &[Header]) -> Result<(), SnippetError> {
    for h in headers {
        // nginx expands `$name` in add_header values and has no escape for `$`.
        refuse(
            Server::Nginx,
            h,
            &[('$', "a '$' (nginx would read a variable)")],
        )?;
        let _ = writeln!(out, "add_header {} {} always;", h.name, c_quoted(&h.value));
    }
    Ok(())
}

/// `Header always set` lines.
fn apache(out: &mut String, headers: &[Header]) -> Result<(), SnippetError> {
    for h in headers {
        // mod_headers reads `\` escapes of its own; `%` starts a format specifier
        // (`%%` is a literal one). httpd expands `${NAME}` in every configuration line
        // as it reads the file, quotes or not, and has no escape for it.
        refuse(
            Server::Apache,
            h,
            &[
                ('\\', "a backslash"),
                (
                    '$',
                    "a '$' (Apache would expand ${...} when it loads the file)",
                ),
            ],
        )?;
        let value = h.value.replace('%', "%%").replace('"', "\\\"");
        let _ = writeln!(out, "Header always set {} \"{value}\"", h.name);
    }
    Ok(())
}

/// `header` lines of a Caddyfile.
fn caddy(out: &mut String, headers: &[Header]) -> Result<(), SnippetError> {
    for h in headers {
        // Braces are placeholders in Caddy's header values; `\{` is a literal one. But
        // `{$NAME}` is replaced before the Caddyfile is parsed, escapes or not.
        refuse(
            Server::Caddy,
            h,
            &[
                ('\\', "a backslash"),
                (
                    '$',
                    "a '$' (Caddy would expand {$...} when it loads the file)",
                ),
            ],
        )?;
        let value = h
            .value
            .replace('"', "\\\"")
            .replace('{', "\\{")
            .replace('}', "\\}");
        let _ = writeln!(out, "header {} \"{value}\"", h.name);
    }
    Ok(())
}

/// An Express middleware.
fn express(out: &mut String, headers: &[Header]) {
    out.push_str("app.use((req, res, next) => {\n");
    for h in headers {
        let _ = writeln!(
            out,
            "  res.setHeader({}, {});",
            json_string(h.name),
            json_string(&h.value)
        );
    }
    out.push_str("  next();\n});\n");
}

/// A Django middleware module.
fn django(out: &mut String, headers: &[Header]) {
    out.push_str("LOOKOUT_HEADERS = {\n");
    for h in headers {
        let _ = writeln!(
            out,
            "    {}: {},",
            json_string(h.name),
            json_string(&h.value)
        );
    }
    out.push_str(
        "}\n\n\nclass LookoutHeaders:\n    \"\"\"Adds Lookout's reporting headers to every response that does not set them.\"\"\"\n\n    \
         def __init__(self, get_response):\n        self.get_response = get_response\n\n    \
         def __call__(self, request):\n        response = self.get_response(request)\n        \
         for name, value in LOOKOUT_HEADERS.items():\n            response.headers.setdefault(name, value)\n        \
         return response\n",
    );
}

/// A double-quoted string with `\` and `"` escaped (nginx's quoting).
fn c_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A JSON string literal, which is also a valid JavaScript and Python string literal for the
/// characters a header value may hold.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests;
