//! `lookout` and Chromium as processes, and plain HTTP to servers started that way.

use std::io::Write;
use std::time::Duration;

/// A plain HTTP/1.1 request over a socket (for servers started as processes).
/// Returns the status code and the body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    raw_exchange(addr, &head, body, Duration::from_secs(10))
}

/// Sends `head` (request line and headers, exactly as given, without the blank line) and
/// `body` to `addr`, and reads the answer until the server closes: its status and body. A
/// connection closed without an answer (a handler that panicked) is status 0.
pub fn raw_exchange(addr: &str, head: &str, body: &[u8], timeout: Duration) -> (u16, String) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"\r\n").unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `lookout policy --site example.com --data DIR --from-policy OWNER_POLICY` with `extra`.
pub fn run_policy(dir: &str, owner_policy: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "policy",
        "--site",
        "example.com",
        "--data",
        dir,
        "--from-policy",
        owner_policy,
    ];
    args.extend_from_slice(extra);
    run_lookout(&args)
}

/// A `lookout` process, killed when dropped.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lookout serve` with `args` on a free port; returns the process and its base URL.
pub fn spawn_serve(args: &[&str]) -> (Process, String) {
    spawn_lookout("serve", args, "listening on ")
}

/// Starts `lookout {command}` with `args` on a free port (`--addr 127.0.0.1:0`); returns the
/// process and the URL it prints after `marker` on stderr (without a trailing `/`).
pub fn spawn_lookout(command: &str, args: &[&str], marker: &str) -> (Process, String) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg(command)
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split(marker.as_str()).nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("lookout {command} prints where it listens"));
    (Process(child), url)
}

/// Runs `lookout` with `args`; returns (success, stdout, stderr).
pub fn run_lookout(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free port on 127.0.0.1 (for servers started as processes).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where Debian installs Chromium; `LOOKOUT_CHROMIUM` overrides.
fn chromium_path() -> String {
    let path = std::env::var("LOOKOUT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "Chromium not found at {path}: run scripts/setup-test-tools (or set LOOKOUT_CHROMIUM)"
    );
    path
}

/// Headless Chromium with the profile `profile` (nothing else of the machine's), quiet: the
/// flags every browser test uses.
pub fn headless_chromium(profile: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(chromium_path());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--ignore-certificate-errors",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Headless Chromium on `url` with a profile of its own (and `extra` flags); killed when the
/// process is dropped.
pub fn chromium(url: &str, extra: &[&str]) -> (Process, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let child = headless_chromium(profile.path())
        .args(extra)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    (Process(child), profile)
}
