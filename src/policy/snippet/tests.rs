//! The headers written for each server: what each one refuses, and what it sends.

use super::*;

#[test]
fn only_an_endpoint_that_cannot_break_a_header_is_taken() {
    for good in [
        "https://c.example/r/example.com",
        "http://127.0.0.1:8080/r/a.example",
        "https://c.example:8443/x?y=1",
    ] {
        assert!(Endpoint::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "http://c.example/r",
        "https://a/\",x=\"y",
        "https://a.example/r,x",
        "https://a.example/r;x",
        "https://a.example/ r",
        "https://例え.example/r",
        "https://u:p@a.example/r",
        "/r/example.com",
        "javascript:alert(1)",
        "",
    ] {
        assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
    }
}

fn set(policy: &str, enforce: bool) -> HeaderSet {
    HeaderSet {
        report_url: Endpoint::for_site("https://c.example/", Some("example.com")).unwrap(),
        policy: policy.into(),
        enforce,
        crash_stacks: false,
        script_hashes: false,
    }
}

/// [`set`] with `script_hashes`.
fn hashes(policy: &str, enforce: bool) -> HeaderSet {
    HeaderSet {
        script_hashes: true,
        ..set(policy, enforce)
    }
}

/// Lookout's reporting directives, at the end of every CSP of [`set`].
const REPORTING: &str = "report-uri https://c.example/r/example.com; report-to lookout";

#[test]
fn crash_stacks_add_the_document_policy_and_the_crash_endpoint_in_every_server() {
    let plain = set("default-src 'self'", false).headers().unwrap();
    assert!(plain.iter().all(|h| h.name != "Document-Policy"));
    assert_eq!(
        plain[0].value,
        "lookout=\"https://c.example/r/example.com\""
    );
    let headers = HeaderSet {
        crash_stacks: true,
        ..set("default-src 'self'", false)
    }
    .headers()
    .unwrap();
    assert_eq!(headers.len(), plain.len() + 1);
    assert_eq!(headers[0].name, "Reporting-Endpoints");
    assert_eq!(
        headers[0].value,
        "lookout=\"https://c.example/r/example.com\", crash-reporting=\"https://c.example/r/example.com\""
    );
    let last = headers.last().unwrap();
    assert_eq!(
        (last.name, last.value.as_str()),
        ("Document-Policy", "include-js-call-stacks-in-crash-reports")
    );
    assert_eq!(
        headers[..plain.len()][1..],
        plain[1..],
        "the rest as before"
    );
    let raw = render(Server::Raw, &headers).unwrap();
    assert!(raw.ends_with("Document-Policy: include-js-call-stacks-in-crash-reports\n"));
    for (server, line) in [
        (
            Server::Nginx,
            "add_header Reporting-Endpoints \"lookout=\\\"https://c.example/r/example.com\\\", crash-reporting=\\\"https://c.example/r/example.com\\\"\" always;",
        ),
        (
            Server::Apache,
            "Header always set Document-Policy \"include-js-call-stacks-in-crash-reports\"",
        ),
        (
            Server::Caddy,
            "header Document-Policy \"include-js-call-stacks-in-crash-reports\"",
        ),
        (
            Server::Express,
            "  res.setHeader(\"Document-Policy\", \"include-js-call-stacks-in-crash-reports\");",
        ),
        (
            Server::Django,
            "    \"Document-Policy\": \"include-js-call-stacks-in-crash-reports\",",
        ),
    ] {
        let text = render(server, &headers).unwrap();
        assert!(text.lines().any(|l| l == line), "{server:?}: {text}");
    }
}

#[test]
fn report_only_unless_enforced_and_the_users_reporting_directives_replaced() {
    let s = set(
        "script-src 'self' https://cdn.example; report-uri /old;report-to old ;",
        false,
    );
    let headers = s.headers().unwrap();
    assert_eq!(headers[1].name, "Content-Security-Policy-Report-Only");
    assert_eq!(
        headers[1].value,
        "script-src 'self' https://cdn.example; report-uri https://c.example/r/example.com; report-to lookout"
    );
    assert!(!headers.iter().any(|h| h.name == "Content-Security-Policy"));
    let enforced = set("default-src 'self'", true).headers().unwrap();
    assert_eq!(enforced[1].name, "Content-Security-Policy");
    assert!(
        enforced
            .iter()
            .all(|h| h.name != "Content-Security-Policy-Report-Only")
    );
}

#[test]
fn each_server_quotes_what_it_would_otherwise_interpret() {
    let headers = set("default-src 'self' https://x.example/a%20b", false)
        .headers()
        .unwrap();
    let nginx = render(Server::Nginx, &headers).unwrap();
    assert!(nginx.contains(
        "add_header Reporting-Endpoints \"lookout=\\\"https://c.example/r/example.com\\\"\" always;"
    ));
    assert!(nginx.contains("'self'"), "single quotes stay as they are");
    let apache = render(Server::Apache, &headers).unwrap();
    assert!(apache.contains("a%%20b"));
    let caddy = render(Server::Caddy, &headers).unwrap();
    assert!(caddy.contains("header NEL \"\\{\\\"report_to\\\""));
    let express = render(Server::Express, &headers).unwrap();
    assert!(express.contains("res.setHeader(\"NEL\", \"{\\\"report_to\\\""));
}

#[test]
fn what_a_server_cannot_send_is_refused_not_mangled() {
    let dollar = set("default-src https://x.example/$1", false)
        .headers()
        .unwrap();
    assert!(matches!(
        render(Server::Nginx, &dollar),
        Err(SnippetError::Unquotable { .. })
    ));
    for server in [Server::Apache, Server::Caddy] {
        assert!(
            matches!(
                render(server, &dollar),
                Err(SnippetError::Unquotable { .. })
            ),
            "{server:?} expands variables at load"
        );
    }
    assert!(render(Server::Express, &dollar).is_ok());
    let unicode = set("default-src https://例え.example", false)
        .headers()
        .unwrap();
    let huge = set(
        &format!("default-src {}", "https://x.example ".repeat(300)),
        false,
    )
    .headers()
    .unwrap();
    for server in Server::ALL {
        assert!(matches!(
            render(server, &unicode),
            Err(SnippetError::NotAscii { .. })
        ));
        assert!(matches!(
            render(server, &huge),
            Err(SnippetError::TooLarge { .. })
        ));
    }
    let newline = set("default-src 'self'\nX-Injected: 1", false)
        .headers()
        .unwrap();
    for server in Server::ALL {
        assert!(matches!(
            render(server, &newline),
            Err(SnippetError::ControlCharacter { .. })
        ));
    }
}

#[test]
fn script_hashes_add_report_sha256_to_the_script_directives_once() {
    for (policy, csp) in [
        (
            "default-src 'self'; script-src 'self' https://cdn.example; img-src *",
            "default-src 'self'; script-src 'self' https://cdn.example 'report-sha256'; img-src *",
        ),
        (
            "default-src 'self' https://cdn.example; img-src data:; report-uri /old",
            "default-src 'self' https://cdn.example; img-src data:; script-src 'self' https://cdn.example 'report-sha256'",
        ),
        (
            "script-src 'self' 'Report-SHA256'; report-to old",
            "script-src 'self' 'Report-SHA256'",
        ),
        (
            "default-src 'self'; script-src-elem https://cdn.example",
            "default-src 'self'; script-src-elem https://cdn.example 'report-sha256'",
        ),
        ("script-src 'none'", "script-src 'report-sha256'"),
    ] {
        assert_eq!(
            hashes(policy, false).csp_value(),
            Ok(format!("{csp}; {REPORTING}")),
            "{policy}"
        );
    }
    let once = hashes("default-src 'self'", false).csp_value().unwrap();
    assert_eq!(
        hashes(&once, false).csp_value().unwrap(),
        once,
        "not added twice"
    );
    assert_eq!(
        set("default-src 'self'", false).csp_value().unwrap(),
        format!("default-src 'self'; {REPORTING}"),
        "the policy as given without the option"
    );
}

#[test]
fn script_hashes_refuse_a_policy_that_does_not_restrict_scripts() {
    for policy in ["img-src 'self'; report-uri /old", ""] {
        assert_eq!(
            hashes(policy, false).headers(),
            Err(SnippetError::NoScriptDirective),
            "{policy:?}"
        );
    }
    assert!(set("img-src 'self'", false).headers().is_ok());
    assert_eq!(
        hashes("script-src 'self'\nX-Injected: 1", true).headers(),
        Err(SnippetError::ControlCharacter {
            header: "Content-Security-Policy".into()
        }),
        "a line break is refused, not read as white space"
    );
}

#[test]
fn script_hashes_add_an_integrity_policy_that_stays_report_only() {
    let integrity = Header {
        name: "Integrity-Policy-Report-Only",
        value: "blocked-destinations=(script), endpoints=(lookout)".into(),
    };
    for enforce in [false, true] {
        let plain = set("default-src 'self'", enforce).headers().unwrap();
        assert!(
            plain
                .iter()
                .all(|h| !h.name.starts_with("Integrity-Policy"))
        );
        let headers = hashes("default-src 'self'", enforce).headers().unwrap();
        assert_eq!(headers.len(), plain.len() + 1);
        assert_eq!(headers.last(), Some(&integrity), "after COOP and COEP");
        assert!(
            headers.iter().all(|h| h.name != "Integrity-Policy"),
            "report-only even with the CSP enforced"
        );
        assert_eq!(headers[1].name, plain[1].name);
        assert!(
            headers[1]
                .value
                .ends_with(&format!("'report-sha256'; {REPORTING}"))
        );
        assert_eq!(
            headers[0].value, "lookout=\"https://c.example/r/example.com\"",
            "the endpoint the Integrity-Policy names is the one declared"
        );
        for server in Server::ALL {
            let text = render(server, &headers).unwrap();
            assert!(
                text.contains("blocked-destinations=(script), endpoints=(lookout)"),
                "{server:?}: {text}"
            );
        }
    }
    let both = HeaderSet {
        crash_stacks: true,
        ..hashes("default-src 'self'", true)
    }
    .headers()
    .unwrap();
    let names: Vec<&str> = both.iter().rev().take(2).map(|h| h.name).collect();
    assert_eq!(names, ["Document-Policy", "Integrity-Policy-Report-Only"]);
}
