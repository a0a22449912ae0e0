"""End-to-end: the routes that become jobs (uploads, upload-flist, merge,
docker), what the api queues, compatibility and async modes, the job status
and event routes against jobs this test writes into Redis itself, and the
exact requests zflist sends (FLIST-FORMAT.md §11) replayed byte for byte."""
import http.client
import json
import os
import threading
import time
import unittest

from hublib import (HUB_TESTDATA, ApiServer, FakeWorker, RedisServer, multipart, run_tests)

SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()
TARGZ = open(os.path.join(HUB_TESTDATA, "tree.tar.gz"), "rb").read()


class Jobs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "false", "job-wait-timeout": "5"}, redis=cls.redis).__enter__()
        cls.worker = FakeWorker(cls.redis)
        os.makedirs(os.path.join(cls.api.public, "alice"))
        with open(os.path.join(cls.api.public, "alice", "a.flist"), "wb") as f:
            f.write(SAMPLE)
        with open(os.path.join(cls.api.public, "alice", "b.flist"), "wb") as f:
            f.write(SAMPLE)

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def setUp(self):
        self.redis.cmd("DEL", "hub:jobs")

    def upload(self, path, filename, data, headers=None, fields=None, query=""):
        ctype, body = multipart(fields or {}, [("file", filename, data)])
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.api.request("POST", path + query, h, body)

    def finish_later(self, result=None, error=None, delay=0.3):
        """Finishes the next queued job from another thread."""
        out = {}

        def run():
            ids = self.worker.wait_queued(1)
            out["id"] = ids[-1]
            out["job"] = self.worker.job(ids[-1])
            time.sleep(delay)
            self.worker.finish(ids[-1], result=result, error=error)

        t = threading.Thread(target=run)
        t.start()
        return t, out

    # ---- uploads ----

    def test_upload_compat_success(self):
        result = {"name": "ubuntu.flist", "files": {"success": True, "error": None,
                  "response": {"regular": 2, "symlink": 0, "directory": 1, "special": 0,
                               "failure": 0, "fullsize": 1234}, "status": 0}}
        t, out = self.finish_later(result=result)
        st, h, body = self.upload("/api/flist/me/upload", "my archive.tar.gz", TARGZ,
                                  {"X-Original-Name": "/some/path/ubuntu.tar.gz"},
                                  fields={"metadata-description": "hello", "metadata-backend": "x"})
        t.join()
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"status": "success", "payload": result})
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["access-control-allow-origin"], "*")
        job = out["job"]
        self.assertEqual(job["type"], "upload")
        self.assertEqual(job["user"], "Administrator")
        self.assertEqual(job["state"], "queued")
        inp = json.loads(job["input"])
        self.assertEqual(inp["name"], "ubuntu.flist")
        self.assertEqual(inp["repository"], "Administrator")
        self.assertEqual(inp["filename"], "my archive.tar.gz")
        self.assertEqual(inp["extension"], ".tar.gz")
        self.assertEqual(inp["metadata"], {"description": "hello"})  # backend is protected
        # the spool file holds exactly the uploaded bytes, in the upload
        # directory; the job names it by its base name, which each side
        # resolves in its own upload-directory
        self.assertNotIn("/", inp["file"])
        spool = os.path.join(self.api.upload_dir, inp["file"])
        with open(spool, "rb") as f:
            self.assertEqual(f.read(), TARGZ)
        os.unlink(spool)

    def test_upload_name_from_sanitised_filename(self):
        t, out = self.finish_later(result={"name": "my_archive.flist", "files": {}})
        st, _, body = self.upload("/api/flist/me/upload", "my archive.tar.gz", TARGZ)
        t.join()
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(out["job"]["input"])["name"], "my_archive.flist")

    def test_upload_job_failure_is_an_error(self):
        t, _ = self.finish_later(error="entry ../x climbs above the root")
        st, _, body = self.upload("/api/flist/me/upload", "x.tar.gz", b"junk")
        t.join()
        self.assertEqual(st, 500)
        self.assertEqual(json.loads(body), {"status": "error", "message": "entry ../x climbs above the root"})

    def test_upload_async(self):
        st, h, body = self.upload("/api/flist/me/upload", "x.tgz", TARGZ, query="?async=1")
        self.assertEqual(st, 202, body)
        v = json.loads(body)
        jid = v["payload"]["job"]
        self.assertEqual(v, {"status": "success", "payload": {"job": jid, "status_url": "/api/jobs/" + jid,
                                                              "events_url": "/listen/" + jid}})
        self.assertEqual(self.worker.queued(), [jid])
        st, v = self.api.json("GET", "/api/jobs/" + jid)
        self.assertEqual(st, 200)
        self.assertEqual(v["status"], "success")
        self.assertEqual(v["payload"]["id"], jid)
        self.assertEqual(v["payload"]["state"], "queued")
        self.assertEqual(v["payload"]["type"], "upload")
        self.assertEqual(v["payload"]["input"]["name"], "x.flist")
        # Prefer: respond-async works too
        ctype, body = multipart({}, [("file", "y.tar", b"tar")])
        st, _, body = self.api.request("POST", "/api/flist/me/upload",
                                       {"Content-Type": ctype, "Prefer": "respond-async"}, body)
        self.assertEqual(st, 202)

    def test_upload_timeout_504(self):
        st, _, body = self.upload("/api/flist/me/upload", "slow.tar.gz", TARGZ)
        self.assertEqual(st, 504)
        v = json.loads(body)
        jid = self.worker.queued()[-1]
        self.assertEqual(v["status"], "error")
        self.assertIn(jid, v["message"])

    def test_upload_errors(self):
        spool_before = sorted(os.listdir(self.api.upload_dir))
        # no part named file
        ctype, body = multipart({"x": "1"}, [])
        st, v = self.api.json("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body)
        self.assertEqual((st, v), (500, {"status": "error", "message": "no file found"}))
        # not multipart at all
        st, v = self.api.json("POST", "/api/flist/me/upload", {"Content-Type": "text/plain"}, b"hello")
        self.assertEqual((st, v), (500, {"status": "error", "message": "no file found"}))
        # empty filename
        st, _, body = self.upload("/api/flist/me/upload", "", b"x")
        self.assertEqual((st, json.loads(body)), (500, {"status": "error", "message": "no file selected"}))
        # wrong extension
        st, _, body = self.upload("/api/flist/me/upload", "x.zip", b"x")
        self.assertEqual((st, json.loads(body)), (500, {"status": "error", "message": "this file is not allowed"}))
        st, _, body = self.upload("/api/flist/me/upload-flist", "x.tar.gz", b"x")
        self.assertEqual((st, json.loads(body)), (500, {"status": "error", "message": "this file is not allowed"}))
        # D5/D44: X-Original-Name "dir/" would create ".flist"
        st, _, body = self.upload("/api/flist/me/upload", "x.tar.gz", b"x", {"X-Original-Name": "dir/"})
        self.assertEqual(st, 400)
        self.assertIn("must not be empty", json.loads(body)["message"])
        st, _, body = self.upload("/api/flist/me/upload", "x.tar.gz", b"x", {"X-Original-Name": ".hidden.tar.gz"})
        self.assertEqual(st, 400)
        self.assertEqual(self.worker.queued(), [])
        # invalid UTF-8 in the file name or a metadata value
        b = "xb"
        raw = (b"--xb\r\nContent-Disposition: form-data; name=\"metadata-k\"\r\n\r\n\xff\xfe\r\n"
               b"--xb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.tar.gz\"\r\n\r\n"
               b"data\r\n--xb--\r\n")
        st, v = self.api.json("POST", "/api/flist/me/upload", {"Content-Type": "multipart/form-data; boundary=" + b},
                              raw)
        self.assertEqual((st, v["message"]), (400, "metadata k: not valid UTF-8 (or holds a NUL byte)"))
        raw = (b"--xb\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xff.tar.gz\"\r\n\r\n"
               b"data\r\n--xb--\r\n")
        st, v = self.api.json("POST", "/api/flist/me/upload", {"Content-Type": "multipart/form-data; boundary=" + b},
                              raw)
        self.assertEqual(st, 400)
        # refused uploads leave nothing in the spool directory (D13)
        self.assertEqual(sorted(os.listdir(self.api.upload_dir)), spool_before)

    def test_upload_flist_compat(self):
        result = {"name": "mine.flist", "files": {"success": True, "error": None, "response": {"failure": 0},
                                                  "status": 0}}
        t, out = self.finish_later(result=result)
        st, _, body = self.upload("/api/flist/me/upload-flist", "mine.flist", SAMPLE)
        t.join()
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"status": "success", "payload": result})
        self.assertEqual(out["job"]["type"], "upload-flist")
        inp = json.loads(out["job"]["input"])
        self.assertEqual(inp["name"], "mine.flist")
        spool = os.path.join(self.api.upload_dir, inp["file"])
        with open(spool, "rb") as f:
            self.assertEqual(f.read(), SAMPLE)
        os.unlink(spool)

    def test_upload_flist_rejected(self):
        msg = "unauthorized upload, contents is not fully present on backend"
        t, _ = self.finish_later(error=msg)
        st, _, body = self.upload("/api/flist/me/upload-flist", "mine.flist", SAMPLE)
        t.join()
        self.assertEqual((st, json.loads(body)), (500, {"status": "error", "message": msg}))

    def test_upload_size_limit(self):
        with RedisServer() as r2, ApiServer({"authentication": "false", "max-upload-size": "1K"}, redis=r2) as a2:
            ctype, body = multipart({}, [("file", "big.tar.gz", b"x" * 4096)])
            st, _, data = a2.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body)
            self.assertEqual(st, 413)
            self.assertIn("upload too large", json.loads(data)["message"])
            self.assertEqual(os.listdir(a2.upload_dir), [])

    def chunked(self, api, path, ctype, body):
        """POSTs body with Transfer-Encoding: chunked (no Content-Length, so
        a limit is only found while the body arrives); returns (status,
        parsed JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
        try:
            pieces = (body[i:i + 16384] for i in range(0, len(body), 16384))
            conn.request("POST", path, body=pieces, headers={"Content-Type": ctype},
                         encode_chunked=True)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    def test_refusals_mid_body_are_answered(self):
        """Limits found while the body arrives get their status and message
        (libmicrohttpd cannot reply mid-body: the rest is read and dropped
        first), not a closed connection; /metrics counts what was sent."""
        with RedisServer() as r2, ApiServer({"authentication": "false", "max-upload-size": "1K"},
                                            redis=r2) as a2:
            ctype, body = multipart({}, [("file", "big.tar.gz", b"x" * 4096)])
            self.assertEqual(self.chunked(a2, "/api/flist/me/upload", ctype, body),
                             (413, {"status": "error",
                                    "message": "upload too large: the limit is 1024 bytes"}))
            self.assertEqual(os.listdir(a2.upload_dir), [])
        fields = {"metadata-k%d" % i: "v" for i in range(200)}
        ctype, body = multipart(fields, [("file", "a.tar.gz", b"x")])
        msg = {"status": "error", "message": "too many or too large metadata fields"}
        self.assertEqual(self.chunked(self.api, "/api/flist/me/upload", ctype, body), (400, msg))
        ctype, body = multipart({"metadata-big": "v" * 100000}, [("file", "a.tar.gz", b"x")])
        st, _, data = self.api.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body)
        self.assertEqual((st, json.loads(data)), (400, msg))
        big = b"[" + b'"a/b",' * 400000 + b'"a/b"]'
        too_large = {"status": "error", "message": "request body too large (more than 1 MiB)"}
        self.assertEqual(self.chunked(self.api, "/api/flist/me/merge/m", "application/json", big),
                         (413, too_large))
        st, _, data = self.api.request("POST", "/api/flist/me/merge/m",
                                       {"Content-Type": "application/json"}, big)
        self.assertEqual((st, json.loads(data)), (413, too_large))
        _, _, text = self.api.request("GET", "/metrics")
        lines = text.decode().splitlines()
        self.assertIn('hub_http_requests_total{route="/api/flist/me/merge/<target>",status="413"} 2',
                      lines)

    # ---- merge ----

    def test_merge(self):
        t, out = self.finish_later(result={"name": "m.flist"})
        st, v = self.api.json("POST", "/api/flist/me/merge/m", {"Content-Type": "application/json"},
                              b'["alice/a.flist","alice/b"]')
        t.join()
        self.assertEqual((st, v), (200, {"status": "success"}))
        self.assertEqual(out["job"]["type"], "merge")
        self.assertEqual(json.loads(out["job"]["input"]), {"sources": ["alice/a.flist", "alice/b.flist"],
                                                           "name": "m.flist", "repository": "Administrator"})

    def test_merge_failure_d9(self):
        t, _ = self.finish_later(error="merge failed: x")
        st, v = self.api.json("POST", "/api/flist/me/merge/m", {}, b'["alice/a"]')
        t.join()
        self.assertEqual((st, v), (500, {"status": "error", "message": "merge failed: x"}))

    def test_merge_errors(self):
        cases = [
            (b"{}", 500, "malformed json request"),
            (b"not json", 500, "malformed json request"),
            (b"[]", 500, "no source found"),
            (b'["nosep"]', 500, "malformed source filename"),
            (b'[5]', 500, "malformed source filename"),
            (b'["alice/nothere"]', 500, "alice/nothere.flist does not exists"),
            (b'["nobody/a"]', 500, "nobody/a.flist does not exists"),
        ]
        for body, status, msg in cases:
            st, v = self.api.json("POST", "/api/flist/me/merge/m", {"Content-Type": "application/json"}, body)
            self.assertEqual((st, v), (status, {"status": "error", "message": msg}), body)
        # D3: only exactly repo/name
        st, v = self.api.json("POST", "/api/flist/me/merge/m", {}, b'["alice/a/../../../etc/passwd"]')
        self.assertEqual(st, 400)
        st, v = self.api.json("POST", "/api/flist/me/merge/m", {}, b'["../a"]')
        self.assertEqual(st, 400)
        st, v = self.api.json("POST", "/api/flist/me/merge/.m", {}, b'["alice/a"]')
        self.assertEqual(st, 400)
        self.assertEqual(self.worker.queued(), [])

    # ---- docker ----

    def test_docker(self):
        st, v = self.api.json("POST", "/api/flist/me/docker", {"Content-Type": "application/x-www-form-urlencoded"},
                              b"image=")
        self.assertEqual((st, v), (400, {"status": "error", "message": "missing docker image name"}))
        st, v = self.api.json("POST", "/api/flist/me/docker", {}, b"")
        self.assertEqual((st, v), (400, {"status": "error", "message": "missing docker image name"}))
        for bad, msg in ((b"image=a%20b%0a", "invalid docker image name: invalid reference format"),
                         (b"image=Ubuntu", "must be lowercase"),
                         (b"image=ubuntu%40sha256%3Aabc", "invalid sha256 digest"),
                         (b"image=ubuntu&platform=linux", "invalid platform \"linux\"")):
            st, v = self.api.json("POST", "/api/flist/me/docker",
                                  {"Content-Type": "application/x-www-form-urlencoded"}, bad)
            self.assertEqual(st, 400, bad)
            self.assertIn(msg, v["message"])
        self.assertEqual(self.worker.queued(), [])
        # compatibility mode: the original's reply, payload.name = the statistics (D18)
        stats = {"regular": 2, "symlink": 0, "directory": 1, "special": 0, "failure": 0,
                 "fullsize": 12}
        result = {"name": stats, "file": "ubuntu-22.04.flist", "image": "docker.io/library/ubuntu:22.04"}
        t, out = self.finish_later(result=result)
        st, v = self.api.json("POST", "/api/flist/me/docker",
                              {"Content-Type": "application/x-www-form-urlencoded"},
                              b"image=ubuntu%3A22.04")
        t.join()
        self.assertEqual((st, v), (200, {"status": "success", "payload": {"name": stats}}))
        self.assertEqual(out["job"]["type"], "docker-convert")
        self.assertEqual(json.loads(out["job"]["input"]),
                         {"image": "ubuntu:22.04", "name": "ubuntu-22.04.flist",
                          "repository": out["job"]["user"]})
        # multipart, a platform, async
        self.redis.cmd("DEL", "hub:jobs")
        ctype, body = multipart({"image": "ghcr.io/org/img:v1", "platform": "linux/arm64/v8"}, [])
        st, v = self.api.json("POST", "/api/flist/me/docker?async=1", {"Content-Type": ctype}, body)
        self.assertEqual(st, 202, v)
        jid = v["payload"]["job"]
        job = self.worker.job(jid)
        self.assertEqual(json.loads(job["input"]),
                         {"image": "ghcr.io/org/img:v1", "name": "ghcr.io-org-img-v1.flist",
                          "repository": job["user"], "platform": "linux/arm64/v8"})
        # a failed conversion: 500 and the worker's message, as the original
        self.redis.cmd("DEL", "hub:jobs")
        t, out = self.finish_later(error="docker image not found: docker.io/library/nope:latest")
        st, v = self.api.json("POST", "/api/flist/me/docker",
                              {"Content-Type": "application/x-www-form-urlencoded"}, b"image=nope")
        t.join()
        self.assertEqual((st, v), (500, {"status": "error",
                                         "message": "docker image not found: docker.io/library/nope:latest"}))

    # ---- status and events ----

    def test_job_status_unknown(self):
        for jid in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
            st, h, body = self.api.request("GET", "/api/jobs/" + jid)
            self.assertEqual(st, 404)
            self.assertEqual(json.loads(body), {"message": "job id not found", "status": "error"})
            st, h, body = self.api.request("GET", "/listen/" + jid)
            self.assertEqual(st, 404)
            self.assertEqual(json.loads(body), {"message": "job id not found", "status": "error"})

    def test_listen_stream_and_replay(self):
        st, _, body = self.upload("/api/flist/me/upload", "ev.tar.gz", TARGZ, query="?async=1")
        jid = json.loads(body)["payload"]["job"]
        e1 = self.worker.event(jid, {"status": "update", "message": "Building: processing item 1 of 2",
                                     "progress": 50})

        def later():
            time.sleep(0.5)
            self.worker.event(jid, {"status": "update", "message": "Image ready !", "progress": 100})
            self.worker.finish(jid, result={"filename": "ev.flist", "flist": {"regular": 1}})

        t = threading.Thread(target=later)
        t.start()
        st, h, body = self.api.request("GET", "/listen/" + jid)
        t.join()
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/event-stream; charset=utf-8")
        events = [e for e in body.decode().split("\n\n") if e]
        self.assertEqual(len(events), 3, body)
        self.assertTrue(events[0].startswith("id: %s\ndata: " % e1))
        datas = [json.loads(e.split("data: ", 1)[1]) for e in events]
        self.assertEqual(datas[0], {"status": "update", "message": "Building: processing item 1 of 2",
                                    "progress": 50})
        self.assertEqual(datas[2], {"status": "info", "info": {"filename": "ev.flist", "flist": {"regular": 1}}})
        # replay after the first event with Last-Event-ID
        st, h, body = self.api.request("GET", "/listen/" + jid, {"Last-Event-ID": e1})
        events = [e for e in body.decode().split("\n\n") if e]
        self.assertEqual(len(events), 2)
        # the finished job's status
        st, v = self.api.json("GET", "/api/jobs/" + jid)
        self.assertEqual(v["payload"]["state"], "done")
        self.assertEqual(v["payload"]["result"], {"filename": "ev.flist", "flist": {"regular": 1}})


class ZflistReplay(unittest.TestCase):
    """The requests zflist 2.3.0 sends for `hub` subcommands, byte for byte
    (FLIST-FORMAT.md §11), against an authenticated hub."""

    def test_replay(self):
        from hublib import TEST_SEED_HEX, api_binary
        with RedisServer() as redis, ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX,
                                                "threebot-users-map": "official-apps=tfofficial.3bot",
                                                "job-wait-timeout": "5"}, redis=redis) as api:
            rc, tok, err = api_binary("token", "tfofficial.3bot", config_path=api.conf_path)
            self.assertEqual(rc, 0, err)
            tok = tok.strip()
            worker = FakeWorker(redis)
            os.makedirs(os.path.join(api.public, "official-apps"))
            with open(os.path.join(api.public, "official-apps", "base.flist"), "wb") as f:
                f.write(SAMPLE)

            def req(method, path, extra=b"", body=b""):
                head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
                        "User-Agent: zflist/2.3.0\r\nAccept: */*\r\nCookie: active-user=official-apps\r\n"
                        % (method, path, api.port, tok)).encode()
                raw = api.raw(head + extra + b"Connection: close\r\n\r\n" + body)
                status = int(raw.split(b" ", 2)[1])
                return status, raw.split(b"\r\n\r\n", 1)[1]

            st, body = req("GET", "/api/flist/me")
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body), {"status": "success", "payload": {"username": "official-apps"}})
            for path in ["/api/flist/me/promote/official-apps/base.flist/copy",
                         "/api/flist/me/copy/link/latest",
                         "/api/flist/me/x/crosslink/official-apps/base",
                         "/api/flist/me/v1/entry/tag/official-apps/base",
                         "/api/flist/me/ct/crosstag/official-apps/v1",
                         "/api/flist/me/x/rename/y"]:
                st, body = req("GET", path)
                self.assertEqual(st, 200, (path, body))
            st, body = req("DELETE", "/api/flist/me/v1/entry/tag/official-apps/base")
            self.assertEqual(st, 200, body)
            st, body = req("DELETE", "/api/flist/me/y")
            self.assertEqual(st, 200, body)
            # merge: the exact headers and compact JSON body of zflist
            t = threading.Thread(target=lambda: (worker.wait_queued(1), worker.finish(worker.queued()[-1],
                                                                                        result={})))
            t.start()
            mbody = b'["official-apps/base.flist","official-apps/copy.flist"]'
            st, body = req("POST", "/api/flist/me/merge/merged",
                           b"Accept: application/json\r\nContent-Type: application/json\r\nCharset: utf-8\r\n"
                           b"Content-Length: %d\r\n" % len(mbody), mbody)
            t.join()
            self.assertEqual((st, json.loads(body)), (200, {"status": "success"}))
            job = worker.job(worker.queued()[-1])
            self.assertEqual(job["user"], "official-apps")
            # upload-flist: curl's multipart with X-Original-Name
            redis.cmd("DEL", "hub:jobs")
            t = threading.Thread(target=lambda: (worker.wait_queued(1), worker.finish(
                worker.queued()[-1], result={"name": "base2.flist", "files": {}})))
            t.start()
            bnd = "------------------------d74496d66958873e"
            mp = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"base2.flist\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % bnd).encode() + SAMPLE + \
                 ("\r\n--%s--\r\n" % bnd).encode()
            st, body = req("POST", "/api/flist/me/upload-flist",
                           ("X-Original-Name: /tmp/build/base2.flist\r\nContent-Length: %d\r\n"
                            "Content-Type: multipart/form-data; boundary=%s\r\n" % (len(mp), bnd)).encode(), mp)
            t.join()
            self.assertEqual(st, 200, body)
            inp = json.loads(worker.job(worker.queued()[-1])["input"])
            self.assertEqual(inp["name"], "base2.flist")
            self.assertEqual(inp["repository"], "official-apps")
            # readlink / taglink (no pre-check)
            st, body = req("GET", "/api/flist/official-apps/latest/light")
            self.assertEqual(json.loads(body)["target"], "copy.flist")
            st, body = req("GET", "/api/flist/official-apps/ct/taglink")
            self.assertEqual(json.loads(body), {"target": "official-apps/tags/v1"})


if __name__ == "__main__":
    run_tests()
