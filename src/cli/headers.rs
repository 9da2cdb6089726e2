//! `lookout headers`: the response headers that make browsers report to Lookout, ready to
//! paste into nginx, Apache, Express or django-csp.

use crate::report::parse_site;

/// Arguments of `lookout headers`.
#[derive(Debug, clap::Args)]
pub struct HeadersArgs {
    /// The collector's base URL (`https://reports.example.com`, or the API URL from the stack).
    #[arg(long)]
    pub endpoint: String,
    /// The site the headers are for; reports then go to `/r/{site}`.
    #[arg(long)]
    pub site: Option<String>,
    /// The policy to report on (default: a strict starting policy).
    #[arg(long, default_value = "default-src 'self'")]
    pub policy: String,
}

/// The Reporting API endpoint name used in every header.
pub const GROUP: &str = "lookout";

/// The report URL for a base endpoint and optional site.
pub fn report_url(endpoint: &str, site: Option<&str>) -> String {
    let base = endpoint.trim_end_matches('/');
    match site {
        Some(site) => format!("{base}/r/{site}"),
        None => format!("{base}/"),
    }
}

/// The headers as `(name, value)` pairs.
pub fn header_pairs(url: &str, policy: &str) -> Vec<(&'static str, String)> {
    let policy = policy.trim().trim_end_matches(';');
    let csp = format!("{policy}; report-uri {url}; report-to {GROUP}");
    vec![
        ("Reporting-Endpoints", format!("{GROUP}=\"{url}\"")),
        ("Content-Security-Policy-Report-Only", csp.clone()),
        ("Content-Security-Policy", csp),
        (
            "Report-To",
            format!(
                "{{\"group\":\"{GROUP}\",\"max_age\":10886400,\"endpoints\":[{{\"url\":\"{url}\"}}]}}"
            ),
        ),
        (
            "NEL",
            format!("{{\"report_to\":\"{GROUP}\",\"max_age\":2592000,\"failure_fraction\":1.0}}"),
        ),
        (
            "Cross-Origin-Opener-Policy-Report-Only",
            format!("same-origin; report-to=\"{GROUP}\""),
        ),
        (
            "Cross-Origin-Embedder-Policy-Report-Only",
            format!("require-corp; report-to=\"{GROUP}\""),
        ),
    ]
}

/// Renders the whole text `lookout headers` prints.
pub fn render(url: &str, policy: &str) -> String {
    let pairs = header_pairs(url, policy);
    let mut s = String::new();
    s.push_str(&format!("# Reports go to {url}\n"));
    s.push_str("# Start with the -Report-Only headers; enforce once the reports are quiet.\n");
    s.push_str(
        "# Content-Security-Policy (enforced) is listed for later: send one of the two.\n\n",
    );
    s.push_str("## Raw headers\n");
    for (name, value) in &pairs {
        s.push_str(&format!("{name}: {value}\n"));
    }
    s.push_str("\n## nginx (server or location block)\n");
    for (name, value) in &pairs {
        s.push_str(&format!("add_header {name} '{value}' always;\n"));
    }
    s.push_str("\n## Apache (mod_headers)\n");
    for (name, value) in &pairs {
        s.push_str(&format!(
            "Header always set {name} \"{}\"\n",
            value.replace('"', "\\\"")
        ));
    }
    s.push_str("\n## Express\napp.use((req, res, next) => {\n");
    for (name, value) in &pairs {
        s.push_str(&format!("  res.setHeader('{name}', '{value}');\n"));
    }
    s.push_str("  next();\n});\n");
    s.push_str("\n## django-csp 4 (settings.py); add Reporting-Endpoints with a middleware\n");
    s.push_str(&format!(
        "CONTENT_SECURITY_POLICY_REPORT_ONLY = {{\n    \"DIRECTIVES\": {{\n        \"default-src\": [\"'self'\"],\n        \"report-uri\": \"{url}\",\n        \"report-to\": \"{GROUP}\",\n    }},\n}}\n"
    ));
    s.push_str(
        "\n# Notes: browsers deliver report-to reports only from https pages; NEL's success_fraction\n\
         # is left at 0 on purpose (with 1.0 browsers also report every upload to this collector).\n",
    );
    s
}

/// Prints the headers.
pub fn run(args: &HeadersArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let endpoint = args.endpoint.trim();
    if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
        return Err("--endpoint must be an http(s) URL".into());
    }
    let site = args.site.as_deref().map(parse_site).transpose()?;
    print!(
        "{}",
        render(&report_url(endpoint, site.as_deref()), &args.policy)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_the_endpoint_everywhere() {
        let url = report_url("https://c.example/", Some("example.com"));
        assert_eq!(url, "https://c.example/r/example.com");
        let pairs = header_pairs(&url, "default-src 'self';");
        let get = |n: &str| pairs.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(
            get("Reporting-Endpoints"),
            "lookout=\"https://c.example/r/example.com\""
        );
        assert_eq!(
            get("Content-Security-Policy-Report-Only"),
            "default-src 'self'; report-uri https://c.example/r/example.com; report-to lookout"
        );
        let report_to: serde_json::Value = serde_json::from_str(&get("Report-To")).unwrap();
        assert_eq!(report_to["endpoints"][0]["url"], url.as_str());
        let nel: serde_json::Value = serde_json::from_str(&get("NEL")).unwrap();
        assert_eq!(nel["report_to"], "lookout");
        let text = render(&url, "default-src 'self'");
        assert!(text.contains("add_header Reporting-Endpoints"));
        assert!(text.contains("Header always set NEL"));
        assert!(text.contains("res.setHeader('Report-To'"));
        assert!(text.contains("CONTENT_SECURITY_POLICY_REPORT_ONLY"));
    }
}
