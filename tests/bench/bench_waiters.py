#!/usr/bin/env python3
"""Benchmark of the api's waiting requests (api/waiters.c): N /listen event
streams and N compatibility-mode uploads held open at once while their
jobs finish. Prints, while they wait and after: the api's threads, the
Redis connections (INFO clients), the api's RSS; then whether every client
got its events / its reply.

No worker runs: the bench plays it, as the queue contract says (hash +
events with a final one), so that every job ends when the bench decides.

usage: bench_waiters.py BUILD_DIR [N]     (default N = 2000)
"""
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

BOUNDARY = "waitbench0123456789"


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


def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def redis_pipeline(port, commands):
    """Sends the commands on one connection; returns the number of replies
    read (their content is not needed here)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"".join(resp_encode(c) for c in commands))
        f = s.makefile("rb")
        for _ in commands:
            read_reply(f)


def read_reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        return [read_reply(f) for _ in range(int(rest))]
    return rest


def redis_info_clients(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(resp_encode(["INFO", "clients"]))
        text = read_reply(s.makefile("rb")).decode()
    return int([ln for ln in text.split("\r\n") if ln.startswith("connected_clients:")][0].split(":")[1])


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def tiny_targz():
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        ti = tarfile.TarInfo("f")
        ti.size = 1
        t.addfile(ti, io.BytesIO(b"x"))
    return buf.getvalue()


def main():
    build = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 3 * n:
        sys.exit(f"bench: need {3 * n} open files, the hard limit is {hard}")
    root = tempfile.mkdtemp(prefix="hub-waiters-")
    procs = []
    try:
        rport, aport = free_port(), free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", root,
                                       "--maxclients", "10000"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(rport)
        conf = os.path.join(root, "hub.conf")
        with open(conf, "w") as f:
            f.write(f"listen-port = {aport}\nuserdata-root-path = {root}/public\n"
                    f"workdir-root-path = {root}/workdir\nredis-url = redis://127.0.0.1:{rport}/0\n"
                    f"threads = 2\nmax-connections = {3 * n + 100}\nmax-connections-per-ip = 0\nlog-level = warn\n"
                    f"job-wait-timeout = 600\n" + os.environ.get("BENCH_CONF", "").replace(";", "\n") + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        api = subprocess.Popen([os.path.join(build, "bin", "flist-hub-api"), "-c", conf], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, "api.log"), "wb"))
        procs.append(api)
        wait_port(aport)
        base = proc_status(api.pid)
        print(f"== {n} /listen streams + {n} compatibility-mode uploads waiting at once "
              f"(api threads = 2, no worker: the bench finishes the jobs)")
        print(f"api at rest:      threads {base['Threads']:>4}, RSS {base['VmRSS']}, "
              f"Redis clients {redis_info_clients(rport)}")

        # jobs for the streams, created as queue_job_create does
        stream_jobs = [str(uuid.uuid4()) for _ in range(n)]
        now = str(int(time.time()))
        cmds = []
        for jid in stream_jobs:
            cmds.append(["HSET", "hub:job:" + jid, "id", jid, "type", "upload", "user", "bench",
                         "state", "running", "progress", "0", "message", "", "input", "{}",
                         "created", now, "attempts", "1"])
            cmds.append(["XADD", f"hub:job:{jid}:events", "*", "data",
                         json.dumps({"status": "update", "message": "started", "progress": 1})])
        redis_pipeline(rport, cmds)

        sel = selectors.DefaultSelector()
        conns = {}   # socket -> {"kind", "job"?, "buf", "done"}

        def connect(kind, payload, job=None):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", aport))
            st = {"kind": kind, "job": job, "out": payload, "buf": b"", "done": False}
            conns[s] = st
            sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ, st)

        t0 = time.time()
        for jid in stream_jobs:
            connect("stream", f"GET /listen/{jid} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), jid)
        body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"w.tar.gz\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() \
            + tiny_targz() + f"\r\n--{BOUNDARY}--\r\n".encode()
        upload = (f"POST /api/flist/me/upload HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for _ in range(n):
            connect("wait", upload)

        def pump(seconds):
            end = time.time() + seconds
            while time.time() < end:
                for key, ev in sel.select(timeout=0.1):
                    s, st = key.fileobj, key.data
                    if ev & selectors.EVENT_WRITE and st["out"]:
                        try:
                            k = s.send(st["out"])
                            st["out"] = st["out"][k:]
                        except BlockingIOError:
                            pass
                        if not st["out"]:
                            sel.modify(s, selectors.EVENT_READ, st)
                    if ev & selectors.EVENT_READ:
                        try:
                            data = s.recv(65536)
                        except (BlockingIOError, ConnectionError):
                            continue
                        st["buf"] += data
                        if not data:
                            st["done"] = True
                            sel.unregister(s)
                            s.close()

        # everybody connected and waiting: the compat jobs exist in Redis
        deadline = time.time() + 120
        while time.time() < deadline:
            pump(0.5)
            if len(queued_jobs(rport)) >= n:
                break
        pump(1)
        st = proc_status(api.pid)
        print(f"all waiting:      threads {st['Threads']:>4}, RSS {st['VmRSS']}, "
              f"Redis clients {redis_info_clients(rport)}  ({time.time() - t0:.1f} s to connect all)")

        # the bench plays the worker: every job gets an event and its end
        wait_jobs = queued_jobs(rport)
        t1 = time.time()
        cmds = []
        for jid in stream_jobs + wait_jobs:
            result = json.dumps({"name": "w.flist", "files": {"success": True, "error": None,
                                                               "response": {}, "status": 0}})
            cmds.append(["XADD", f"hub:job:{jid}:events", "*", "data",
                         json.dumps({"status": "update", "message": "working", "progress": 50})])
            cmds.append(["HSET", "hub:job:" + jid, "state", "done", "result", result, "progress", "100"])
            cmds.append(["XADD", f"hub:job:{jid}:events", "*", "data",
                         json.dumps({"status": "success"}), "final", "1"])
        redis_pipeline(rport, cmds)
        mid = proc_status(api.pid)
        deadline = time.time() + 120
        while time.time() < deadline and not all(c["done"] or replied(c) for c in conns.values()):
            pump(0.5)
        elapsed = time.time() - t1
        end = proc_status(api.pid)
        got_stream = sum(1 for c in conns.values() if c["kind"] == "stream"
                         and c["buf"].count(b"\ndata: ") == 3 and b'"status": "success"' in c["buf"])
        got_wait = sum(1 for c in conns.values() if c["kind"] == "wait"
                       and c["buf"].startswith(b"HTTP/1.1 200") and b'"w.flist"' in c["buf"])
        print(f"jobs ending:      threads {mid['Threads']:>4}, RSS {mid['VmRSS']}")
        print(f"after:            threads {end['Threads']:>4}, RSS {end['VmRSS']}, peak RSS {end['VmHWM']}, "
              f"Redis clients {redis_info_clients(rport)}")
        if os.environ.get("SMAPS"):
            os.system(f"awk '/^[0-9a-f]+-/ {{name=$6}} /^Rss:/ {{r[name]+=$2}} END {{for (k in r) if (r[k] > 1000) print r[k], k}}' /proc/{api.pid}/smaps | sort -n | tail")
        print(f"streams with all 3 events and the close: {got_stream}/{n}")
        print(f"compatibility uploads answered 200 with the job's result: {got_wait}/{n}")
        print(f"from the jobs' ends to the last answer: {elapsed:.2f} s")
        for s in list(conns):
            s.close()
        if got_stream != n or got_wait != n:
            bad = [c for c in conns.values() if c["kind"] == "stream"
                   and not (c["buf"].count(b"\ndata: ") == 3 and b'"status": "success"' in c["buf"])]
            if bad:
                print("a stream that missed events received:", bad[0]["buf"][-600:])
            with open(os.path.join(root, "api.log"), errors="replace") as f:
                print("api log:", f.read()[-3000:])
            sys.exit(1)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


def queued_jobs(port):
    """Job ids of hub:jobs (the compatibility-mode uploads' jobs)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(resp_encode(["XRANGE", "hub:jobs", "-", "+"]))
        entries = read_reply(s.makefile("rb")) or []
    return [e[1][1].decode() for e in entries]


def replied(c):
    if c["kind"] == "wait":
        return c["buf"].startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in c["buf"] and c["buf"].endswith(b"\n")
    return b'"status": "success"' in c["buf"]


if __name__ == "__main__":
    main()
