#!/usr/bin/env python3
"""Deployment, for real: the container images (deployment/docker/Dockerfile)
built on Debian 12 bases made here with debootstrap (no registry to pull
from: deployment/docker/make-bases.sh), and the compose stack
(deployment/docker-compose.yml, Debian's docker-compose) brought up on a
private dockerd: Redis with AOF, a local 0-db image holding ../shared/tools/zdb
(ZDB_IMAGE), two api replicas behind the proxy, two workers. An archive is
uploaded through the proxy, the flist downloaded and read with `flist get`
against the published 0-db port; a worker is killed in the middle of a job
and the job still finishes; the logs are JSON lines carrying the request id
from the proxy to the worker. Everything is removed at the end, also on
failure.

Needs root, docker.io, docker-compose, debootstrap (deployment/install-deps.sh)
and the zdb binary: skipped outside CI when one is missing, failed under
CI=true."""
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import dockerd  # noqa: E402
from hublib import HUB_BIN, HUB_SOURCE, free_port, zdb_binary  # noqa: E402

SRC = os.path.abspath(HUB_SOURCE)
COMPOSE = shutil.which("docker-compose", path="/usr/bin:/bin") or "/usr/bin/docker-compose"
PROJECT = "hubtest%d" % os.getpid()
TAG = "test"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def prerequisites():
    why = dockerd.dockerd_missing()
    if not why and not os.access(COMPOSE, os.X_OK):
        why = "docker-compose not found (Debian package docker-compose)"
    if not why and not shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin") and \
            not os.environ.get("HUB_BASE_CACHE_READY"):
        why = "debootstrap not found"
    if not why and not zdb_binary():
        why = "zdb not found (ZDB_BIN or ../shared/tools/zdb)"
    if why:
        if CI:
            raise AssertionError(why + " (CI=true: the deployment test must run)")
        raise unittest.SkipTest(why)


def random_tree_targz(size):
    """A tar.gz of one large incompressible file and a small one; returns
    (bytes, {path: sha256})."""
    big = os.urandom(size)
    small = b"hello from the compose test\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as t:
        for name, data in (("data/big.bin", big), ("data/hello.txt", small)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue(), {"/data/big.bin": hashlib.sha256(big).hexdigest(),
                            "/data/hello.txt": hashlib.sha256(small).hexdigest()}


def multipart(name, filename, data, boundary="composetestboundary"):
    head = ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()
    return "multipart/form-data; boundary=" + boundary, head + data + ("\r\n--%s--\r\n" % boundary).encode()


class ComposeStack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prerequisites()
        cls.tmp = tempfile.mkdtemp(prefix="hub-compose-")
        cls.d = dockerd.Dockerd(storage_driver=dockerd.best_storage_driver())
        cls.d.__enter__()
        cls.up = False
        try:
            cls.build_images()
            cls.start_stack()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "up", False):
                cls.logs = cls.compose("logs", "--no-color", check=False).stdout
                cls.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)
        finally:
            cls.d.__exit__(None, None, None)
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---- helpers ----
    @classmethod
    def compose(cls, *args, check=True, timeout=900):
        env = cls.d.env()
        env.update(cls.stack_env)
        r = subprocess.run([COMPOSE, "-p", PROJECT, "-f", os.path.join(SRC, "deployment", "docker-compose.yml")]
                           + list(args), env=env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("docker-compose %s: exit %d\n%s\n%s" % (" ".join(args), r.returncode,
                                                                    r.stdout[-3000:], r.stderr[-5000:]))
        return r

    @classmethod
    def build_images(cls):
        t0 = time.time()
        env = cls.d.env()
        env["DOCKER"] = "%s -H unix://%s" % (dockerd.DOCKER, cls.d.sock)
        r = subprocess.run(["bash", os.path.join(SRC, "deployment/docker/make-bases.sh")], env=env,
                           capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError("make-bases.sh failed:\n" + r.stderr[-4000:])
        cls.t_bases = time.time() - t0
        args = []
        for k in ("BUILD", "RUNTIME", "PROXY"):
            args += ["--build-arg", "%s_BASE=flist-hub/%s-base:bookworm" % (k, k.lower())]
        t0 = time.time()
        for target in ("api", "worker", "proxy"):
            cls.d.docker("build", "-q", "-f", os.path.join(SRC, "deployment/docker/Dockerfile"),
                         "--target", target, "-t", "flist-hub/%s:%s" % (target, TAG), *args, SRC)
        cls.t_build = time.time() - t0
        # the stand-ins of the published images: 0-db from ../shared/tools/zdb,
        # Redis from Debian's redis-server
        ctx = os.path.join(cls.tmp, "zdb-image")
        os.makedirs(ctx)
        shutil.copy(zdb_binary(), os.path.join(ctx, "zdb"))
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM flist-hub/runtime-base:bookworm\nCOPY zdb /bin/zdb\nENTRYPOINT [\"/bin/zdb\"]\n")
        cls.d.docker("build", "-q", "-t", "local/zdb:%s" % TAG, ctx)
        ctx = os.path.join(cls.tmp, "redis-image")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM flist-hub/redis-base:bookworm\nRUN mkdir -p /data && chown redis:redis /data\n"
                    "USER redis\nWORKDIR /data\nCMD [\"redis-server\"]\n")
        cls.d.docker("build", "-q", "-t", "local/redis:%s" % TAG, ctx)

    @classmethod
    def start_stack(cls):
        cls.http_port = free_port()
        cls.zdb_port = free_port()
        cls.seed = os.urandom(32).hex()
        cls.stack_env = {
            "HUB_TAG": TAG, "HUB_BIND": "127.0.0.1",
            "HUB_HTTP_PORT": str(cls.http_port), "ZDB_PUBLIC_PORT": str(cls.zdb_port),
            "HUB_PUBLIC_HOST": "127.0.0.1",
            "HUB_PUBLIC_WEBSITE": "http://127.0.0.1:%d" % cls.http_port,
            "HUB_AUTHENTICATION": "true", "HUB_THREEBOT_SEED": cls.seed,
            "HUB_JOB_RECLAIM_IDLE": "6", "HUB_JOB_HEARTBEAT": "2",
            "ZDB_IMAGE": "local/zdb:%s" % TAG, "REDIS_IMAGE": "local/redis:%s" % TAG,
        }
        t0 = time.time()
        cls.up = True
        cls.compose("up", "-d", "--no-build", "--scale", "worker=2")
        cls.wait_http(120)
        cls.t_up = time.time() - t0
        cls.token = cls.exec_in("api1", "flist-hub-api", "token", "alice").strip()

    @classmethod
    def container_ids(cls, service):
        return cls.compose("ps", "-q", service).stdout.split()

    @classmethod
    def exec_in(cls, service, *argv):
        cid = cls.container_ids(service)[0]
        return cls.d.docker("exec", cid, *argv).stdout

    @classmethod
    def request(cls, method, path, headers=None, body=None, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", cls.http_port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    @classmethod
    def wait_http(cls, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                st, _, body = cls.request("GET", "/readyz", timeout=5)
                if st == 200:
                    return
                last = (st, body)
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(1)
        ps = cls.compose("ps", check=False).stdout
        raise AssertionError("the stack did not answer on /readyz: %r\n%s" % (last, ps))

    def auth(self, extra=None):
        h = {"Authorization": "Bearer " + self.token}
        h.update(extra or {})
        return h

    def wait_job(self, jid, timeout=180):
        deadline = time.time() + timeout
        while True:
            st, _, b = self.request("GET", "/api/jobs/" + jid)
            self.assertEqual(st, 200, b)
            job = json.loads(b)["payload"]
            if job["state"] in ("done", "failed") or time.time() > deadline:
                return job
            time.sleep(0.2)

    def flist_get(self, name, expect):
        st, _, flist = self.request("GET", "/alice/" + name)
        self.assertEqual(st, 200)
        self.assertEqual(flist[:2], b"\x1f\x8b")   # a gzip'd tar
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(flist)
        meta = subprocess.run([os.path.join(HUB_BIN, "flist"), "metadata", "--json", path, "backend"],
                              capture_output=True, text=True)
        self.assertIn(str(self.zdb_port), meta.stdout, meta.stderr)
        dest = tempfile.mkdtemp(prefix="get-", dir=self.tmp)
        r = subprocess.run([os.path.join(HUB_BIN, "flist"), "get", "--backend",
                            "zdb://127.0.0.1:%d/default" % self.zdb_port, path, "/", dest],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {}
        for dp, _, files in os.walk(dest):
            for n in files:
                with open(os.path.join(dp, n), "rb") as f:
                    got["/" + os.path.relpath(os.path.join(dp, n), dest)] = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(got, expect)

    # ---- tests ----
    def test_1_images(self):
        for target in ("api", "worker"):
            cfg = json.loads(self.d.docker("inspect", "flist-hub/%s:%s" % (target, TAG)).stdout)[0]["Config"]
            self.assertEqual(cfg["User"], "10001:10001")
            self.assertTrue(cfg["Healthcheck"]["Test"], target)
            self.assertIn("HUB_LOG_FORMAT=json", cfg["Env"])
            # the runtime holds no compiler and no -dev package
            r = self.d.docker("run", "--rm", "--entrypoint", "sh", "flist-hub/%s:%s" % (target, TAG), "-c",
                              "command -v cc gcc cmake; dpkg -l | grep -c -- '-dev ' || true; id -u")
            self.assertEqual(r.stdout.split(), ["0", "10001"], r.stdout)
        # a configuration file mounted at /etc/flist-hub/hub.conf is read
        # (here: the seed `token` needs, given by no variable)
        conf = os.path.join(self.tmp, "mounted.conf")
        with open(conf, "w") as f:
            f.write("threebot-seed = %s\n" % ("ab" * 32))
        r = self.d.docker("run", "--rm", "-v", conf + ":/etc/flist-hub/hub.conf:ro",
                          "flist-hub/api:%s" % TAG, "token", "bob")
        self.assertGreater(len(r.stdout.strip()), 40, r.stdout)
        r = self.d.docker("run", "--rm", "flist-hub/api:%s" % TAG, "token", "bob", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("threebot-seed is not configured", r.stderr)
        # every api and worker container is healthy (HEALTHCHECK ran)
        deadline = time.time() + 90
        while True:
            states = {}
            for svc in ("api1", "api2", "worker", "proxy"):
                for cid in self.container_ids(svc):
                    s = json.loads(self.d.docker("inspect", cid).stdout)[0]["State"]
                    states[cid[:12] + "/" + svc] = s.get("Health", {}).get("Status")
            if all(v == "healthy" for v in states.values()) or time.time() > deadline:
                break
            time.sleep(2)
        self.assertEqual(set(states.values()), {"healthy"}, states)
        self.assertEqual(len(states), 5, states)
        # read-only root file system
        r = self.d.docker("exec", self.container_ids("api1")[0], "sh", "-c",
                          "touch /opt/x 2>&1; touch /var/lib/flist-hub/workdir/x && echo writable", check=False)
        self.assertIn("Read-only file system", r.stdout)
        self.assertIn("writable", r.stdout)
        print("\n  bases %.1f s, images %.1f s, stack up %.1f s" % (self.t_bases, self.t_build, self.t_up),
              file=sys.stderr)

    def test_2_upload_through_the_proxy(self):
        data, expect = random_tree_targz(1 << 20)
        ctype, body = multipart("file", "app.tar.gz", data)
        t0 = time.time()
        st, h, b = self.request("POST", "/api/flist/me/upload",
                                self.auth({"Content-Type": ctype, "X-Request-Id": "compose-up-1"}), body)
        self.assertEqual(st, 200, b)
        self.assertEqual(json.loads(b)["payload"]["name"], "app.flist")
        print("\n  upload of a 1 MiB archive through the proxy: %.2f s" % (time.time() - t0), file=sys.stderr)
        # both replicas answer the same address and see the same volume
        seen = set()
        for _ in range(8):
            st, h, b = self.request("GET", "/api/flist/alice")
            self.assertEqual(st, 200)
            self.assertIn("app.flist", [e["name"] for e in json.loads(b)])
        for svc in ("api1", "api2"):
            out = self.exec_in(svc, "sh", "-c", "ls /var/lib/flist-hub/public/users/alice")
            self.assertIn("app.flist", out.split())
            seen.add(svc)
        self.assertEqual(seen, {"api1", "api2"})
        self.flist_get("app.flist", expect)
        type(self).kept = {"app.flist": expect}

    def test_3_worker_killed_mid_job(self):
        workers = self.container_ids("worker")
        self.assertEqual(len(workers), 2, workers)
        data, expect = random_tree_targz(8 << 20)
        ctype, body = multipart("file", "big.tar.gz", data)
        zdb = self.container_ids("zdb")[0]
        # 0-db frozen: the job that starts cannot end until it thaws
        self.d.docker("pause", zdb)
        try:
            st, _, b = self.request("POST", "/api/flist/me/upload?async=1",
                                    self.auth({"Content-Type": ctype, "X-Request-Id": "compose-kill-1"}), body)
            self.assertEqual(st, 202, b)
            jid = json.loads(b)["payload"]["job"]
            redis = self.container_ids("redis")[0]
            deadline = time.time() + 60
            owner = None
            while time.time() < deadline and not owner:
                out = self.d.docker("exec", redis, "redis-cli", "--raw", "XPENDING", "hub:jobs", "workers",
                                    "-", "+", "10").stdout.split()
                # entry id, consumer "<hostname>:<pid>:<slot>", idle, deliveries
                if len(out) >= 4:
                    owner = out[1].split(":")[0]
                time.sleep(0.2)
            self.assertIsNotNone(owner, "no worker took the job")
            victim = [w for w in workers if w.startswith(owner)]
            self.assertEqual(len(victim), 1, (owner, workers))
            self.d.docker("kill", victim[0])
        finally:
            self.d.docker("unpause", zdb, check=False)
        job = self.wait_job(jid)
        self.assertEqual(job["state"], "done", job)
        self.assertGreaterEqual(job["attempts"], 2, job)
        self.assertEqual(job["request_id"], "compose-kill-1")
        self.flist_get("big.flist", expect)
        type(self).kept = dict(getattr(self, "kept", {}), **{"big.flist": expect})
        type(self).kept_job = jid
        # the other worker finished it: its JSON lines carry the request id
        other = [w for w in workers if w != victim[0]][0]
        lines = self.d.docker("logs", other).stderr.splitlines()
        mine = [json.loads(l) for l in lines if jid in l]
        self.assertTrue(any("done in" in v["msg"] for v in mine), mine)
        # (the reclaim notice comes before the job's hash, and its id, is read)
        run = [v for v in mine if "reclaimed" not in v["msg"]]
        self.assertGreaterEqual(len(run), 2, mine)
        self.assertTrue(all(v.get("request_id") == "compose-kill-1" for v in run), mine)

    def test_4_logs_are_json_with_the_request_id(self):
        st, h, _ = self.request("GET", "/nobody/x.flist", {"X-Request-Id": "compose-log-1"})
        self.assertEqual(st, 404)
        self.assertEqual(h.get("x-request-id"), "compose-log-1")
        time.sleep(1)
        found = []
        for svc in ("api1", "api2"):
            out = self.d.docker("logs", self.container_ids(svc)[0]).stderr
            for line in out.splitlines():
                v = json.loads(line)      # every line is one JSON object
                for k in ("time", "level", "msg"):
                    self.assertIn(k, v)
                if v.get("request_id") == "compose-log-1" and v["msg"] == "access":
                    found.append(v)
        self.assertEqual(len(found), 1, found)
        self.assertEqual((found[0]["status"], found[0]["route"]), (404, "/<repo>/<name>.flist"))
        proxy = self.d.docker("logs", self.container_ids("proxy")[0]).stdout.splitlines()
        self.assertTrue(any(json.loads(l).get("request_id") == "compose-log-1" for l in proxy), proxy[-5:])

    def test_5_backup_and_restore(self):
        """README "Backups": the three volumes (repository directory, Redis's
        AOF, 0-db) saved with the stack stopped, the stack destroyed with its
        volumes, the volumes restored into a new stack: flists, chunks and
        job history are back."""
        kept = getattr(self, "kept", {})
        self.assertEqual(set(kept), {"app.flist", "big.flist"}, "tests 2 and 3 must run first")
        backup = os.path.join(self.tmp, "backup")
        os.makedirs(backup)
        volumes = ("hub-data", "redis-data", "zdb-data")
        img = "flist-hub/runtime-base:bookworm"
        self.compose("stop", "-t", "30")
        for v in volumes:
            self.d.docker("run", "--rm", "-v", "%s_%s:/v:ro" % (PROJECT, v), "-v", backup + ":/backup", img,
                          "tar", "--numeric-owner", "-C", "/v", "-cf", "/backup/%s.tar" % v, ".")
        sizes = {v: os.path.getsize(os.path.join(backup, v + ".tar")) for v in volumes}
        self.compose("down", "-v", "-t", "5")
        self.assertFalse([v for v in self.d.docker("volume", "ls", "-q").stdout.split() if v.startswith(PROJECT)])
        # a new stack: volumes created empty, filled from the backup, then started
        self.compose("up", "--no-start", "--scale", "worker=2")
        for v in volumes:
            self.d.docker("run", "--rm", "-v", "%s_%s:/v" % (PROJECT, v), "-v", backup + ":/backup:ro", img,
                          "tar", "--numeric-owner", "-C", "/v", "-xf", "/backup/%s.tar" % v)
        self.compose("up", "-d", "--no-build", "--scale", "worker=2")
        self.wait_http(120)
        st, _, b = self.request("GET", "/api/flist/alice")
        self.assertEqual(st, 200, b)
        self.assertEqual({e["name"] for e in json.loads(b)}, {"app.flist", "big.flist"})
        for name, expect in kept.items():
            self.flist_get(name, expect)
        job = self.wait_job(self.kept_job, timeout=10)
        self.assertEqual((job["state"], job["request_id"]), ("done", "compose-kill-1"))
        print("\n  backup sizes: %s" % ", ".join("%s %.1f MiB" % (v, n / 1048576) for v, n in sizes.items()),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
