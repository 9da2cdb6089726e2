//! `lookout headers --server X` loaded into the real X on loopback: the configuration is accepted
//! by the server's own check, a request is made, and the response carries the headers of
//! `--server raw` byte for byte (report-only, and enforced with `--crash-stacks` and
//! `--script-hashes`). The servers come from scripts/setup-test-tools (Debian's nginx, Apache
//! and Caddy, Express from npm, Django from PyPI); a missing one fails the test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Process, free_port, run_lookout};

/// A policy with what each configuration language could misread: single quotes, a hash with
/// `+`, `/` and `=`, a percent-escape (Apache's format specifier), braces (Caddy's
/// placeholders), and a `report-uri` of the user's that Lookout's replaces.
const POLICY: &str = "script-src 'self' 'sha256-B2yPHKaXnvFWtRChIbabYmUBFZdVfKKXHbWtWidDVF8=' https://cdn.example/a%20b/{v}/; style-src 'self' 'unsafe-inline'; img-src data: blob:; report-uri /old";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a snippet is printed with: the CSP enforced or not, crash stacks and script hashes
/// asked for or not.
#[derive(Debug, Clone, Copy)]
struct Variant {
    enforce: bool,
    crash_stacks: bool,
    script_hashes: bool,
}

/// Each server sends both: report-only without crash stacks or script hashes, and enforced
/// with them (the CSP with `'report-sha256'`, the Integrity-Policy report-only all the same).
const VARIANTS: [Variant; 2] = [
    Variant {
        enforce: false,
        crash_stacks: false,
        script_hashes: false,
    },
    Variant {
        enforce: true,
        crash_stacks: true,
        script_hashes: true,
    },
];

fn lookout_headers(server: &str, v: Variant) -> String {
    let mut args = vec![
        "headers",
        "--endpoint",
        "https://reports.example.net",
        "--site",
        "example.com",
        "--policy",
        POLICY,
        "--server",
        server,
    ];
    if v.enforce {
        args.push("--enforce");
    }
    if v.crash_stacks {
        args.push("--crash-stacks");
    }
    if v.script_hashes {
        args.push("--script-hashes");
    }
    let (ok, out, err) = run_lookout(&args);
    assert!(ok, "lookout headers --server {server}: {err}");
    out
}

/// The headers of `--server raw`, as (name, value).
fn expected(v: Variant) -> Vec<(String, String)> {
    lookout_headers("raw", v)
        .lines()
        .map(|l| {
            let (name, value) = l.split_once(": ").expect("Name: value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// The response head of `GET /` as raw header lines, once the server answers.
fn response_headers(port: u16, child: &mut Process, log: &Path) -> Vec<(String, Vec<u8>)> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let req =
                format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
            let mut raw = Vec::new();
            if s.write_all(req.as_bytes()).is_ok() && s.read_to_end(&mut raw).is_ok() {
                let end = raw
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("a response head");
                return raw[..end]
                    .split(|&b| b == b'\n')
                    .skip(1)
                    .map(|line| {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        let colon = line.iter().position(|&b| b == b':').expect("name: value");
                        let value = &line[colon + 1..];
                        let value = value.strip_prefix(b" ").unwrap_or(value);
                        (
                            String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase(),
                            value.to_vec(),
                        )
                    })
                    .collect();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server never answered: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asserts that the response carries each expected header once, byte for byte, no CSP of
/// the other disposition, a Document-Policy only with crash stacks, and an Integrity-Policy
/// only with script hashes, report-only.
fn assert_sent(got: &[(String, Vec<u8>)], v: Variant, server: &str) {
    let expected = expected(v);
    assert_eq!(
        expected
            .iter()
            .any(|(name, value)| name == "Document-Policy"
                && value == "include-js-call-stacks-in-crash-reports"),
        v.crash_stacks,
        "{server}: --server raw prints the Document-Policy with --crash-stacks only"
    );
    assert_eq!(
        expected
            .iter()
            .any(|(name, value)| name == "Integrity-Policy-Report-Only"
                && value == "blocked-destinations=(script), endpoints=(lookout)"),
        v.script_hashes,
        "{server}: --server raw prints the Integrity-Policy with --script-hashes only"
    );
    assert_eq!(
        expected
            .iter()
            .any(|(name, value)| name.starts_with("Content-Security-Policy")
                && value.contains("https://cdn.example/a%20b/{v}/ 'report-sha256'; style-src")),
        v.script_hashes,
        "{server}: 'report-sha256' ends the policy's script-src with --script-hashes only"
    );
    for (name, value) in expected {
        let found: Vec<&Vec<u8>> = got
            .iter()
            .filter(|(n, _)| *n == name.to_ascii_lowercase())
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            found,
            vec![&value.as_bytes().to_vec()],
            "{server}: {name} ({v:?}); got {:?}",
            found
                .iter()
                .map(|bytes| String::from_utf8_lossy(bytes))
                .collect::<Vec<_>>()
        );
    }
    let other = if v.enforce {
        "content-security-policy-report-only"
    } else {
        "content-security-policy"
    };
    assert!(
        got.iter().all(|(n, _)| n != other),
        "{server}: no {other} header"
    );
    if !v.crash_stacks {
        assert!(
            got.iter().all(|(n, _)| n != "document-policy"),
            "{server}: no Document-Policy header without --crash-stacks"
        );
    }
    assert!(
        got.iter().all(|(n, _)| n != "integrity-policy"),
        "{server}: no enforced Integrity-Policy, even with --enforce"
    );
    if !v.script_hashes {
        assert!(
            got.iter().all(|(n, _)| n != "integrity-policy-report-only"),
            "{server}: no Integrity-Policy header without --script-hashes"
        );
    }
}

/// Runs a check command (the server's own config test); panics with its output if it fails.
fn check(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} runs (scripts/setup-test-tools installs it): {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn(cmd: &mut Command, log: &Path, what: &str) -> Process {
    let file = std::fs::File::create(log).unwrap();
    Process(
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} starts: {e}")),
    )
}

/// Both [`VARIANTS`] through one server: `setup(dir, port, snippet)` writes its
/// configuration, checks it and starts the server.
fn round_trip(server: &str, setup: impl Fn(&Path, u16, &str) -> Process) {
    for v in VARIANTS {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let snippet = lookout_headers(server, v);
        let mut child = setup(dir.path(), port, &snippet);
        let got = response_headers(port, &mut child, &dir.path().join("server.log"));
        assert_sent(&got, v, server);
    }
}

#[test]
fn the_nginx_snippet_is_sent_byte_for_byte_by_nginx() {
    round_trip("nginx", |dir, port, snippet| {
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n{snippet}\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let nginx = |extra: &[&str]| {
            let mut c = Command::new("/usr/sbin/nginx");
            c.arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.join("error.log"));
            c.args(extra);
            c
        };
        check(&mut nginx(&["-t", "-q"]), "nginx -t");
        spawn(
            &mut nginx(&["-g", "daemon off;"]),
            &dir.join("server.log"),
            "nginx",
        )
    });
}

#[test]
fn the_apache_snippet_is_sent_byte_for_byte_by_apache() {
    round_trip("apache", |dir, port, snippet| {
        let d = dir.display();
        let modules = "/usr/lib/apache2/modules";
        std::fs::create_dir(dir.join("www")).unwrap();
        std::fs::write(dir.join("www/index.html"), "ok\n").unwrap();
        // As root, Apache's workers run as an unprivileged user; they then need to read www.
        let user = if is_root() {
            "User nobody\nGroup nogroup\n"
        } else {
            ""
        };
        let conf = dir.join("httpd.conf");
        std::fs::write(
            &conf,
            format!(
                "ServerRoot \"{d}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n{user}\
                 LoadModule mpm_event_module {modules}/mod_mpm_event.so\n\
                 LoadModule authz_core_module {modules}/mod_authz_core.so\n\
                 LoadModule headers_module {modules}/mod_headers.so\n\
                 PidFile \"{d}/httpd.pid\"\nDefaultRuntimeDir \"{d}\"\nErrorLog \"{d}/error.log\"\n\
                 DocumentRoot \"{d}/www\"\n<Directory \"{d}/www\">\n  Require all granted\n</Directory>\n{snippet}"
            ),
        )
        .unwrap();
        open_to_all(dir);
        let apache = |extra: &[&str]| {
            let mut c = Command::new("/usr/sbin/apache2");
            c.arg("-f").arg(&conf).args(extra);
            c
        };
        check(&mut apache(&["-t"]), "apache2 -t (apachectl configtest)");
        spawn(
            &mut apache(&["-DFOREGROUND"]),
            &dir.join("server.log"),
            "apache2",
        )
    });
}

#[test]
fn the_caddy_snippet_is_sent_byte_for_byte_by_caddy() {
    round_trip("caddy", |dir, port, snippet| {
        let conf = dir.join("Caddyfile");
        std::fs::write(
            &conf,
            format!(
                "{{\n  admin off\n  auto_https off\n}}\n\nhttp://127.0.0.1:{port} {{\n{snippet}\n  respond \"ok\"\n}}\n"
            ),
        )
        .unwrap();
        let caddy = |sub: &str| {
            let mut c = Command::new("caddy");
            c.arg(sub)
                .arg("--config")
                .arg(&conf)
                .args(["--adapter", "caddyfile"])
                .env("HOME", dir)
                .env("XDG_DATA_HOME", dir)
                .env("XDG_CONFIG_HOME", dir);
            c
        };
        check(&mut caddy("validate"), "caddy validate");
        spawn(&mut caddy("run"), &dir.join("server.log"), "caddy")
    });
}

#[test]
fn the_express_snippet_is_sent_byte_for_byte_by_express() {
    let express = repo().join(".cache/express/node_modules/express");
    assert!(
        express.join("package.json").exists(),
        "Express is installed by scripts/setup-test-tools"
    );
    round_trip("express", |dir, port, snippet| {
        let app = dir.join("app.js");
        std::fs::write(
            &app,
            format!(
                "const express = require({:?});\nconst app = express();\n{snippet}\napp.get('/', (req, res) => res.send('ok'));\napp.listen({port}, '127.0.0.1');\n",
                express.display().to_string()
            ),
        )
        .unwrap();
        check(
            Command::new("node").arg("--check").arg(&app),
            "node --check",
        );
        spawn(
            Command::new("node").arg(&app),
            &dir.join("server.log"),
            "node",
        )
    });
}

#[test]
fn the_django_snippet_is_sent_byte_for_byte_by_django() {
    round_trip("django", |dir, port, snippet| {
        std::fs::write(dir.join("lookout_headers.py"), snippet).unwrap();
        std::fs::write(
            dir.join("site.py"),
            "import sys\n\
             from django.conf import settings\n\
             from django.http import HttpResponse\n\
             from django.urls import path\n\n\
             settings.configure(DEBUG=False, ALLOWED_HOSTS=['127.0.0.1'], ROOT_URLCONF=__name__,\n\
             \x20                  MIDDLEWARE=['lookout_headers.LookoutHeaders'], SECRET_KEY='test')\n\
             urlpatterns = [path('', lambda request: HttpResponse('ok'))]\n\n\
             if __name__ == '__main__':\n\
             \x20   from django.core.management import execute_from_command_line\n\
             \x20   execute_from_command_line([sys.argv[0], 'runserver', sys.argv[1], '--noreload'])\n",
        )
        .unwrap();
        check(
            Command::new("python3")
                .args(["-c", "import django, lookout_headers"])
                .current_dir(dir),
            "python3 imports Django and the snippet",
        );
        spawn(
            Command::new("python3")
                .arg("site.py")
                .arg(format!("127.0.0.1:{port}"))
                .current_dir(dir),
            &dir.join("server.log"),
            "django runserver",
        )
    });
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Lets an unprivileged worker read the test's directory.
fn open_to_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in [
        dir.to_path_buf(),
        dir.join("www"),
        dir.join("www/index.html"),
    ] {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
