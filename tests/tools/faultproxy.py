#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for DynamoDB's JSON API, for tests (standard library only).

Usage: faultproxy.py UPSTREAM_URL   (listens on a free 127.0.0.1 port and prints it)

Arm faults with POST /__fault and a JSON object:
  {"throttle": N, "error500": N, "unprocessed": N, "unprocessed_all": N, "slow_ms": MS,
   "op": "BatchWriteItem"}
The next N matching requests get a ProvisionedThroughputExceededException (HTTP 400 with its
error code, so the SDK retries it), an HTTP 500, or (BatchWriteItem) half, or all, of their
items withheld and returned as UnprocessedItems. GET /__fault returns the counters: "seen" and
"injected" in all, and "ops", the requests seen per operation (x-amz-target's last part).
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = sys.argv[1].rstrip("/")
lock = threading.Lock()
state = {"throttle": 0, "error500": 0, "unprocessed": 0, "unprocessed_all": 0, "slow_ms": 0, "op": None,
         "seen": 0, "injected": 0, "ops": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.reply(200, state)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/__fault":
            with lock:
                state.update(json.loads(body or b"{}"))
                self.reply(200, state)
            return
        op = (self.headers.get("x-amz-target") or "").split(".")[-1]
        fault = None
        slow = 0
        with lock:
            state["seen"] += 1
            state["ops"][op] = state["ops"].get(op, 0) + 1
            if state["op"] in (None, op):
                kinds = ["throttle", "error500"]
                if op == "BatchWriteItem":
                    kinds += ["unprocessed", "unprocessed_all"]
                for k in kinds:
                    if state[k] > 0:
                        state[k] -= 1
                        state["injected"] += 1
                        fault = k
                        break
                slow = state["slow_ms"]
        if slow:
            time.sleep(slow / 1000)
        if fault == "throttle":
            return self.reply(400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                                    "message": "injected throttle"},
                              {"x-amzn-errortype": "ProvisionedThroughputExceededException"})
        if fault == "error500":
            return self.reply(500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                                    "message": "injected 500"})
        if fault == "unprocessed_all":
            return self.reply(200, {"UnprocessedItems": json.loads(body)["RequestItems"]})
        held = {}
        if fault == "unprocessed":
            req = json.loads(body)
            for table, reqs in req["RequestItems"].items():
                keep = max(1, len(reqs) // 2)
                held[table] = reqs[keep:]
                req["RequestItems"][table] = reqs[:keep]
            body = json.dumps(req).encode()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                code, data, rh = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            code, data, rh = e.code, e.read(), e.headers
        if held and code == 200:
            out = json.loads(data)
            out.setdefault("UnprocessedItems", {})
            for table, reqs in held.items():
                if reqs:
                    out["UnprocessedItems"].setdefault(table, []).extend(reqs)
            data = json.dumps(out).encode()
        self.send_response(code)
        for k, v in rh.items():
            if k.lower() in ("content-type", "x-amzn-requestid", "x-amzn-errortype"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
