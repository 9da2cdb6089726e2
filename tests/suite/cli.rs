//! The `lookout` binary as a user runs it: serve, query, top, headers.

use crate::support::{http_request, run_lookout, spawn_serve};

#[test]
fn serve_then_query_and_top_read_the_same_store() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let (server, url) = spawn_serve(&["--data", data_dir]);
    let addr = url.trim_start_matches("http://");
    let (status, _) = http_request(addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200);
    let legacy = br#"{"csp-report":{"document-uri":"https://example.com/p","effective-directive":"img-src","blocked-uri":"https://t.example/a.gif","disposition":"enforce"}}"#;
    let (status, _) = http_request(
        addr,
        "POST",
        "/r/example.com",
        &[
            ("Content-Type", "application/csp-report"),
            ("User-Agent", "Mozilla/5.0 Firefox/149.0"),
        ],
        legacy,
    );
    assert_eq!(status, 204);
    let batch = br#"[{"type":"network-error","age":1000,"url":"https://example.com/api","user_agent":"Mozilla/5.0 Chrome/120.0 Safari/537.36","body":{"type":"tcp.refused","phase":"connection","elapsed_time":5}}]"#;
    let (status, _) = http_request(
        addr,
        "POST",
        "/r/example.com",
        &[("Content-Type", "application/reports+json")],
        batch,
    );
    assert_eq!(status, 204);
    let (status, body) = http_request(addr, "POST", "/r/example.com", &[], b"[]");
    assert_eq!(status, 400, "{body}");
    drop(server);

    // The store survives the server: query and top read it afterwards.
    let (ok, out, err) = run_lookout(&["query", "--site", "example.com", "--data", data_dir]);
    assert!(ok, "{err}");
    assert!(out.starts_with("OCCURRED"), "{out}");
    assert!(
        out.contains("csp-violation") && out.contains("network-error"),
        "{out}"
    );
    assert!(out.contains("Firefox 149"), "{out}");
    assert!(err.contains("2 report(s)"), "{err}");

    let (ok, out, _) = run_lookout(&[
        "query",
        "--site",
        "example.com",
        "--type",
        "network-error",
        "--json",
        "--data",
        data_dir,
    ]);
    assert!(ok);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "network-error");
    assert_eq!(lines[0]["body"]["type"], "tcp.refused");

    let (ok, out, _) = run_lookout(&[
        "top",
        "--site",
        "example.com",
        "--since",
        "1h",
        "--data",
        data_dir,
    ]);
    assert!(ok);
    assert!(
        out.contains("img-src https://t.example https://example.com/p"),
        "{out}"
    );
    assert!(out.contains("tcp.refused connection example.com"), "{out}");
}

#[test]
fn errors_and_exit_codes() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let (ok, _, err) = run_lookout(&["query", "--site", "not a host", "--data", data_dir]);
    assert!(!ok);
    assert!(err.starts_with("error:"), "{err}");
    let (ok, _, err) = run_lookout(&[
        "query", "--site", "e.com", "--since", "soon", "--data", data_dir,
    ]);
    assert!(!ok);
    assert!(err.contains("--since"), "{err}");
    let (ok, _, err) = run_lookout(&["headers", "--endpoint", "ftp://x"]);
    assert!(!ok, "{err}");
    for sub in ["serve", "query", "top", "headers"] {
        let (ok, out, _) = run_lookout(&[sub, "--help"]);
        assert!(ok && out.contains("Usage"), "{sub}");
    }
}

#[test]
fn headers_prints_ready_to_paste_snippets() {
    let (ok, out, _) = run_lookout(&[
        "headers",
        "--endpoint",
        "https://reports.example.net",
        "--site",
        "example.com",
    ]);
    assert!(ok);
    assert!(
        out.contains("Reporting-Endpoints: lookout=\"https://reports.example.net/r/example.com\"")
    );
    assert!(
        out.contains("report-uri https://reports.example.net/r/example.com; report-to lookout")
    );
    for needle in [
        "## nginx",
        "## Apache",
        "## Express",
        "## Django",
        "## Caddy",
        "NEL:",
        "Report-To:",
    ] {
        assert!(out.contains(needle), "{needle}");
    }
    assert!(!out.contains("Document-Policy") && !out.contains("crash-reporting"));
    let (ok, out, err) = run_lookout(&[
        "headers",
        "--endpoint",
        "https://reports.example.net",
        "--site",
        "example.com",
        "--crash-stacks",
        "--server",
        "raw",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Reporting-Endpoints: lookout=\"https://reports.example.net/r/example.com\", crash-reporting=\"https://reports.example.net/r/example.com\""
    );
    assert_eq!(
        lines.last(),
        Some(&"Document-Policy: include-js-call-stacks-in-crash-reports")
    );
    let (ok, _, err) = run_lookout(&[
        "headers",
        "--endpoint",
        "https://reports.example.net",
        "--policy",
        "img-src 'self'",
        "--script-hashes",
    ]);
    assert!(!ok, "a policy that does not restrict scripts");
    assert!(
        err.contains("--script-hashes needs a script-src or default-src in the policy"),
        "{err}"
    );
}
