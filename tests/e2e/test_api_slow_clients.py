#!/usr/bin/env python3
"""End-to-end: slow clients cannot take the api down (api/conn_guard.c).

A flood of 2,000 connections that drip their headers a byte a second, from
20 loopback addresses (127.0.0.2-21, under the per-IP limit): while it
lasts, other clients are answered at once; past request-header-timeout
every flood connection is cut, and /metrics counts them. A request body
sent below request-body-min-rate is cut after its 20 s window; a body sent
fast enough over the same time is not.
"""
import resource
import selectors
import socket
import threading
import time
import unittest

from hublib import ApiServer, RedisServer, multipart, run_tests

FLOOD_CONNECTIONS = 2000
FLOOD_ADDRESSES = ["127.0.0.%d" % i for i in range(2, 22)]
HEADER_TIMEOUT_S = 3


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n <= hard or (soft < n and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(api, name):
    text = api.request("GET", "/metrics")[2].decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


class Flood:
    """Connections that send a request's headers one byte a second."""
    HEAD = b"GET /api/repositories HTTP/1.1\r\nHost: hub.test\r\nUser-Agent: slowloris\r\n"

    def __init__(self, port, addresses, per_address):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        for addr in addresses:
            for _ in range(per_address):
                s = socket.socket()
                s.bind((addr, 0))
                s.connect(("127.0.0.1", port))
                s.setblocking(False)
                self.socks.append(s)
                self.sel.register(s, selectors.EVENT_READ)
        self.sent = 0
        self.closed = set()

    def drip(self):
        """One more header byte on every open connection."""
        b = self.HEAD[self.sent % len(self.HEAD):][:1]
        self.sent += 1
        for s in self.socks:
            if s.fileno() in self.closed:
                continue
            try:
                s.send(b)
            except OSError:
                self.closed.add(s.fileno())

    def reap(self, timeout):
        """Notes the connections the server closed."""
        for key, _ in self.sel.select(timeout):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.closed.add(key.fileobj.fileno())
                self.sel.unregister(key.fileobj)
        return len(self.closed)

    def close(self):
        for s in self.socks:
            s.close()
        self.sel.close()


class SlowClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if raise_fd_limit(FLOOD_CONNECTIONS + 512) < FLOOD_CONNECTIONS + 512:
            raise unittest.SkipTest("needs %d file descriptors (ulimit -n)" % (FLOOD_CONNECTIONS + 512))
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "false", "threads": "2", "log-level": "info",
                             "max-connections": "4096",
                             "request-header-timeout": str(HEADER_TIMEOUT_S),
                             "request-body-min-rate": "1K"}, redis=cls.redis).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def test_flood_of_slow_headers(self):
        api = self.api
        cut_before = metric(api, 'hub_connections_cut_total{reason="slow-headers"}')
        t0 = time.monotonic()
        flood = Flood(api.port, FLOOD_ADDRESSES, FLOOD_CONNECTIONS // len(FLOOD_ADDRESSES))
        try:
            opened = time.monotonic() - t0
            # while the flood holds its connections, others are served
            latencies = []
            statuses = []
            deadline = time.monotonic() + HEADER_TIMEOUT_S - 0.5
            while time.monotonic() < deadline:
                flood.drip()
                for path in ("/healthz", "/api/repositories"):
                    t = time.monotonic()
                    st, _, _ = api.request("GET", path, timeout=5)
                    latencies.append(time.monotonic() - t)
                    statuses.append(st)
                time.sleep(0.05)
            rss = rss_kib(api.proc.proc.pid)
            self.assertEqual(flood.reap(0), 0, "flood connections cut before the header timeout")
            self.assertEqual(set(statuses), {200})
            latencies.sort()
            p50, worst = latencies[len(latencies) // 2], latencies[-1]
            self.assertLess(worst, 1.0, "a request waited %.3f s behind the flood" % worst)
            # past the timeout (and the guard's 1 s tick) every one is cut,
            # though each still sends a byte a second
            deadline = time.monotonic() + HEADER_TIMEOUT_S + 5
            while flood.reap(0.2) < len(flood.socks) and time.monotonic() < deadline:
                flood.drip()
            cut_after = time.monotonic() - t0
            self.assertEqual(len(flood.closed), len(flood.socks))
            self.assertLess(cut_after, HEADER_TIMEOUT_S + 3.5)
        finally:
            flood.close()
        cut = metric(api, 'hub_connections_cut_total{reason="slow-headers"}') - cut_before
        self.assertEqual(cut, FLOOD_CONNECTIONS)
        self.assertEqual(api.request("GET", "/healthz")[0], 200)
        print("\n  %d slow connections opened in %.2f s; %d requests beside them: all 200, "
              "p50 %.1f ms, max %.1f ms; api RSS %.1f MiB; all cut after %.1f s (timeout %d s)"
              % (FLOOD_CONNECTIONS, opened, len(latencies), p50 * 1e3, worst * 1e3, rss / 1024,
                 cut_after, HEADER_TIMEOUT_S))

    def test_kept_alive_idle_connection_is_closed(self):
        s = socket.create_connection(("127.0.0.1", self.api.port), timeout=HEADER_TIMEOUT_S + 5)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n")
            self.assertIn(b" 200 ", s.recv(4096))
            t = time.monotonic()
            self.assertEqual(s.recv(4096), b"")   # idle: the header deadline of the next request
            self.assertLess(time.monotonic() - t, HEADER_TIMEOUT_S + 2.5)
        finally:
            s.close()

    def body_sender(self, rate, seconds, result):
        """POSTs an upload body at `rate` bytes/s for `seconds`; result gets
        'cut' when the server closed it, else the reply's status line."""
        ctype, body = multipart({}, [("file", "slow.tar.gz", b"\0" * (rate * (seconds + 10)))])
        s = socket.create_connection(("127.0.0.1", self.api.port), timeout=40)
        try:
            s.sendall(b"POST /api/flist/me/upload?async=1 HTTP/1.1\r\nHost: hub.test\r\n"
                      b"Content-Type: " + ctype.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body))
            sent = 0
            t0 = time.monotonic()
            while sent < len(body):
                want = min(len(body), int((time.monotonic() - t0 + 0.25) * rate))
                try:
                    if want > sent:
                        sent += s.send(body[sent:want])
                except OSError:
                    result.append("cut")
                    return
                if time.monotonic() - t0 > seconds:
                    s.sendall(body[sent:])
                    sent = len(body)
                time.sleep(0.25)
            reply = s.recv(4096)
            result.append("cut" if not reply else reply.split(b"\r\n")[0].decode())
        except OSError:
            result.append("cut")
        finally:
            s.close()

    def test_slow_body_is_cut_and_a_steady_one_is_not(self):
        slow, steady = [], []
        cut_before = metric(self.api, 'hub_connections_cut_total{reason="slow-body"}')
        threads = [threading.Thread(target=self.body_sender, args=(200, 26, slow)),
                   threading.Thread(target=self.body_sender, args=(2048, 26, steady))]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(slow, ["cut"])
        self.assertEqual(steady, ["HTTP/1.1 202 Accepted"])
        self.assertEqual(metric(self.api, 'hub_connections_cut_total{reason="slow-body"}') - cut_before, 1)
        print("\n  200 B/s body cut, 2 KiB/s body served (%.1f s)" % (time.monotonic() - t0))


if __name__ == "__main__":
    run_tests()
