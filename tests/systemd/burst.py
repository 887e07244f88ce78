#!/usr/bin/python3
"""Client load for the systemd integration suite (runs inside the container).

burst.py PORT TOKEN PER_BURST GAP [GAP...]

Sends bursts of PER_BURST concurrent `GET /health` requests to 127.0.0.1:PORT. Before each
burst it waits GAP seconds counted from the moment the previous burst's last answer arrived,
so gaps equal to the server's idle exit land in its exit window (it stops accepting, finishes
and exits while systemd still holds the port). Prints one line:
  ok=N fail=N max_latency=S errors={...}
A request counts as ok only when it got a complete `HTTP/1.1 200` answer.
"""
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
TOKEN = sys.argv[2].encode()
PER_BURST = int(sys.argv[3])
GAPS = [float(g) for g in sys.argv[4:]]

results = []
lock = threading.Lock()


def one():
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: it\r\nAuthorization: Bearer " + TOKEN + b"\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        outcome = "ok" if data.startswith(b"HTTP/1.1 200") else "status " + data[:12].decode("latin-1")
    except Exception as e:  # noqa: BLE001 - every failure is a lost connection here
        outcome = e.__class__.__name__
    with lock:
        results.append((outcome, time.monotonic() - t))


for gap in GAPS:
    time.sleep(gap)
    threads = [threading.Thread(target=one) for _ in range(PER_BURST)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

ok = [r for r in results if r[0] == "ok"]
errors = {}
for outcome, _ in results:
    if outcome != "ok":
        errors[outcome] = errors.get(outcome, 0) + 1
print(f"ok={len(ok)} fail={len(results) - len(ok)} "
      f"max_latency={max([r[1] for r in results] or [0]):.3f}s errors={errors}")
