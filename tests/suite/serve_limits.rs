//! `lookout serve` under slow and hostile clients, over real sockets: slow senders hold no one
//! else up and are cut off, idle connections are closed, and an over-limit body sent whole
//! gets a readable 413.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Process, http_request, spawn_serve};

const REPORT: &str = r#"{"csp-report":{"document-uri":"https://example.com/","blocked-uri":"https://cdn.example.net/x.js","effective-directive":"script-src-elem","original-policy":"script-src 'self'"}}"#;

/// `lookout serve` with `args` on an empty store of its own; returns the store's directory
/// (removed when dropped), the process, and the address it listens on.
fn serve_on_a_fresh_store(args: &[&str]) -> (tempfile::TempDir, Process, String) {
    let data = tempfile::tempdir().unwrap();
    let mut all = vec!["--data", data.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let (server, url) = spawn_serve(&all);
    let addr = url.trim_start_matches("http://").to_owned();
    (data, server, addr)
}

/// Whether the server closed `stream` (end of file or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408) before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn five_hundred_slow_senders_do_not_hold_up_a_report_and_are_cut_off() {
    let (_data, _server, addr) = serve_on_a_fresh_store(&["--header-timeout", "2s"]);
    // Each sends the start of a request and then nothing (a slowloris).
    let mut slow: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /r/example.com HTTP/1.1\r\nHost: example.com\r\n")
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    let (status, body) = http_request(
        &addr,
        "POST",
        "/r/example.com",
        &[("Content-Type", "application/csp-report")],
        REPORT.as_bytes(),
    );
    let took = started.elapsed();
    assert_eq!(status, 204, "{body}");
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    // Past the header timeout, the slow connections are closed.
    std::thread::sleep(Duration::from_secs(2));
    let mut closed = 0;
    for s in slow.iter_mut().take(20) {
        closed += usize::from(closed_within(s, Duration::from_secs(3)));
    }
    assert_eq!(
        closed, 20,
        "slow senders are cut off after the header timeout"
    );
}

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let (_data, _server, addr) = serve_on_a_fresh_store(&["--idle-timeout", "1s"]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Kept alive, then left idle: closed within the timeout and a margin.
    assert!(closed_within(&mut s, Duration::from_secs(4)));
}

#[test]
fn a_client_that_sends_an_over_limit_body_whole_reads_the_413() {
    let (_data, _server, addr) = serve_on_a_fresh_store(&["--max-body-bytes", "65536"]);
    // http_request writes the whole body before it reads (as simple clients do).
    let big = vec![b'x'; 1024 * 1024];
    let (status, body) = http_request(
        &addr,
        "POST",
        "/r/example.com",
        &[("Content-Type", "application/csp-report")],
        &big,
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("body_too_large"), "{body}");
}

#[test]
fn connections_over_the_limit_are_closed_and_the_rest_served() {
    let (_data, _server, addr) = serve_on_a_fresh_store(&["--max-connections", "8"]);
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(
        closed_within(&mut extra, Duration::from_secs(3)),
        "the ninth is closed"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = http_request(&addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "freed places are served again");
}
