#!/usr/bin/env python3
"""End-to-end: the logs as one JSON object per line (log-format = json), the
access log (route, status, bytes, duration, request id) and the request id
that follows a job from the api request to the worker's lines, the job's
hash and every entry of its events stream."""
import json
import os
import re
import time
import unittest

from hublib import (HUB_BIN, HUB_TESTDATA, ApiServer, Process, RedisServer, multipart, run_tests)

TARGZ = open(os.path.join(HUB_TESTDATA, "tree.tar.gz"), "rb").read()
SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()
REQUIRED = ("time", "level", "program", "pid", "msg")


def json_lines(text):
    """Every non-empty line parsed as a JSON object (a line that is not one
    fails the test that asked)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        v = json.loads(line)
        if not isinstance(v, dict):
            raise AssertionError("not an object: %r" % line)
        out.append(v)
    return out


class JsonLogs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"log-format": "json", "log-level": "info"}, redis=cls.redis).__enter__()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HUB_") or k in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE")}
        cls.worker_log = os.path.join(cls.api.root, "worker.log")
        cls.worker = Process([os.path.join(HUB_BIN, "flist-hub-worker"), "-c", cls.api.conf_path],
                             env=env, log_path=cls.worker_log)

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def api_lines(self):
        with open(self.api.log_path, encoding="utf-8") as f:
            return json_lines(f.read())

    def access_lines(self, rid):
        return [v for v in self.api_lines() if v["msg"] == "access" and v.get("request_id") == rid]

    def wait_for(self, fn, timeout=30):
        deadline = time.time() + timeout
        while True:
            v = fn()
            if v or time.time() > deadline:
                return v
            time.sleep(0.05)

    def test_request_id_follows_the_job(self):
        rid = "e2e-upload-0001"
        ctype, body = multipart({}, [("file", "logs.tar.gz", TARGZ)])
        st, h, b = self.api.request("POST", "/api/flist/me/upload?async=1",
                                    {"Content-Type": ctype, "X-Request-Id": rid}, body)
        self.assertEqual(st, 202, b)
        self.assertEqual(h.get("x-request-id"), rid)
        jid = json.loads(b)["payload"]["job"]

        def ended():
            s, _, jb = self.api.request("GET", "/api/jobs/" + jid)
            j = json.loads(jb)["payload"]
            return j if j["state"] in ("done", "failed") else None
        job = self.wait_for(ended)
        self.assertIsNotNone(job, "job did not end")
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(job["request_id"], rid)

        # every event entry of the job carries it (and the final one is marked)
        entries = self.redis.cmd("XRANGE", "hub:job:%s:events" % jid, "-", "+")
        self.assertGreaterEqual(len(entries), 2, entries)
        for _, fields in entries:
            f = dict(zip(fields[0::2], fields[1::2]))
            self.assertEqual(f.get("request_id"), rid, f)
        self.assertEqual(dict(zip(entries[-1][1][0::2], entries[-1][1][1::2])).get("final"), "1")

        # the worker's lines for this job carry it, and they are JSON too
        def worker_job_lines():
            with open(self.worker_log, encoding="utf-8") as f:
                lines = json_lines(f.read())
            done = [v for v in lines if jid in v["msg"] and "done in" in v["msg"]]
            return lines if done else None
        wl = self.wait_for(worker_job_lines)
        self.assertIsNotNone(wl, "the worker never logged the job's end")
        mine = [v for v in wl if jid in v["msg"]]
        self.assertGreaterEqual(len(mine), 2, mine)
        for v in mine:
            self.assertEqual(v.get("request_id"), rid, v)
            self.assertEqual(v["program"], "flist-hub-worker")
        for v in wl:
            for k in REQUIRED:
                self.assertIn(k, v)

        # the api's "queued" line and its access line carry it
        queued = [v for v in self.api_lines() if jid in v["msg"] and "queued" in v["msg"]]
        self.assertEqual([v.get("request_id") for v in queued], [rid])
        acc = self.access_lines(rid)
        self.assertEqual(len(acc), 1, acc)
        a = acc[0]
        self.assertEqual((a["method"], a["route"], a["status"], a["bytes"]),
                         ("POST", "/api/flist/me/upload", 202, len(b)))
        self.assertEqual(a["path"], "/api/flist/me/upload")
        self.assertIsInstance(a["duration_us"], int)
        self.assertGreaterEqual(a["duration_us"], 0)

    def test_access_line_of_a_download_and_a_404(self):
        st, h, b = self.api.request("GET", "/api/repositories", {"X-Request-Id": "list-1"})
        self.assertEqual(st, 200)
        st2, h2, b2 = self.api.request("GET", "/nobody/none.flist", {"X-Request-Id": "miss-1"})
        self.assertEqual(st2, 404)
        a = self.wait_for(lambda: self.access_lines("list-1"))
        self.assertEqual((a[0]["status"], a[0]["bytes"], a[0]["route"]),
                         (200, len(b), "/api/repositories"))
        m = self.wait_for(lambda: self.access_lines("miss-1"))
        self.assertEqual((m[0]["status"], m[0]["bytes"]), (404, len(b2)))
        self.assertEqual(m[0]["level"], "info")
        self.assertRegex(m[0]["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_access_bytes_of_flist_downloads(self):
        os.makedirs(os.path.join(self.api.public, "carol"), exist_ok=True)
        with open(os.path.join(self.api.public, "carol", "s.flist"), "wb") as f:
            f.write(SAMPLE)
        st, _, b = self.api.request("GET", "/carol/s.flist", {"X-Request-Id": "dl-full"})
        self.assertEqual((st, b), (200, SAMPLE))
        st, _, b = self.api.request("GET", "/carol/s.flist", {"X-Request-Id": "dl-range", "Range": "bytes=10-109"})
        self.assertEqual((st, len(b)), (206, 100))
        st, _, b = self.api.request("HEAD", "/carol/s.flist", {"X-Request-Id": "dl-head"})
        self.assertEqual((st, b), (200, b""))
        for rid, status, n in (("dl-full", 200, len(SAMPLE)), ("dl-range", 206, 100), ("dl-head", 200, 0)):
            a = self.wait_for(lambda: self.access_lines(rid))
            self.assertEqual([(v["status"], v["bytes"], v["route"]) for v in a],
                             [(status, n, "/<repo>/<name>.flist")], rid)

    def test_insane_request_ids_are_replaced(self):
        # (replies shared from the listing cache carry no X-Request-Id
        # header: an uncached 404 here)
        for bad in ("has space", "x" * 65, "quote\"d", "ünïcode"):
            st, h, _ = self.api.request("GET", "/nobody/none.flist", {"X-Request-Id": bad})
            self.assertEqual(st, 404)
            rid = h.get("x-request-id", "")
            self.assertRegex(rid, r"^[0-9a-f]{32}$", bad)
            self.assertTrue(self.wait_for(lambda: self.access_lines(rid)), rid)
        # no id at all: a new one each time
        ids = {self.api.request("GET", "/nobody/none.flist")[1].get("x-request-id") for _ in range(3)}
        self.assertEqual(len(ids), 3)
        for rid in ids:
            self.assertRegex(rid, r"^[0-9a-f]{32}$")

    def test_every_api_line_is_json(self):
        lines = self.api_lines()
        self.assertTrue(any(re.match(r"listening on", v["msg"]) for v in lines), lines[:5])
        for v in lines:
            for k in REQUIRED:
                self.assertIn(k, v, v)
            self.assertIn(v["level"], ("debug", "info", "warn", "error"))
            self.assertEqual(v["program"], "flist-hub-api")


if __name__ == "__main__":
    run_tests()
