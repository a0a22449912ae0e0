#!/usr/bin/env python3
"""End-to-end: the shared reply store (hub/reply_store.h).

Replies computed from an flist (GET /api/flist/<repo>/<name> and its
/metadata) are kept on the shared volume by the flist's identity: a worker
writes them when it publishes, an api writes them on the first read of an
flist it did not publish, and every replica answers from there. Checked with
two api replicas sharing one directory, a worker, and flists laid down by
hand as an older hub would have left them.
"""
import json
import os
import shutil
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import HUB_TESTDATA, ApiServer, Process, RedisServer, multipart, run_tests  # noqa: E402
from test_worker import make_tar  # noqa: E402

BIN = os.environ.get("HUB_BIN", "build/bin")
SAMPLE = os.path.join(HUB_TESTDATA, "sample.flist")
MERGED = os.path.join(HUB_TESTDATA, "merged.flist")
SAMPLE_FIND = json.load(open(SAMPLE[:-6] + ".find.json"))["response"]
HEADER = 16


def entry_path(root, kind, flist_path):
    """Where the store keeps the `kind` reply of the flist at flist_path."""
    st = os.stat(flist_path)
    return os.path.join(root, "workdir", "replies", kind, "%02x" % (st.st_ino % 256),
                        "%d-%d-%d.%09d" % (st.st_ino, st.st_size, st.st_mtime_ns // 10**9,
                                           st.st_mtime_ns % 10**9))


def read_entry(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, length = data[:4], struct.unpack("<I", data[4:8])[0], struct.unpack("<Q", data[8:16])[0]
    assert (magic, version, length) == (b"FHRS", 1, len(data) - HEADER), (magic, version, length)
    return data[HEADER:]


def write_entry(path, body):
    with open(path, "wb") as f:
        f.write(b"FHRS" + struct.pack("<I", 1) + struct.pack("<Q", len(body)) + body)


class ReplyStore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "false", "backend-internal-kind": "redis",
                             "backend-internal-name": "1"}, redis=cls.redis).__enter__()
        cls.root = cls.api.root
        # a second replica on the same directories, with its own memory cache
        cls.api2 = ApiServer(dict(cls.api.config, **{"backend-internal-kind": "redis"}),
                             redis=cls.redis, root=cls.root).__enter__()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HUB_") or k in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE")}
        cls.worker = Process([os.path.join(BIN, "flist-hub-worker"), "-c", cls.api.conf_path],
                             env=env, log_path=os.path.join(cls.root, "worker.log"))
        cls.repo = os.path.join(cls.api.public, "old")
        os.makedirs(cls.repo)

    @classmethod
    def tearDownClass(cls):
        cls.worker.stop()
        cls.api2.__exit__(None, None, None)
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def place(self, name, src=SAMPLE):
        """An flist laid down by hand, as an older hub left it."""
        path = os.path.join(self.repo, name)
        tmp = path + ".part"
        shutil.copyfile(src, tmp)
        os.replace(tmp, path)
        return path

    def contents(self, api, name, repo="old"):
        st, h, body = api.request("GET", f"/api/flist/{repo}/{name}")
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/json")
        return body

    def test_first_read_fills_the_store_for_every_replica(self):
        path = self.place("first.flist")
        entry = entry_path(self.root, "contents", path)
        self.assertFalse(os.path.exists(entry))
        body = self.contents(self.api, "first.flist")
        self.assertEqual(json.loads(body), SAMPLE_FIND)
        self.assertEqual(read_entry(entry), body)
        # the other replica answers from the store: what it sends is the
        # entry's body (changed here, so only the store can be its source)
        marker = body.replace(b'"regular"', b'"REGULAR"')
        write_entry(entry, marker)
        self.assertEqual(self.contents(self.api2, "first.flist"), marker)

    def test_metadata_reply_is_stored_too(self):
        path = self.place("meta.flist")
        st, _, body = self.api.request("GET", "/api/flist/old/meta.flist/metadata")
        self.assertEqual(st, 200)
        self.assertEqual(read_entry(entry_path(self.root, "metadata", path)), body)
        self.assertIn("backend", json.loads(body))

    def test_replaced_flist_gets_a_new_reply(self):
        path = self.place("swap.flist")
        first = self.contents(self.api, "swap.flist")
        time.sleep(0.01)
        self.place("swap.flist", MERGED)          # new identity under the same name
        want = json.load(open(MERGED[:-6] + ".find.json"))["response"]
        self.assertEqual(json.loads(self.contents(self.api2, "swap.flist")), want)
        self.assertEqual(json.loads(self.contents(self.api, "swap.flist")), want)
        self.assertNotEqual(first, self.contents(self.api, "swap.flist"))
        self.assertTrue(os.path.exists(entry_path(self.root, "contents", path)))

    def test_torn_entry_is_recomputed(self):
        path = self.place("torn.flist")
        entry = entry_path(self.root, "contents", path)
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        with open(entry, "wb") as f:
            f.write(b"FHRS\x01\x00\x00\x00\xff\xff")   # cut by a crash
        self.assertEqual(json.loads(self.contents(self.api, "torn.flist")), SAMPLE_FIND)
        self.assertEqual(json.loads(read_entry(entry)), SAMPLE_FIND)

    def test_links_share_their_target_entry(self):
        path = self.place("target.flist")
        os.symlink("target.flist", os.path.join(self.repo, "alias.flist"))
        body = self.contents(self.api, "alias.flist")
        self.assertEqual(read_entry(entry_path(self.root, "contents", path)), body)

    def test_worker_precomputes_at_publication(self):
        ctype, data = multipart({}, [("file", "pub.tar.gz", make_tar([("a", b"one"), ("b", b"two")]))])
        st, _, body = self.api.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, data,
                                       timeout=60)
        self.assertEqual(st, 200, body)
        path = os.path.join(self.api.public, "Administrator", "pub.flist")
        entry = entry_path(self.root, "contents", path)
        self.assertTrue(os.path.exists(entry), "no contents reply precomputed")
        stored = read_entry(entry)
        self.assertEqual([c["path"] for c in json.loads(stored)["content"]], ["/a", "/b"])
        self.assertEqual(self.contents(self.api2, "pub.flist", repo="Administrator"), stored)
        self.assertTrue(os.path.exists(entry_path(self.root, "metadata", path)))

    def test_sweep_bounds_the_store(self):
        """An api started with a small bound sweeps the oldest entries away."""
        for i in range(6):
            self.contents(self.api, os.path.basename(self.place(f"sw{i}.flist")))
        replies = os.path.join(self.root, "workdir", "replies")

        def total():
            return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(replies) for f in fs)
        self.assertGreater(total(), 4096)
        # the oldest entries have the oldest mtimes; make it clear by minutes
        entries = sorted((os.path.getmtime(os.path.join(d, f)), os.path.join(d, f))
                         for d, _, fs in os.walk(replies) for f in fs)
        for i, (_, p) in enumerate(entries):
            t = time.time() - 3600 + 60 * i
            os.utime(p, (t, t))
        newest = entries[-1][1]
        with ApiServer(dict(self.api.config, **{"reply-cache-size": "4K"}), redis=self.redis,
                       root=self.root):
            deadline = time.time() + 10
            while total() > 4096 and time.time() < deadline:
                time.sleep(0.05)
            self.assertLessEqual(total(), 4096)
            self.assertTrue(os.path.exists(newest), "the newest entry must stay")


if __name__ == "__main__":
    run_tests()
