#!/usr/bin/env python3
"""Plays systemd's part for an Accept=no socket unit, for rigforge-api's socket-activation tests.

It binds and listens once, then loops: wait until the socket is readable (a client is queued in
the backlog), fork, put the listening socket on fd 3 with LISTEN_FDS=1 and LISTEN_PID=<child pid>,
exec the service, wait for it to exit, and start over. The socket (and its backlog) stays open in
this process across service exits, exactly as systemd keeps it, so a client that connects while
the service is shutting down is served by the next start.

Usage: fake_systemd.py [--host 127.0.0.1] [--port 0] [--max-starts N] -- command [args...]

Protocol on stdout (one line each, flushed):
  LISTENING <port>          once, after listen()
  START <pid>               each time the service is started
  EXIT <pid> <code>         each time it exits (code = exit status, or -signal)
  STOPPED                   on SIGTERM/SIGINT after the running service was stopped

SIGTERM/SIGINT: forwards SIGTERM to a running service, waits for it, prints STOPPED, exits 0.
"""

import os
import select
import signal
import socket
import sys


def parse_args(argv):
    host, port, max_starts = "127.0.0.1", 0, 0
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag = argv[i]
        if i + 1 >= len(argv):
            sys.exit("fake_systemd: %s needs a value" % flag)
        value = argv[i + 1]
        if flag == "--host":
            host = value
        elif flag == "--port":
            port = int(value)
        elif flag == "--max-starts":
            max_starts = int(value)
        else:
            sys.exit("fake_systemd: unknown flag %s" % flag)
        i += 2
    command = argv[i + 1:]
    if not command:
        sys.exit("fake_systemd: missing -- command")
    return host, port, max_starts, command


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    host, port, max_starts, command = parse_args(sys.argv[1:])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    listener.bind((host, port))
    listener.listen(512)
    say("LISTENING %d" % listener.getsockname()[1])

    state = {"child": None, "stop": False}

    def on_signal(_signum, _frame):
        state["stop"] = True
        if state["child"] is not None:
            try:
                os.kill(state["child"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    starts = 0
    while not state["stop"]:
        try:
            readable, _, _ = select.select([listener], [], [], 0.2)
        except InterruptedError:
            continue
        if not readable or state["stop"]:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                if listener.fileno() != 3:
                    os.dup2(listener.fileno(), 3, inheritable=True)
                os.set_inheritable(3, True)  # dup2(3, 3) would keep FD_CLOEXEC
                env = dict(os.environ)
                env["LISTEN_FDS"] = "1"
                env["LISTEN_PID"] = str(os.getpid())
                env.pop("LISTEN_FDNAMES", None)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.execvpe(command[0], command, env)
            finally:
                os._exit(127)
        state["child"] = pid
        starts += 1
        say("START %d" % pid)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        state["child"] = None
        code = os.waitstatus_to_exitcode(status)
        say("EXIT %d %d" % (pid, code))
        if max_starts and starts >= max_starts:
            break
    listener.close()
    say("STOPPED")


if __name__ == "__main__":
    main()
