#!/usr/bin/env python3
"""The hammer of `deno task bench` (issue 8's figure).

N threads, each opening a new TCP connection to 127.0.0.1:PORT as soon as the previous one has
ended (back to back), for a fixed time, binding a chosen local source address first (all of
127.0.0.0/8 is loopback on Linux; wrk cannot bind a source address). Each connection sends one
GET with `Connection: close` and reads until the server closes. It runs as its own process, so
its CPU is not the server's; plain blocking sockets keep its own cost per connection low (it
measured about half the CPU of a Deno `node:net` client doing the same).

Usage: hammer.py '{"port": 8081, "path": "/2/summary", "token": null, "seconds": 10,
                   "connections": 4, "sources": ["127.0.0.1"]}'
Prints one JSON line: {"attempts", "status": {code: count}, "closed", "refused"}, where
`closed` counts connections closed or reset without a response byte (shed at accept).
"""

import json
import socket
import sys
import threading
import time


def main():
    opts = json.loads(sys.argv[1])
    auth = "Authorization: Bearer %s\r\n" % opts["token"] if opts.get("token") else ""
    request = ("GET %s HTTP/1.1\r\nHost: rig\r\n%sConnection: close\r\n\r\n"
               % (opts["path"], auth)).encode()
    end = time.monotonic() + float(opts["seconds"])
    lock = threading.Lock()
    counts = {"attempts": 0, "status": {}, "closed": 0, "refused": 0}

    def loop(index):
        source = opts["sources"][index % len(opts["sources"])]
        mine = {"attempts": 0, "status": {}, "closed": 0, "refused": 0}
        while time.monotonic() < end:
            mine["attempts"] += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((source, 0))
                sock.connect(("127.0.0.1", int(opts["port"])))
                sock.sendall(request)
                head = b""
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    if len(head) < 12:
                        head += data[:12]
                if len(head) >= 12:
                    code = head[9:12].decode("ascii", "replace")
                    mine["status"][code] = mine["status"].get(code, 0) + 1
                else:
                    mine["closed"] += 1
            except ConnectionRefusedError:
                mine["refused"] += 1
            except OSError:
                mine["closed"] += 1
            finally:
                sock.close()
        with lock:
            for key in ("attempts", "closed", "refused"):
                counts[key] += mine[key]
            for code, n in mine["status"].items():
                counts["status"][code] = counts["status"].get(code, 0) + n

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(int(opts["connections"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.stdout.write(json.dumps(counts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
