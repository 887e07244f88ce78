#!/usr/bin/env python3
"""Baseline (a) of `deno task bench`: the server architecture RigForge v1.12 ships today.

A persistent, single-threaded Python 3 standard-library `http.server.HTTPServer` (no
ThreadingMixIn) that serves a pre-built file and computes nothing per request, like RigForge's
`util/api-server.py` (reference/rigforge-contract.md 1.1-1.5): the file is opened and read on every
request (RigForge reads `/run/rigforge-api/summary.json` from tmpfs the same way), the response
carries exactly `Content-Type`, `Content-Length` and `Connection: close` (`send_response_only`:
no `Server:`, no `Date:`), one request per connection, a 10 s socket timeout, and nothing is logged.

Usage: baseline_python.py BIND PORT BODY_FILE [TOKEN]
With TOKEN, a request must carry `Authorization: Bearer TOKEN` (compared with
hmac.compare_digest, as RigForge does) or gets 401. Prints "ready <port>" on stdout once
listening (PORT 0 picks a free port).
"""

import hmac
import http.server
import sys


def make_handler(body_path, token):
    expected = ("Bearer " + token).encode() if token else None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def do_GET(self):  # noqa: N802 (http.server naming)
            if expected is not None:
                value = (self.headers.get("Authorization") or "").strip().encode()
                if not hmac.compare_digest(value, expected):
                    self._send(401, b'{"error":"unauthorized"}')
                    return
            path = self.path.split("?", 1)[0]
            if path not in ("/1/summary", "/2/summary"):
                self._send(404, b'{"error":"not found"}')
                return
            try:
                with open(body_path, "rb") as f:
                    body = f.read()
            except OSError:
                self._send(503, b'{"error":"warming up - first refresh pending"}')
                return
            self._send(200, body)

        def _send(self, status, body):
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args):
            pass

    return Handler


def main():
    if len(sys.argv) not in (4, 5):
        sys.stderr.write("usage: baseline_python.py BIND PORT BODY_FILE [TOKEN]\n")
        return 2
    bind, port, body_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    token = sys.argv[4] if len(sys.argv) == 5 else None
    server = http.server.HTTPServer((bind, port), make_handler(body_path, token))
    sys.stdout.write("ready %d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
