#!/usr/bin/env python3
"""End-to-end tests of flist-hub-worker: the job kinds.

A real redis-server holds the queue, a second one (WorkerJobs) or a real
0-db with a password-protected namespace (WorkerJobsZdb) is the content
backend.
Jobs are created in Redis exactly as queue_job_create does (the hash
hub:job:<id> + XADD hub:jobs), with the input contract of worker/jobs.h and
spool files written by the test. The published flists are checked with the
`flist` command (find, metadata, get, check) and the job hash and events in
Redis. test_worker_reliability.py imports the helpers of this file.
"""
import gzip
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import RedisServer, backend_server, free_port, resp_pipeline  # noqa: E402

BIN = os.environ.get("HUB_BIN", "build/bin")
WORKER = os.path.join(BIN, "flist-hub-worker")
FLIST = os.path.join(BIN, "flist")
PUBLIC_BACKEND = {"host": "hub.example.org", "port": 9900, "namespace": "pubns"}
MSG_NOT_PRESENT = "unauthorized upload, contents is not fully present on backend"


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def flist_cmd(*args, check=True):
    p = subprocess.run([FLIST, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"flist {' '.join(args)}: {p.returncode}: {p.stderr}{p.stdout}")
    return p


def flist_json(*args):
    v = json.loads(flist_cmd(*args).stdout)
    assert v["success"] is True, v
    return v["response"]


def make_tar(entries, gz=True):
    """entries: list of (name, bytes | None for a directory | ("link", target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uname, ti.gname = "root", "root"
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif isinstance(data, tuple):
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, data[1], 0o777
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Hub:
    """Queue redis + content backend (redis, or 0-db with a password-protected
    namespace) + directories + worker processes."""

    def __init__(self, queue_args=(), env=None, backend_kind="redis"):
        self.root = tempfile.mkdtemp(prefix="hub-worker-test-")
        self.backend = backend_server(backend_kind)
        self.ns = self.backend.namespace("hubns", password="hub pass") if backend_kind == "zdb" \
            else self.backend.namespace()
        self.queue = RedisServer(extra_args=queue_args).start()
        self.public = os.path.join(self.root, "public", "users")
        self.upload = os.path.join(self.root, "workdir", "distfiles")
        self.workers = []
        self.env = dict(os.environ)
        self.env.update({
            "HUB_USERDATA_ROOT_PATH": os.path.join(self.root, "public"),
            "HUB_WORKDIR_ROOT_PATH": os.path.join(self.root, "workdir"),
            "HUB_REDIS_URL": f"redis://127.0.0.1:{self.queue.port}/0",
            "HUB_BACKEND_PUBLIC_HOST": PUBLIC_BACKEND["host"],
            "HUB_BACKEND_PUBLIC_PORT": str(PUBLIC_BACKEND["port"]),
            "HUB_BACKEND_PUBLIC_NAME": PUBLIC_BACKEND["namespace"],
            "HUB_JOB_RECLAIM_IDLE": "2",
            "HUB_JOB_HEARTBEAT": "1",
            "HUB_JOB_MAX_DELIVERIES": "3",
            "HUB_WORKER_JOBS": "2",
            "HUB_LOG_LEVEL": "debug",
        })
        for key, value in self.backend.backend_config(self.ns).items():
            self.env["HUB_" + key.upper().replace("-", "_")] = value
        self.env.update(env or {})
        os.makedirs(self.public)
        os.makedirs(self.upload)

    # ---- processes ----
    def start_worker(self, env=None, wait_ready=True, fsize_limit=None):
        """fsize_limit: RLIMIT_FSIZE of the worker in bytes (writes beyond it
        fail with EFBIG, like a full disk)."""
        e = dict(self.env)
        e.update(env or {})
        log = open(os.path.join(self.root, f"worker-{len(self.workers)}.log"), "wb")

        def limit():
            if fsize_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))
        p = subprocess.Popen([WORKER], env=e, stdout=log, stderr=subprocess.STDOUT,
                             preexec_fn=limit)
        p.logfile = log.name
        log.close()
        self.workers.append(p)
        if wait_ready:   # the consumer group exists and the slots started
            deadline = time.time() + 10
            while True:
                if p.poll() is not None:
                    raise AssertionError(f"worker exited with {p.returncode}:\n"
                                         + self.worker_log(p)[-2000:])
                groups = self.redis(["XINFO", "GROUPS", "hub:jobs"])[0]
                if isinstance(groups, list) and groups and "started:" in self.worker_log(p):
                    break
                if time.time() > deadline:
                    raise AssertionError("worker not ready:\n" + self.worker_log(p)[-2000:])
                time.sleep(0.05)
        return p

    def worker_log(self, p):
        with open(p.logfile, errors="replace") as f:
            return f.read()

    def kill_worker(self, p, sig=signal.SIGKILL):
        if p.poll() is None:
            os.kill(p.pid, sig)
        return p.wait(timeout=60)

    def close(self):
        """Stops the workers (SIGTERM, so sanitizer builds check for leaks
        at exit), the servers, removes the files; fails when a worker log
        holds a sanitizer report."""
        reports = []
        for p in self.workers:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
            log = self.worker_log(p)
            if "Sanitizer" in log or "runtime error:" in log:
                reports.append(log)
        self.queue.stop()
        self.backend.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if reports:
            raise AssertionError("sanitizer report in a worker log:\n" + reports[0][-4000:])

    # ---- redis ----
    def redis(self, *cmds):
        return resp_pipeline(self.queue.port, list(cmds))

    def create_job(self, type_, user, input_):
        """What queue_job_create does: the hash, then XADD hub:jobs."""
        jid = str(uuid.uuid4())
        key = "hub:job:" + jid
        self.redis(["HSET", key, "id", jid, "type", type_, "user", user, "state", "queued",
                    "progress", "0", "message", "", "input",
                    json.dumps(input_, separators=(",", ":")),
                    "created", str(int(time.time())), "attempts", "0"],
                   ["XADD", "hub:jobs", "*", "id", jid])
        return jid

    def job(self, jid):
        flat = self.redis(["HGETALL", "hub:job:" + jid])[0]
        return {s(flat[i]): s(flat[i + 1]) for i in range(0, len(flat), 2)}

    def wait_job(self, jid, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.job(jid)
            if j.get("state") in ("done", "failed"):
                return j
            time.sleep(0.05)
        raise AssertionError(f"job {jid} did not end: {self.job(jid)}")

    def events(self, jid):
        out = []
        for eid, fields in self.redis(["XRANGE", f"hub:job:{jid}:events", "-", "+"])[0]:
            f = {s(fields[i]): s(fields[i + 1]) for i in range(0, len(fields), 2)}
            out.append((json.loads(f["data"]), f.get("final") == "1"))
        return out

    # ---- files ----
    def spool(self, data, suffix=".tar.gz"):
        path = os.path.join(self.upload, uuid.uuid4().hex + suffix)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def upload_job(self, user, name, data, metadata=None, filename="archive.tar.gz"):
        spool = self.spool(data)
        jid = self.create_job("upload", user, {"file": spool, "filename": filename,
                                               "name": name, "repository": user,
                                               "metadata": metadata or {}})
        return jid, spool

    def published(self, repo, name):
        return os.path.join(self.public, repo, name)

    def backend_url(self):
        return self.backend.backend_url(self.ns)

    def repo_entries(self, repo):
        d = os.path.join(self.public, repo)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def fetch_tree(self, flist_path):
        return fetch_tree(self.backend_url(), flist_path, self.root)


def fetch_tree(backend_url, flist_path, tmp_root):
    """{path: bytes | None (directory) | ("link", target)} of the flist's
    content, fetched from the backend with `flist get`."""
    dest = tempfile.mkdtemp(prefix="fetch-", dir=tmp_root)
    flist_cmd("get", "--backend", backend_url, flist_path, "/", dest)
    out = {}
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames:
            out["/" + os.path.relpath(os.path.join(dirpath, n), dest)] = None
        for n in filenames:
            full = os.path.join(dirpath, n)
            rel = "/" + os.path.relpath(full, dest)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as f:
                    out[rel] = f.read()
    shutil.rmtree(dest)
    return out


def wait_gone(path, timeout=10):
    """The spool is removed just after the end is recorded: wait for it."""
    deadline = time.time() + timeout
    while os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    return not os.path.exists(path)


def expected_tree(entries):
    out = {}
    for name, data in entries:
        out["/" + name.strip("/")] = data
    return out


BIG = random.Random(7).randbytes(1300 * 1024)   # three chunks
README = b"# Hello\nreadme text\n"
ENTRIES = [
    ("etc", None),
    ("etc/hostname", b"box\n"),
    ("bin", None),
    ("bin/big.bin", BIG),
    ("bin/sh", ("link", "/bin/busybox")),
    (".README.md", README),
    ("empty", b""),
]


class WorkerJobs(unittest.TestCase):
    KIND = "redis"

    @classmethod
    def setUpClass(cls):
        cls.hub = Hub(backend_kind=cls.KIND)
        cls.worker = cls.hub.start_worker()

    @classmethod
    def tearDownClass(cls):
        cls.hub.close()

    def assert_clean(self, repo, spool=None):
        if spool:
            self.assertTrue(wait_gone(spool), "spool file left behind")
        self.assertEqual([n for n in self.hub.repo_entries(repo) if n.startswith(".tmp-")], [])

    # ---------------- upload ----------------
    def test_upload(self):
        hub = self.hub
        jid, spool = hub.upload_job("alice", "image.flist", make_tar(ENTRIES),
                                    metadata={"author": "Alice", "backend": "evil",
                                              "readme": "x", "entrypoint": "/x",
                                              "description": "demo"})
        j = hub.wait_job(jid)
        self.assertEqual(j["state"], "done", j)
        stats = {"regular": 4, "symlink": 1, "directory": 2, "special": 0, "failure": 0,
                 "fullsize": len(BIG) + 4 + len(README)}
        self.assertEqual(json.loads(j["result"]),
                         {"name": "image.flist",
                          "files": {"success": True, "error": None, "response": stats,
                                    "status": 0}})
        self.assertEqual(list(json.loads(j["result"])["files"]), ["success", "error", "response", "status"])
        self.assertEqual(j["progress"], "100")
        self.assertEqual(j["attempts"], "1")
        path = hub.published("alice", "image.flist")
        self.assertEqual(hub.repo_entries("alice"), ["image.flist"])
        self.assert_clean("alice", spool)
        # contents: byte-identical, chunks on the backend
        self.assertEqual(hub.fetch_tree(path), expected_tree(ENTRIES))
        chk = flist_json("check", "--backend", hub.backend_url(), "--json", path)
        self.assertEqual(chk["failure"], 0)
        # metadata: public backend, user keys, protected keys ignored, readme imported
        meta = flist_json("metadata", "--json", path)
        self.assertEqual(sorted(meta), ["author", "backend", "description", "readme"])
        self.assertEqual(flist_json("metadata", "--json", path, "backend")["value"], PUBLIC_BACKEND)
        self.assertEqual(flist_json("metadata", "--json", path, "author")["value"], "Alice")
        readme = flist_json("metadata", "--json", path, "readme")["value"]
        self.assertEqual(readme["readme"], README.decode())
        # events: the original's shapes, final info last
        ev = hub.events(jid)
        self.assertTrue(ev[-1][1])
        self.assertEqual(ev[-1][0], {"status": "info",
                                     "info": {"filename": "image.flist", "flist": stats}})
        self.assertEqual(ev[-2][0], {"status": "update", "message": "Image ready !",
                                     "progress": 100})
        for e, final in ev[:-1]:
            self.assertFalse(final)
            self.assertEqual(list(e), ["status", "message", "progress"])
            self.assertEqual(e["status"], "update")
            self.assertTrue(0 < e["progress"] <= 100, e)
        # the job hash expires after its end
        ttl = hub.redis(["TTL", "hub:job:" + jid])[0]
        self.assertTrue(86000 < ttl <= 86400, ttl)
        ttl = hub.redis(["TTL", f"hub:job:{jid}:events"])[0]
        self.assertTrue(86000 < ttl <= 86400, ttl)

    def test_upload_again_publishes_identical_bytes(self):
        """What makes a re-run after a crash between the rename and the
        record of the end harmless: the same spool and input publish the
        same bytes again (atomically)."""
        hub = self.hub
        data = make_tar(ENTRIES + [("unique.bin", random.Random(99).randbytes(5000))])
        meta = {"author": "Rita", "description": "again"}
        published = []
        for _ in range(2):
            jid, spool = hub.upload_job("rita", "same.flist", data, metadata=meta)
            self.assertEqual(hub.wait_job(jid)["state"], "done")
            # only missing chunks are sent: the second time, none
            self.assertRegex(hub.worker_log(self.worker),
                             f"job {jid}: rita/same.flist published: 5 files, "
                             + ("[1-9][0-9]*" if not published else "0") + " chunks uploaded")
            with open(hub.published("rita", "same.flist"), "rb") as f:
                published.append(f.read())
            time.sleep(1.1)               # a clock-second apart
        self.assertEqual(published[0], published[1])
        self.assertEqual(hub.repo_entries("rita"), ["same.flist"])

    def test_upload_replaces_link_not_target(self):
        """D1: a link at the target name is replaced, never written through."""
        hub = self.hub
        os.makedirs(os.path.join(hub.public, "victim"), exist_ok=True)
        with open(hub.published("victim", "v.flist"), "wb") as f:
            f.write(b"victim's bytes")
        os.makedirs(os.path.join(hub.public, "mallory"), exist_ok=True)
        os.symlink("../victim/v.flist", hub.published("mallory", "m.flist"))
        jid, spool = hub.upload_job("mallory", "m.flist", make_tar([("a", b"1")]))
        self.assertEqual(hub.wait_job(jid)["state"], "done")
        with open(hub.published("victim", "v.flist"), "rb") as f:
            self.assertEqual(f.read(), b"victim's bytes")
        self.assertFalse(os.path.islink(hub.published("mallory", "m.flist")))
        self.assertEqual(hub.fetch_tree(hub.published("mallory", "m.flist")), {"/a": b"1"})

    def test_upload_corrupt_archive(self):
        hub = self.hub
        data = make_tar(ENTRIES)
        for name, payload, needle in [
            ("garbage.flist", b"this is not an archive at all" * 100, None),
            ("truncated.flist", data[: len(data) // 2], None),
            ("escape.flist", make_tar([("ok", b"1"), ("../../etc/evil", b"x")]),
             "climbs above the root"),
        ]:
            with self.subTest(name=name):
                jid, spool = hub.upload_job("carol", name, payload, filename="bad.tar.gz")
                j = hub.wait_job(jid)
                self.assertEqual(j["state"], "failed", j)
                self.assertTrue(j["error"].startswith("bad.tar.gz: "), j["error"])
                if needle:
                    self.assertIn(needle, j["error"])
                    self.assertIn("../../etc/evil", j["error"])
                self.assertNotIn("result", j)
                ev = hub.events(jid)
                self.assertEqual(ev[-1], ({"status": "error", "message": j["error"]}, True))
                self.assertFalse(os.path.exists(hub.published("carol", name)))
                self.assert_clean("carol", spool)

    def test_upload_bad_inputs(self):
        hub = self.hub
        cases = [
            ({"file": "/etc/passwd", "name": "x.flist", "repository": "dave"}, "not in the upload directory"),
            ({"file": os.path.join(hub.upload, "missing.tar.gz"), "name": "x.flist",
              "repository": "dave"}, "missing"),
            ({"file": hub.spool(make_tar([("a", b"1")])), "name": "../x.flist",
              "repository": "dave"}, "invalid name"),
            ({"file": hub.spool(make_tar([("a", b"1")])), "name": "x.flist",
              "repository": ".hidden"}, "invalid repository"),
        ]
        for inp, needle in cases:
            with self.subTest(needle=needle):
                j = hub.wait_job(hub.create_job("upload", "dave", inp))
                self.assertEqual(j["state"], "failed", j)
                self.assertIn(needle, j["error"])
        self.assertTrue(os.path.exists("/etc/passwd"))
        self.assertEqual(hub.repo_entries("dave"), [])
        for c in cases[2:]:
            self.assertTrue(wait_gone(c[0]["file"]))
        # docker conversion is not part of this worker: a clear, quick failure
        t0 = time.time()
        jid = hub.create_job("docker", "dave", {"image": "ubuntu:22.04"})
        j = hub.wait_job(jid, timeout=5)
        self.assertLess(time.time() - t0, 3)
        self.assertEqual((j["state"], j["error"]),
                         ("failed", 'job type "docker" is not supported by this worker'))
        self.assertEqual(hub.events(jid), [({"status": "error", "message": j["error"]}, True)])

    def test_redelivered_ended_job_not_published_again(self):
        """A job that ended but was not acked (crash after the end was
        recorded) is only cleaned up and acked on re-delivery."""
        hub = self.hub
        spool = hub.spool(make_tar([("a", b"1")]))
        jid = str(uuid.uuid4())
        hub.redis(["HSET", "hub:job:" + jid, "id", jid, "type", "upload", "user", "erin",
                   "state", "done", "progress", "100", "message", "", "result",
                   '{"name":"e.flist"}', "created", "1", "attempts", "1",
                   "input", json.dumps({"file": spool, "name": "e.flist", "repository": "erin"})],
                  ["XADD", "hub:jobs", "*", "id", jid])
        deadline = time.time() + 10
        while os.path.exists(spool) and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists(spool))
        time.sleep(0.3)
        pending = hub.redis(["XPENDING", "hub:jobs", "workers"])[0]
        self.assertEqual(pending[0], 0)
        j = hub.job(jid)
        self.assertEqual((j["state"], j["attempts"], j["result"]), ("done", "1", '{"name":"e.flist"}'))
        self.assertEqual(hub.repo_entries("erin"), [])

    # ---------------- upload-flist ----------------
    def make_flist(self, entries, backend_url):
        tmp = tempfile.mkdtemp(dir=self.hub.root)
        arch = os.path.join(tmp, "a.tar.gz")
        with open(arch, "wb") as f:
            f.write(make_tar(entries))
        out = os.path.join(tmp, "out.flist")
        args = ["create"] + (["--backend", backend_url] if backend_url else []) + [arch, out]
        flist_cmd(*args)
        with open(out, "rb") as f:
            data = f.read()
        shutil.rmtree(tmp)
        return data

    def test_upload_flist_accepted(self):
        hub = self.hub
        data = self.make_flist(ENTRIES, hub.backend_url())
        spool = hub.spool(data, ".flist")
        jid = hub.create_job("upload-flist", "frank", {"file": spool, "filename": "mine.flist",
                                                       "name": "mine.flist", "repository": "frank"})
        j = hub.wait_job(jid)
        self.assertEqual(j["state"], "done", j)
        path = hub.published("frank", "mine.flist")
        expected_check = flist_json("check", "--backend", hub.backend_url(), "--json", path)
        self.assertEqual(expected_check.pop("missing"), [])   # our extension, not zflist's
        result = json.loads(j["result"])
        self.assertEqual(result, {"name": "mine.flist",
                                  "files": {"success": True, "error": None,
                                            "response": expected_check, "status": 0}})
        self.assertEqual(expected_check["regular"], 4)
        self.assertEqual(expected_check["failure"], 0)
        self.assertEqual(flist_json("metadata", "--json", path, "backend")["value"], PUBLIC_BACKEND)
        self.assertEqual(hub.fetch_tree(path), expected_tree(ENTRIES))
        self.assert_clean("frank", spool)
        self.assertTrue(hub.events(jid)[-1][1])

    def test_upload_flist_refused_when_chunks_missing(self):
        hub = self.hub
        other = backend_server(self.KIND)
        try:
            data = self.make_flist([("only-elsewhere", b"content not on the hub backend")],
                                   other.backend_url(other.namespace()))
        finally:
            other.stop()
        spool = hub.spool(data, ".flist")
        jid = hub.create_job("upload-flist", "frank", {"file": spool, "filename": "x.flist",
                                                       "name": "missing.flist", "repository": "frank"})
        j = hub.wait_job(jid)
        self.assertEqual((j["state"], j["error"]), ("failed", MSG_NOT_PRESENT))
        self.assertFalse(os.path.exists(hub.published("frank", "missing.flist")))
        self.assert_clean("frank", spool)

    def test_upload_flist_malformed(self):
        hub = self.hub
        good = self.make_flist([("a", b"1")], hub.backend_url())
        raw = gzip.decompress(good)
        for label, payload in [("random", random.Random(3).randbytes(5000)),
                               ("gzip of junk", gzip.compress(b"junk" * 1000)),
                               ("truncated", good[: len(good) // 2]),
                               ("db header corrupted", gzip.compress(raw[:512] + b"\xff" * 100 + raw[612:]))]:
            with self.subTest(label=label):
                spool = hub.spool(payload, ".flist")
                jid = hub.create_job("upload-flist", "gina", {"file": spool, "name": "bad.flist",
                                                              "repository": "gina"})
                j = hub.wait_job(jid)
                self.assertEqual(j["state"], "failed", j)
                self.assertTrue(j["error"].startswith("invalid flist"), j["error"])
                self.assertFalse(os.path.exists(hub.published("gina", "bad.flist")))
                self.assert_clean("gina", spool)
        self.assertEqual(self.worker.poll(), None, "the worker crashed")

    # ---------------- merge ----------------
    def test_merge(self):
        hub = self.hub
        a = [("etc", None), ("etc/a", b"from a"), ("same", b"A wins")]
        b = [("etc", None), ("etc/b", b"from b"), ("same", b"B loses"), ("only-b", b"b")]
        for name, entries in (("a.flist", a), ("b.flist", b)):
            jid, _ = hub.upload_job("henry", name, make_tar(entries))
            self.assertEqual(hub.wait_job(jid)["state"], "done")
        jid = hub.create_job("merge", "ivy", {"name": "merged.flist", "repository": "ivy",
                                              "sources": ["henry/a.flist", "henry/b.flist"]})
        j = hub.wait_job(jid)
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(json.loads(j["result"]), {})
        path = hub.published("ivy", "merged.flist")   # target repository created (D10)
        self.assertEqual(hub.fetch_tree(path), {"/etc": None, "/etc/a": b"from a",
                                                "/etc/b": b"from b", "/same": b"A wins",
                                                "/only-b": b"b"})
        names = [e["path"] for e in flist_json("find", "--json", path)["content"]]
        self.assertEqual(len(names), len(set(names)), names)
        self.assert_clean("ivy")

    def test_merge_errors(self):
        hub = self.hub
        jid, _ = hub.upload_job("jack", "one.flist", make_tar([("x", b"1")]))
        self.assertEqual(hub.wait_job(jid)["state"], "done")
        os.makedirs(os.path.join(hub.public, "jack", "dir.flist"))
        with open(hub.published("jack", "junk.flist"), "wb") as f:
            f.write(b"not an flist")
        cases = [
            ({"name": "t.flist", "sources": "jack/one.flist"}, "malformed json request"),
            ({"name": "t.flist", "sources": []}, "no source found"),
            ({"name": "t.flist", "sources": ["jack/one.flist", "noslash"]}, "malformed source filename"),
            ({"name": "t.flist", "sources": ["jack/one.flist", "jack/nothere"]},
             "jack/nothere.flist does not exists"),
            ({"name": "t.flist", "sources": ["nobody/one.flist"]}, "nobody/one.flist does not exists"),
            ({"name": "t.flist", "sources": ["jack/dir.flist"]}, "jack/dir.flist does not exists"),
            ({"name": "t.flist", "sources": ["jack/x/../../../etc/passwd"]},
             'invalid source "jack/x/../../../etc/passwd": must be <repository>/<name>'),
            ({"name": "", "sources": ["jack/one.flist"]}, "missing build (target) name"),
            ({"name": "a/b.flist", "sources": ["jack/one.flist"]}, "build name not allowed"),
        ]
        for inp, msg in cases:
            with self.subTest(msg=msg):
                inp = dict(inp, repository="kim")
                j = hub.wait_job(hub.create_job("merge", "kim", inp))
                self.assertEqual((j["state"], j["error"]), ("failed", msg))
        j = hub.wait_job(hub.create_job("merge", "kim", {"name": "t.flist", "repository": "kim",
                                                         "sources": ["jack/junk.flist"]}))
        self.assertEqual(j["state"], "failed")
        self.assertTrue(j["error"].startswith("jack/junk.flist: invalid flist"), j["error"])
        self.assertFalse(os.path.exists(hub.published("kim", "t.flist")))
        self.assert_clean("kim")

    def test_merge_source_deleted_meanwhile(self):
        """A source removed between the api's check and the job: clear failure."""
        hub = self.hub
        jid = hub.create_job("merge", "lou", {"name": "t.flist", "repository": "lou",
                                              "sources": ["lou/gone.flist"]})
        j = hub.wait_job(jid)
        self.assertEqual((j["state"], j["error"]), ("failed", "lou/gone.flist does not exists"))


class WorkerJobsZdb(WorkerJobs):
    """Every job above with 0-db as the content backend (a namespace with a
    password), and 0-db's own failure: a namespace that does not exist."""
    KIND = "zdb"

    def test_unknown_namespace_fails_at_once(self):
        hub = Hub(backend_kind="zdb", env={"HUB_BACKEND_INTERNAL_NAME": "nosuchns",
                                           "HUB_WORKER_BACKEND_BACKOFF_MS": "2000"})
        try:
            hub.start_worker()
            t0 = time.time()
            jid, spool = hub.upload_job("uma", "a.flist", make_tar([("a", b"1")]))
            j = hub.wait_job(jid)
            # a refusal is not an outage: no retries, no waiting
            self.assertLess(time.time() - t0, 2)
            self.assertEqual((j["state"], j["error"]),
                             ("failed", f"archive.tar.gz: backend 127.0.0.1:{hub.backend.port}: "
                                        "SELECT nosuchns: Namespace not found"))
            self.assertTrue(wait_gone(spool))
            self.assertEqual(hub.repo_entries("uma"), [])
            data = self.make_flist([("a", b"1")], None)
            j = hub.wait_job(hub.create_job("upload-flist", "uma", {"file": hub.spool(data, ".flist"),
                                                                     "name": "b.flist"}))
            self.assertEqual(j["state"], "failed")
            self.assertIn("SELECT nosuchns: Namespace not found", j["error"])
        finally:
            hub.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
