#!/usr/bin/env python3
"""End-to-end tests of the whole hub: the real flist-hub-api and
flist-hub-worker sharing one configuration file, a redis-server for the
queue and another one (WholeHub) or a real 0-db (WholeHubZdb) as the content
backend.

Uploads in compatibility mode (the original's reply) and in async mode (job
status route and the /listen event stream), upload-flist accepted and
refused, merge success and failures; the published flists are listed,
downloaded and read back with the `flist` command.
"""
import io
import json
import os
import sys
import tarfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import ApiServer, Process, RedisServer, backend_server, multipart  # noqa: E402
from test_worker import (BIG, ENTRIES, MSG_NOT_PRESENT, PUBLIC_BACKEND, README,  # noqa: E402
                         expected_tree, fetch_tree, flist_cmd, flist_json, make_tar)

BIN = os.environ.get("HUB_BIN", "build/bin")
ME = "Administrator"


class HubCase(unittest.TestCase):
    """A whole hub for a test class: api, worker, queue Redis and a content
    backend (KIND redis or zdb), configured with CONFIG on top of the
    common keys. No tests of its own."""
    KIND = "redis"
    CONFIG = {}

    @classmethod
    def setUpClass(cls):
        cls.backend = backend_server(cls.KIND)
        cls.ns = cls.backend.namespace("hub", password="pw") if cls.KIND == "zdb" \
            else cls.backend.namespace()
        cls.queue = RedisServer().__enter__()
        cls.api = ApiServer({
            "redis-url": cls.queue.url,
            **cls.backend.backend_config(cls.ns),
            "backend-public-host": PUBLIC_BACKEND["host"],
            "backend-public-port": str(PUBLIC_BACKEND["port"]),
            "backend-public-name": PUBLIC_BACKEND["namespace"],
            "job-wait-timeout": "60",
            **cls.CONFIG,
        }).__enter__()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HUB_") or k in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE")}
        cls.worker = Process([os.path.join(BIN, "flist-hub-worker"), "-c", cls.api.conf_path],
                             env=env, log_path=os.path.join(cls.api.root, "worker.log"))

    @classmethod
    def tearDownClass(cls):
        status = cls.worker.stop()
        log = cls.worker.output()
        cls.api.__exit__(None, None, None)
        cls.backend.__exit__(None, None, None)
        cls.queue.__exit__(None, None, None)
        if "Sanitizer" in log or "runtime error:" in log or status != 0:
            raise AssertionError(f"worker exit status {status}, log:\n{log[-4000:]}")

    def backend_url(self):
        return self.backend.backend_url(self.ns)

    def fetch(self, path):
        return fetch_tree(self.backend_url(), path, self.api.root)

    def wait_job(self, jid, timeout=30):
        """The job's status payload once it has finished."""
        deadline = time.time() + timeout
        while True:
            status, job = self.api.json("GET", f"/api/jobs/{jid}")
            self.assertEqual(status, 200, job)
            if job["payload"]["state"] in ("done", "failed") or time.time() > deadline:
                return job["payload"]
            time.sleep(0.05)

    def post_file(self, route, filename, data, fields=None, headers=None):
        ctype, body = multipart(fields or {}, [("file", filename, data)])
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.api.request("POST", route, h, body, timeout=120)

    def upload_async(self, filename, data, route="/api/flist/me/upload"):
        """Queues an upload; returns its finished job's payload."""
        status, _, body = self.post_file(route + "?async=1", filename, data)
        self.assertEqual(status, 202, body)
        return self.wait_job(json.loads(body)["payload"]["job"], timeout=120)


class WholeHub(HubCase):
    CONFIG = {"flist-max-size": "1M"}

    def test_upload_compat(self):
        status, _, body = self.post_file("/api/flist/me/upload", "my image.tar.gz",
                                         make_tar(ENTRIES), {"metadata-author": "me"})
        stats = {"regular": 4, "symlink": 1, "directory": 2, "special": 0, "failure": 0,
                 "fullsize": len(BIG) + 4 + len(README)}
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body),
                         {"status": "success",
                          "payload": {"name": "my_image.flist",
                                      "files": {"success": True, "error": None,
                                                "response": stats, "status": 0}}})
        status, listing = self.api.json("GET", f"/api/flist/{ME}")
        self.assertEqual(status, 200)
        self.assertIn("my_image.flist", [e["name"] for e in listing])
        status, _, flist_bytes = self.api.request("GET", f"/{ME}/my_image.flist")
        self.assertEqual(status, 200)
        path = os.path.join(self.api.public, ME, "my_image.flist")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), flist_bytes)
        self.assertEqual(self.fetch(path), expected_tree(ENTRIES))
        self.assertEqual(flist_json("check", "--backend", self.backend_url(), "--json", path)["failure"], 0)
        self.assertEqual(flist_json("metadata", "--json", path, "author")["value"], "me")

    def test_upload_async_status_and_events(self):
        status, _, body = self.post_file("/api/flist/me/upload?async=1", "a.tar.gz",
                                         make_tar([("x", b"async")]))
        self.assertEqual(status, 202, body)
        reply = json.loads(body)
        jid = reply["payload"]["job"]
        self.assertEqual(reply["payload"]["events_url"], f"/listen/{jid}")
        # the event stream closes after the final event
        status, hdrs, stream = self.api.request("GET", f"/listen/{jid}", timeout=60)
        self.assertEqual(status, 200)
        events = [json.loads(line[len("data: "):]) for line in stream.decode().split("\n")
                  if line.startswith("data: ")]
        self.assertEqual(events[-1], {"status": "info", "info": {
            "filename": "a.flist", "flist": {"regular": 1, "symlink": 0, "directory": 0,
                                             "special": 0, "failure": 0, "fullsize": 5}}})
        self.assertEqual(events[-2], {"status": "update", "message": "Image ready !", "progress": 100})
        status, job = self.api.json("GET", f"/api/jobs/{jid}")
        self.assertEqual(status, 200)
        self.assertEqual(job["payload"]["state"], "done")
        self.assertEqual(job["payload"]["result"]["name"], "a.flist")
        self.assertEqual(self.fetch(os.path.join(self.api.public, ME, "a.flist")), {"/x": b"async"})

    def test_upload_corrupt_is_an_error(self):
        status, _, body = self.post_file("/api/flist/me/upload", "bad.tar.gz", b"garbage" * 50)
        self.assertEqual(status, 500)
        reply = json.loads(body)
        self.assertEqual(reply["status"], "error")
        self.assertTrue(reply["message"].startswith("bad.tar.gz: "), reply)
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, "bad.flist")))

    def metric(self, route, status):
        _, _, text = self.api.request("GET", "/metrics")
        for line in text.decode().splitlines():
            if line.startswith('hub_http_requests_total{route="%s",status="%d"}' % (route, status)):
                return int(line.split()[-1])
        return 0

    def test_client_mistakes_are_4xx(self):
        """Not an archive: the original's 500 on the wire in compatibility
        mode, but a client error in /metrics and in the job's status."""
        route = "/api/flist/me/upload"
        before = (self.metric(route, 400), self.metric(route, 500))
        status, _, body = self.post_file(route, "junk.tar.gz", b"not an archive" * 20)
        self.assertEqual(status, 500, body)
        self.assertEqual((self.metric(route, 400), self.metric(route, 500)),
                         (before[0] + 1, before[1]))
        status, _, body = self.post_file(route + "?async=1", "junk2.tar.gz", b"not an archive" * 20)
        self.assertEqual(status, 202, body)
        p = self.wait_job(json.loads(body)["payload"]["job"])
        self.assertEqual((p["state"], p["error_code"], p["error_status"]), ("failed", "invalid", 400))
        self.assertTrue(p["error"].startswith("junk2.tar.gz: not a tar archive"), p["error"])
        # the job shows what the user sent, not the hub's spool file
        self.assertNotIn("file", p["input"])
        self.assertEqual(p["input"]["filename"], "junk2.tar.gz")

    def make_flist(self, entries, backend_url):
        tmp = os.path.join(self.api.root, "mk")
        os.makedirs(tmp, exist_ok=True)
        arch, out = os.path.join(tmp, "a.tar.gz"), os.path.join(tmp, "o.flist")
        with open(arch, "wb") as f:
            f.write(make_tar(entries))
        flist_cmd("create", "--backend", backend_url, arch, out)
        with open(out, "rb") as f:
            data = f.read()
        os.unlink(out)
        return data

    def test_upload_flist(self):
        data = self.make_flist([("hello", b"hello world")], self.backend_url())
        status, _, body = self.post_file("/api/flist/me/upload-flist", "up.flist", data)
        self.assertEqual(status, 200, body)
        payload = json.loads(body)["payload"]
        self.assertEqual(payload["name"], "up.flist")
        self.assertEqual(payload["files"]["response"]["content"], [{"size": 11, "path": "/hello"}])
        path = os.path.join(self.api.public, ME, "up.flist")
        self.assertEqual(flist_json("metadata", "--json", path, "backend")["value"], PUBLIC_BACKEND)
        # chunks that are not on the hub's backend: the original's refusal
        other = backend_server(self.KIND)
        try:
            data = self.make_flist([("elsewhere", b"not on the hub")],
                                   other.backend_url(other.namespace()))
        finally:
            other.stop()
        status, _, body = self.post_file("/api/flist/me/upload-flist", "no.flist", data)
        self.assertEqual((status, json.loads(body)), (500, {"status": "error", "message": MSG_NOT_PRESENT}))
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, "no.flist")))

    @staticmethod
    def padded(flist_data, size):
        """The same .flist with its database padded to size bytes: what a
        small upload can expand to."""
        with tarfile.open(fileobj=io.BytesIO(flist_data), mode="r:gz") as t:
            m = next(m for m in t.getmembers() if m.name.endswith("flistdb.sqlite3"))
            db = t.extractfile(m).read()
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as t:
            m.size = size
            t.addfile(m, io.BytesIO(db + bytes(size - len(db))))
        return out.getvalue()

    def test_flist_max_size(self):
        """flist-max-size (1M here) bounds what an upload-flist and the
        sources of a merge expand to: 413 with the reason, nothing published."""
        small = self.make_flist([("f", b"padded")], self.backend_url())
        big = self.padded(small, 2 << 20)
        self.assertLess(len(big), 16 << 10)      # a few KB on the wire
        status, _, body = self.post_file("/api/flist/me/upload-flist?async=1", "big.flist", big)
        self.assertEqual(status, 202, body)
        job = self.wait_job(json.loads(body)["payload"]["job"])
        self.assertEqual((job["state"], job["error_code"], job["error_status"]),
                         ("failed", "too_large", 413), job)
        self.assertEqual(job["error"], "invalid flist: flistdb.sqlite3 is 2097152 bytes, "
                         "more than the limit of 1048576 bytes")
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, "big.flist")))
        # compatibility mode answers a failed job with the original's 500
        status, _, body = self.post_file("/api/flist/me/upload-flist", "big.flist", big)
        self.assertEqual((status, json.loads(body)["message"]), (500, job["error"]))
        # each source under the bound, both together over it
        half = self.padded(small, 600 << 10)
        for name in ("h1", "h2"):
            with open(os.path.join(self.api.public, ME, name + ".flist"), "wb") as f:
                f.write(half)
        status, _, body = self.api.request("POST", "/api/flist/me/merge/hh?async=1",
                                           {"Content-Type": "application/json"},
                                           json.dumps([f"{ME}/h1", f"{ME}/h2"]).encode())
        self.assertEqual(status, 202, body)
        job = self.wait_job(json.loads(body)["payload"]["job"])
        self.assertEqual((job["state"], job["error_status"]), ("failed", 413), job)
        self.assertEqual(job["error"], "the sources expand to more than 1048576 bytes "
                         "together (flist-max-size)")
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, "hh.flist")))

    def test_merge(self):
        for name, entries in (("ma", [("a", b"A")]), ("mb", [("b", b"B"), ("a", b"lost")])):
            status, _, body = self.post_file("/api/flist/me/upload", name + ".tar.gz", make_tar(entries))
            self.assertEqual(status, 200, body)
        status, _, body = self.api.request("POST", "/api/flist/me/merge/both",
                                           {"Content-Type": "application/json"},
                                           json.dumps([f"{ME}/ma.flist", f"{ME}/mb"]).encode())
        self.assertEqual((status, json.loads(body)), (200, {"status": "success"}))
        self.assertEqual(self.fetch(os.path.join(self.api.public, ME, "both.flist")),
                         {"/a": b"A", "/b": b"B"})
        status, _, body = self.api.request("POST", "/api/flist/me/merge/x", {},
                                           json.dumps([f"{ME}/nothere"]).encode())
        self.assertEqual((status, json.loads(body)),
                         (500, {"status": "error", "message": f"{ME}/nothere.flist does not exists"}))

    def test_zz_spool_files_removed(self):
        """Runs last: every upload's spool file is gone."""
        deadline = time.time() + 10
        while os.listdir(self.api.upload_dir) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(self.api.upload_dir), [])


class SeparateMounts(unittest.TestCase):
    """The api and the worker see the shared volume at different paths (as
    in compose and Kubernetes): jobs name spool files by their base name and
    each side finds them in its own upload-directory."""

    def test_upload_through_another_mount_path(self):
        with RedisServer() as queue, RedisServer() as backend:
            api_cfg = {"redis-url": queue.url, **backend.backend_config()}
            with ApiServer(api_cfg) as api:
                root = api.root
                # the api's view: <root>/api-mount -> <root>/workdir
                os.symlink(os.path.join(root, "workdir"), os.path.join(root, "api-mount"))
                with ApiServer(dict(api_cfg, **{"upload-directory":
                                                 os.path.join(root, "api-mount", "distfiles")}),
                               root=root) as api2:
                    ctype, body = multipart({}, [("file", "m.tar.gz", make_tar([("m", b"mounted")]))])
                    status, _, reply = api2.request("POST", "/api/flist/me/upload?async=1",
                                                    {"Content-Type": ctype}, body)
                    self.assertEqual(status, 202, reply)
                    jid = json.loads(reply)["payload"]["job"]
                # the api's path no longer exists where the worker runs
                os.unlink(os.path.join(root, "api-mount"))
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith("HUB_") or k in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE")}
                worker = Process([os.path.join(BIN, "flist-hub-worker"), "-c", api.conf_path],
                                 env=env, log_path=os.path.join(root, "worker.log"))
                try:
                    deadline = time.time() + 30
                    while time.time() < deadline:
                        st, job = api.json("GET", f"/api/jobs/{jid}")
                        if job["payload"]["state"] in ("done", "failed"):
                            break
                        time.sleep(0.05)
                    self.assertEqual(job["payload"]["state"], "done", job)
                    self.assertEqual(fetch_tree(backend.backend_url(),
                                                os.path.join(api.public, ME, "m.flist"), root),
                                     {"/m": b"mounted"})
                    self.assertEqual(os.listdir(api.upload_dir), [])
                finally:
                    self.assertEqual(worker.stop(), 0, worker.output()[-2000:])


class WholeHubZdb(WholeHub):
    """The same through the api, with a 0-db namespace (with a password) as
    the content backend, as the public hub runs."""
    KIND = "zdb"


if __name__ == "__main__":
    unittest.main(verbosity=2)
