#!/usr/bin/env python3
"""Cold start of Lookout's two entry points, timed from process exec.

- `lookout serve`: exec -> first `GET /health` answered 200 (a fresh store each run, so
  creating the SQLite schema is included).
- `bootstrap` (the Lambda function): a Lambda Runtime API emulated here on loopback.
  exec -> first `GET /runtime/invocation/next` (init done: configuration, DynamoDB client,
  logging), -> first response (the `events/health.json` invocation), -> second response (the
  `events/legacy-csp.json` invocation, whose report is written to the DynamoDB endpoint
  given: the first connection and signed request included). Then two warm invocations (the
  legacy report again, and `events/chrome-batch.json`), timed from event handed out to answer.

Not a test: a script that measures. Usage:

    bench/coldstart.py LOOKOUT_BIN BOOTSTRAP_BIN DYNAMODB_URL TABLE [RUNS=30]
"""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_once(lookout):
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, RUST_LOG="warn")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [lookout, "serve", "--addr", f"127.0.0.1:{port}", "--data", data],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    conn.request("GET", "/health")
                    if conn.getresponse().status == 200:
                        return time.perf_counter() - t0
                except OSError:
                    time.sleep(0.0005)
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError("lookout serve did not answer in 10 s")
        finally:
            proc.terminate()
            proc.wait()


class RuntimeApi(BaseHTTPRequestHandler):
    """The three Runtime API calls the function makes; timestamps recorded on the server."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        now = time.perf_counter()
        with state["lock"]:
            state["next_calls"].append(now)
            event = state["events"].pop(0) if state["events"] else None
        if event is None:
            state["idle"].wait()
            return
        body = json.dumps(event[1]).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", event[0])
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:lookout")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-0-0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        state = self.server.state
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        with state["lock"]:
            state["answers"].append((time.perf_counter(), self.path, body))
            state["answered"].notify_all()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def event(name):
    return json.loads((REPO / "events" / name).read_text())


def bootstrap_once(bootstrap, dynamodb, table):
    lock = threading.Lock()
    state = {
        "lock": lock,
        "answered": threading.Condition(lock),
        "idle": threading.Event(),
        "events": [("health", event("health.json")), ("report", event("legacy-csp.json")),
                   ("warm", event("legacy-csp.json")), ("batch", event("chrome-batch.json"))],
        "next_calls": [],
        "answers": [],
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    server.state = state
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "lookout",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/lookout",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "LOOKOUT_TABLE": table,
        "LOOKOUT_ENDPOINT_URL": dynamodb,
    }
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, stdout=log, stderr=log)
    try:
        with lock:
            ok = state["answered"].wait_for(lambda: len(state["answers"]) >= 4, timeout=20)
        if not ok:
            log.seek(0)
            raise RuntimeError(f"bootstrap answered {state['answers']}: "
                               f"{log.read(4096).decode(errors='replace')}")
        for _, path, body in state["answers"]:
            status = json.loads(body).get("statusCode")
            if "/response" not in path or status not in (200, 204):
                raise RuntimeError(f"unexpected answer {path}: {body[:300]!r}")
        init = state["next_calls"][0] - t0
        first = state["answers"][0][0] - t0
        stored = state["answers"][1][0] - t0
        warm = state["answers"][2][0] - state["next_calls"][2]
        batch = state["answers"][3][0] - state["next_calls"][3]
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
        after_init = [line for line in lines if "lookout ready" not in line]
        return init, first, stored, sum(len(line) + 1 for line in after_init) / 4, warm, batch
    finally:
        proc.terminate()
        proc.wait()
        state["idle"].set()
        server.shutdown()
        server.server_close()


def summary(label, xs):
    ms = sorted(x * 1000 for x in xs)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    print(f"| {label} | {ms[0]:.1f} | {statistics.median(ms):.1f} | {p90:.1f} | {len(ms)} |")


def main():
    lookout, bootstrap, dynamodb, table = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    serve = [serve_once(lookout) for _ in range(runs)]
    lam = [bootstrap_once(bootstrap, dynamodb, table) for _ in range(runs)]
    print("| from exec to | min ms | median ms | p90 ms | runs |")
    print("| --- | --- | --- | --- | --- |")
    summary("`lookout serve`: first `/health` answered (new store)", serve)
    summary("`bootstrap`: init done (first Runtime API `next`)", [x[0] for x in lam])
    summary("`bootstrap`: first invocation answered (`health.json`)", [x[1] for x in lam])
    summary("`bootstrap`: first report stored in DynamoDB (`legacy-csp.json`)",
            [x[2] for x in lam])
    summary("`bootstrap`, warm: one legacy report, event to answer", [x[4] for x in lam])
    summary("`bootstrap`, warm: `chrome-batch.json`, event to answer", [x[5] for x in lam])
    print(f"\nfunction log bytes per invocation (its own lines; Lambda adds its platform lines):"
          f" {statistics.median(x[3] for x in lam):.0f}")


if __name__ == "__main__":
    main()
