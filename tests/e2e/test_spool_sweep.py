#!/usr/bin/env python3
"""End-to-end: upload spool files that nobody owns are swept (api
housekeeping): an api killed in the middle of an upload leaves its
upload-*.part behind; a later sweep removes it once it is older than
spool-orphan-age, but never the spool file of a queued job nor one still
being written."""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import ApiServer, RedisServer, multipart, run_tests  # noqa: E402
from test_worker import make_tar  # noqa: E402

CONF = {"connection-timeout": "5", "spool-orphan-age": "60", "housekeeping-interval": "1",
        "job-wait-timeout": "1"}


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


class SpoolSweep(unittest.TestCase):
    def test_orphans_swept_owned_kept(self):
        with RedisServer() as redis:
            with ApiServer(CONF, redis=redis) as api:
                root, spool_dir = api.root, api.upload_dir
                # a queued job (no worker runs): its spool file is owned
                ctype, body = multipart({}, [("file", "queued.tar.gz", make_tar([("a", b"1")]))])
                st, _, reply = api.request("POST", "/api/flist/me/upload?async=1",
                                           {"Content-Type": ctype}, body)
                self.assertEqual(st, 202, reply)
                jid = json.loads(reply)["payload"]["job"]
                owned = json.loads(redis.cmd("HGET", "hub:job:" + jid, "input"))["file"]
                # an upload in progress when the api is killed
                head = ("--sweepboundary\r\nContent-Disposition: form-data; name=\"file\"; "
                        "filename=\"big.tar.gz\"\r\n\r\n").encode()
                s = socket.create_connection(("127.0.0.1", api.port))
                s.sendall(b"POST /api/flist/me/upload HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: multipart/form-data; boundary=sweepboundary\r\n"
                          b"Content-Length: 100000000\r\n\r\n" + head + b"\0" * 200000)
                deadline = time.time() + 10
                while time.time() < deadline and len(os.listdir(spool_dir)) < 2:
                    time.sleep(0.05)
                api.kill()
                s.close()
                orphans = [n for n in os.listdir(spool_dir) if n != owned]
                self.assertEqual(len(orphans), 1, os.listdir(spool_dir))
                orphan = orphans[0]
                self.assertTrue(orphan.startswith("upload-") and orphan.endswith(".part"), orphan)
                # time passes: both are older than spool-orphan-age
                age(os.path.join(spool_dir, orphan), 3600)
                age(os.path.join(spool_dir, owned), 3600)
                with open(os.path.join(spool_dir, "upload-fresh.part"), "wb") as f:
                    f.write(b"still arriving")
                with ApiServer(CONF, redis=redis, root=root):
                    deadline = time.time() + 10
                    while time.time() < deadline and os.path.exists(os.path.join(spool_dir, orphan)):
                        time.sleep(0.1)
                    self.assertFalse(os.path.exists(os.path.join(spool_dir, orphan)))
                    time.sleep(1.5)   # another sweep: still kept
                    self.assertTrue(os.path.exists(os.path.join(spool_dir, owned)))
                    self.assertTrue(os.path.exists(os.path.join(spool_dir, "upload-fresh.part")))
                    # the job's hash expires: its spool file is nobody's
                    redis.cmd("DEL", "hub:job:" + jid)
                    deadline = time.time() + 10
                    while time.time() < deadline and os.path.exists(os.path.join(spool_dir, owned)):
                        time.sleep(0.1)
                    self.assertFalse(os.path.exists(os.path.join(spool_dir, owned)))

    def test_orphan_age_must_exceed_connection_timeout(self):
        from hublib import api_binary
        env = dict(os.environ, HUB_CONNECTION_TIMEOUT="120", HUB_SPOOL_ORPHAN_AGE="60")
        rc, out, err = api_binary("token", "x", env=env)
        self.assertEqual(rc, 1)
        self.assertIn("spool-orphan-age: must be longer than connection-timeout (120 s)", err)


if __name__ == "__main__":
    run_tests()
