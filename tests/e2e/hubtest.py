"""Shared helpers of the end-to-end tests: free ports, a real redis-server
started in its own temporary directory and stopped by pid, and a minimal
RESP client for seeding and inspecting it."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server on a free port, in a fresh temporary directory."""

    def __init__(self, extra_args=()):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hub-redis-")
        self.extra_args = list(extra_args)
        self.proc = None

    def free_port(self):
        return free_port()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if resp_command(self.port, [["PING"]]) == ["PONG"]:
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError("bad RESP reply: %r" % line)


def resp_command(port, commands, host="127.0.0.1"):
    """Sends the commands pipelined on one connection; returns the replies."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"".join(_encode(c) for c in commands))
        f = s.makefile("rb")
        return [_read_reply(f) for _ in commands]
