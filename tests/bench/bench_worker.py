#!/usr/bin/env python3
"""Benchmark of the hub's job path (issue 4), driven by bench_worker.sh.

1. The 200 MiB / 5,000-file archive uploaded through the api in
   compatibility mode: the upload transfer time, and the time from the end
   of the upload to the answer, compared with `flist create` of the same
   archive into a fresh backend (the target: at most 1.15x).
   Run twice: with redis-server and with 0-db (the production backend,
   ../shared/tools/zdb or $ZDB_BIN) as the content backend.
2. 200 small uploads (one file each) from 16 concurrent clients with 1 and
   then 2 workers: jobs per second and the p50/p99 time from request to
   answer.

Every run uses fresh servers (queue, content backend), a fresh api and
fresh workers; everything is stopped by pid at the end.

usage: bench_worker.py BUILD_DIR ARCHIVE
"""
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

BOUNDARY = "benchboundary0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def zdb_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("ZDB_BIN") or os.path.join(here, "..", "..", "..", "shared", "tools", "zdb")
    if not os.access(path, os.X_OK):
        sys.exit("bench: 0-db not found: set ZDB_BIN to the zdb binary (../shared/tools/zdb)")
    return path


class Stack:
    """queue redis + content backend (redis-server or 0-db) + api + n
    workers, in a temp directory."""

    def __init__(self, build, workers, log_level="warn", backend="redis"):
        self.build = build
        self.root = tempfile.mkdtemp(prefix="hub-bench-")
        self.procs = []
        self.qport, self.bport, self.port = free_port(), free_port(), free_port()
        for port in (self.qport, self.bport):
            d = os.path.join(self.root, f"server-{port}")
            os.makedirs(d)
            if port == self.bport and backend == "zdb":
                self.spawn([zdb_binary(), "--listen", "127.0.0.1", "--port", str(port), "--mode", "user",
                            "--data", d + "/data", "--index", d + "/index"])
            else:
                self.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", d])
            wait_port(port)
        self.backend_url = (f"zdb://127.0.0.1:{self.bport}/default" if backend == "zdb"
                            else f"redis://127.0.0.1:{self.bport}/0")
        self.conf = os.path.join(self.root, "hub.conf")
        with open(self.conf, "w") as f:
            f.write(f"""listen-addr = 127.0.0.1
listen-port = {self.port}
userdata-root-path = {self.root}/public
workdir-root-path = {self.root}/workdir
redis-url = redis://127.0.0.1:{self.qport}/0
backend-internal-kind = {backend}
backend-internal-host = 127.0.0.1
backend-internal-port = {self.bport}
backend-internal-name = {"default" if backend == "zdb" else "0"}
log-level = {log_level}
max-connections = 256
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        self.spawn([os.path.join(build, "bin", "flist-hub-api"), "-c", self.conf], env=env)
        wait_port(self.port)
        self.workers = []
        for _ in range(workers):
            self.spawn([os.path.join(build, "bin", "flist-hub-worker"), "-c", self.conf], env=env)
            self.workers.append(len(self.procs) - 1)

    def spawn(self, argv, env=None):
        log = open(os.path.join(self.root, f"proc-{len(self.procs)}.log"), "wb")
        self.procs.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def log(self, index):
        with open(os.path.join(self.root, f"proc-{index}.log"), errors="replace") as f:
            return f.read()

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def multipart_head(filename):
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(port, filename, data=None, path=None):
    """POST /api/flist/me/upload (compat mode) from memory or a file.
    Returns (status, t_start, t_body_sent, t_answer, body)."""
    head = multipart_head(filename)
    size = len(data) if data is not None else os.path.getsize(path)
    req = (f"POST /api/flist/me/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
           f"Content-Length: {len(head) + size + len(TAIL)}\r\nConnection: close\r\n\r\n").encode()
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=900) as s:
        s.sendall(req + head)
        if data is not None:
            s.sendall(data)
        else:
            with open(path, "rb") as f:
                s.sendfile(f)
        s.sendall(TAIL)
        t1 = time.perf_counter()
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        t2 = time.perf_counter()
    resp = b"".join(chunks)
    status = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else 0
    return status, t0, t1, t2, resp.split(b"\r\n\r\n", 1)[-1]


def small_tar(i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        d = f"small upload {i}\n".encode() * 20
        ti = tarfile.TarInfo(f"file-{i}.txt")
        ti.size = len(d)
        t.addfile(ti, io.BytesIO(d))
    return buf.getvalue()


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def bench_large(build, archive, backend, reps=5):
    """Alternates `flist create` and the api upload `reps` times (the machine
    is small and shared: single runs vary by +-30 %) and compares medians."""
    print(f"== large upload into {backend}: {archive} ({os.path.getsize(archive) / 1048576:.1f} MiB), "
          f"{reps} runs each, fresh servers every run")
    refs, transfers, answers, jobs = [], [], [], []
    for _ in range(reps):
        st = Stack(build, 0, backend=backend)
        try:
            out = os.path.join(st.root, "ref.flist")
            t0 = time.perf_counter()
            subprocess.run([os.path.join(build, "bin", "flist"), "create", "--backend",
                            st.backend_url, archive, out], check=True, capture_output=True)
            refs.append(time.perf_counter() - t0)
        finally:
            st.close()
        st = Stack(build, 1, log_level="info", backend=backend)
        try:
            time.sleep(0.5)
            status, t0, t1, t2, body = upload(st.port, "tree-5000.tar.gz", path=archive)
            if status != 200:
                raise RuntimeError(f"upload failed: {status} {body[:300]!r}")
            transfers.append(t1 - t0)
            answers.append(t2 - t1)
            m = re.search(r"done in (\d+) ms", st.log(st.workers[0]))
            jobs.append(int(m.group(1)) / 1000 if m else float("nan"))
        finally:
            st.close()
    fmt = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(f"flist create (fresh backend):          median {median(refs):6.2f} s  [{fmt(refs)}]")
    print(f"api upload transfer (client -> spool): median {median(transfers):6.2f} s  [{fmt(transfers)}]")
    print(f"end of upload -> answer:               median {median(answers):6.2f} s  [{fmt(answers)}]")
    print(f"  of which the worker's job (its log): median {median(jobs):6.2f} s  [{fmt(jobs)}]")
    print(f"ratio of medians answer / flist create: {median(answers) / median(refs):.3f} "
          f"(target <= 1.15)")


def bench_small(build, workers, n=200, clients=16):
    st = Stack(build, workers)
    lat, errors = [], []
    lock = threading.Lock()
    bodies = [small_tar(i) for i in range(n)]
    nxt = [0]

    def client():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            status, t0, t1, t2, body = upload(st.port, f"small-{i}.tar.gz", data=bodies[i])
            with lock:
                if status == 200:
                    lat.append(t2 - t0)
                else:
                    errors.append((status, body[:200]))

    try:
        time.sleep(0.5)
        for i in range(8):   # warm-up (connections, page cache), not counted
            upload(st.port, f"warm-{i}.tar.gz", data=small_tar(10000 + i))
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        st.close()
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"{workers} worker(s): {n} uploads / {clients} clients: {len(lat)} ok, "
          f"{len(errors)} failed, {wall:6.2f} s, {len(lat) / wall:7.1f} jobs/s, "
          f"p50 {p(0.50):6.1f} ms, p99 {p(0.99):6.1f} ms")
    if errors:
        print("  first error:", errors[0])


def main():
    build, archive = sys.argv[1], sys.argv[2]
    print(f"machine: {os.cpu_count()} cores")
    bench_large(build, archive, "redis")
    bench_large(build, archive, "zdb")
    print("== 200 small uploads (compatibility mode)")
    bench_small(build, 1)
    bench_small(build, 2)


if __name__ == "__main__":
    main()
