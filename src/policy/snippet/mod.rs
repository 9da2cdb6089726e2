//! The response headers that make browsers report to Lookout, and the same headers written for
//! each web server's configuration language, quoted so that the server sends them byte for byte.

use std::fmt::Write as _;

/// The Reporting API endpoint name used in every header.
pub const GROUP: &str = "lookout";

/// The endpoint name Chrome (139 and later) sends crash reports to when a page names it,
/// instead of `default`.
pub const CRASH_GROUP: &str = "crash-reporting";

/// The Document-Policy that asks Chrome for the JavaScript stack of an unresponsive page in
/// its crash report.
pub const CRASH_STACKS_POLICY: &str = "include-js-call-stacks-in-crash-reports";

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

/// A header a server cannot be told to send as it is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnippetError {
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

/// What to send: the report URL, the CSP to report on, whether it is enforced, and whether
/// crash reports are asked for with their JavaScript stacks.
#[derive(Debug, Clone)]
pub struct HeaderSet {
    pub report_url: Endpoint,
    pub policy: String,
    pub enforce: bool,
    /// Adds `Document-Policy: include-js-call-stacks-in-crash-reports` and a
    /// `crash-reporting` endpoint (the report URL) to `Reporting-Endpoints`.
    pub crash_stacks: bool,
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
    /// replaced by Lookout's), then `report-uri` and `report-to`.
    pub fn csp_value(&self) -> String {
        let mut parts: Vec<&str> = self
            .policy
            .split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .filter(|d| {
                let name = d.split_ascii_whitespace().next().unwrap_or_default();
                !name.eq_ignore_ascii_case("report-uri") && !name.eq_ignore_ascii_case("report-to")
            })
            .collect();
        let report_uri = format!("report-uri {}", self.report_url.as_str());
        let report_to = format!("report-to {GROUP}");
        parts.push(&report_uri);
        parts.push(&report_to);
        parts.join("; ")
    }

    /// Every header, in the order they are printed. COOP and COEP stay report-only even when
    /// the CSP is enforced: enforcing them is a separate decision with its own reports. With
    /// `crash_stacks`, `Reporting-Endpoints` names the report URL a second time as
    /// `crash-reporting`, and `Document-Policy` comes last.
    pub fn headers(&self) -> Vec<Header> {
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
            h(self.csp_name(), self.csp_value()),
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
        if self.crash_stacks {
            headers.push(h("Document-Policy", CRASH_STACKS_POLICY.to_owned()));
        }
        headers
    }
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
