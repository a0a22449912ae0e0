"""End-to-end: operations (/healthz, /readyz, /metrics, /api/openapi.json),
configuration errors and defaults, the `token` command, and the graceful
stop on SIGTERM."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from hublib import (HUB_BIN, HUB_SOURCE, HUB_TESTDATA, TEST_SEED_HEX, ApiServer, FakeWorker, RedisServer, api_binary,
                    free_port, multipart, run_tests)


class Ops(unittest.TestCase):
    def test_health_ready_metrics(self):
        with RedisServer() as redis, ApiServer({"authentication": "false"}, redis=redis) as api:
            st, h, body = api.request("GET", "/healthz")
            self.assertEqual((st, body), (200, b"ok\n"))
            st, v = api.json("GET", "/readyz")
            self.assertEqual(st, 200, v)
            self.assertEqual(v, {"status": "ready", "checks": {"redis": "ok", "backend": "ok",
                                                               "public-directory": "ok",
                                                               "upload-directory": "ok"}})

            def counter(text, route, status):
                m = re.search(r'^hub_http_requests_total\{route="%s",status="%s"\} (\d+)$'
                              % (re.escape(route), status), text, re.M)
                return int(m.group(1)) if m else 0

            st, h, m1 = api.request("GET", "/metrics")
            self.assertEqual(st, 200)
            self.assertEqual(h["content-type"], "text/plain; version=0.0.4")
            m1 = m1.decode()
            for _ in range(3):
                api.request("GET", "/api/repositories")
            api.request("GET", "/api/flist/nobody")
            ctype, body = multipart({}, [("file", "x.tar.gz", b"12345")])
            api.request("POST", "/api/flist/me/upload?async=1", {"Content-Type": ctype}, body)
            m2 = api.request("GET", "/metrics")[2].decode()
            self.assertEqual(counter(m2, "/api/repositories", 200) - counter(m1, "/api/repositories", 200), 3)
            self.assertEqual(counter(m2, "/api/flist/<repo>", 404) - counter(m1, "/api/flist/<repo>", 404), 1)
            self.assertIn('hub_jobs_queued_total{type="upload"} 1', m2)
            self.assertRegex(m2, r"hub_upload_bytes_total [1-9]\d*")
            self.assertRegex(m2, r'hub_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+')
        # Redis gone: not ready
        with RedisServer() as redis:
            api = ApiServer({"authentication": "false"}, redis=redis).__enter__()
        try:
            st, v = api.json("GET", "/readyz")
            self.assertEqual(st, 503)
            self.assertEqual(v["status"], "not ready")
            self.assertNotEqual(v["checks"]["redis"], "ok")
        finally:
            api.__exit__(None, None, None)

    def test_openapi_lists_the_route_table(self):
        rc, out, err = api_binary("routes")
        self.assertEqual(rc, 0, err)
        table = set()
        for line in out.splitlines():
            methods, pattern, _auth = line.rsplit(" ", 2)
            path = pattern.replace("<", "{").replace(">", "}")
            for m in methods.split(", "):
                if m in ("HEAD", "OPTIONS"):
                    continue
                table.add((m, path))
        with RedisServer() as redis, ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX},
                                               redis=redis) as api:
            st, doc = api.json("GET", "/api/openapi.json")
            self.assertEqual(st, 200)
            self.assertEqual(doc["openapi"], "3.0.3")
            listed = set()
            for path, item in doc["paths"].items():
                for k in item:
                    if k in ("get", "post", "delete"):
                        listed.add((k.upper(), path))
                    elif k == "x-info":
                        listed.add(("INFO", path))
            self.assertEqual(listed, table)
            self.assertIn(("GET", "/api/flist/{repo}/{name}/light"), listed)
            self.assertIn(("DELETE", "/api/flist/me/{linkname}/crosstag/{repo}/{tag}"), listed)

    def test_config_errors(self):
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "hub.conf")
            for text, needle in [("listen-port = abc\n", "listen-port: not an integer"),
                                 ("no-such-key = 1\n", 'unknown key "no-such-key"'),
                                 ("readonly = maybe\n", "readonly: not a boolean"),
                                 ("authentication = true\n", "authentication: on, but threebot-seed is not set"),
                                 ("threebot-seed = 1234\n", "threebot-seed: expected 32 bytes"),
                                 ("max-upload-size = 12Q\n", "max-upload-size: not a size"),
                                 ('public-website = "unterminated\n', "public-website: unterminated")]:
                with open(conf, "w") as f:
                    f.write(text)
                rc, out, err = api_binary(config_path=conf)
                self.assertEqual(rc, 1, text)
                self.assertIn(needle, err, text)
                self.assertIn("hub.conf:1: ", err)
            # environment overrides name the variable
            env = dict(os.environ, HUB_LISTEN_PORT="70000")
            rc, out, err = api_binary(env=env)
            self.assertEqual(rc, 1)
            self.assertIn("environment HUB_LISTEN_PORT: listen-port: 70000 is out of range", err)
            rc, out, err = api_binary(config_path=os.path.join(d, "missing.conf"))
            self.assertEqual(rc, 1)
            self.assertIn("missing.conf", err)

    def test_sample_configuration_loads(self):
        sample = os.path.join(HUB_SOURCE, "deployment", "hub.conf.sample")
        rc, out, err = api_binary("token", "alice", config_path=sample)
        # the file is valid; only the token needs a seed
        self.assertEqual(rc, 1)
        self.assertIn("threebot-seed is not configured", err)
        env = dict(os.environ, HUB_THREEBOT_SEED=TEST_SEED_HEX)
        rc, out, err = api_binary("token", "alice", config_path=sample, env=env)
        self.assertEqual(rc, 0, err)
        # every key of the sample is a known key with the documented default
        rc, defaults, err = api_binary("config-defaults")
        keys = {l.split(" = ")[0] for l in defaults.splitlines()}
        with open(sample) as f:
            for line in f:
                m = re.match(r"^#?\s*([a-z0-9-]+)\s*=", line)
                if m:
                    keys.discard(m.group(1))
        self.assertEqual(keys, set(), "keys missing from the sample")

    def test_defaults_and_missing_directories(self):
        # no file at all: defaults, directories created (parents included)
        with tempfile.TemporaryDirectory() as d, RedisServer() as redis:
            port = free_port()
            env = dict(os.environ, HUB_LISTEN_PORT=str(port), HUB_REDIS_URL=redis.url,
                       HUB_USERDATA_ROOT_PATH=os.path.join(d, "deep", "er", "public"))
            p = subprocess.Popen([os.path.join(HUB_BIN, "flist-hub-api")], cwd=d, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                from hublib import wait_port
                wait_port(port, proc=p)
                self.assertTrue(os.path.isdir(os.path.join(d, "deep", "er", "public", "users")))
                self.assertTrue(os.path.isdir(os.path.join(d, "workdir", "distfiles")))
                self.assertTrue(os.path.isdir(os.path.join(d, "workdir", "temp")))
            finally:
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(10), 0)

    def test_token_command(self):
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "hub.conf")
            with open(conf, "w") as f:
                f.write("threebot-seed = %s\ntoken-max-age = 600\n" % TEST_SEED_HEX)
            rc, out, err = api_binary("token", "alice.3bot", config_path=conf)
            self.assertEqual(rc, 0, err)
            import base64
            raw = base64.urlsafe_b64decode(out.strip())
            user, iat = json.loads(raw[64:])
            self.assertEqual(user, "alice.3bot")
            self.assertLessEqual(abs(iat - time.time()), 5)
            self.assertEqual(raw[64:], json.dumps([user, iat]).encode())  # ", " as the original
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "60", config_path=conf)
            self.assertEqual(rc, 0, err)
            iat = json.loads(base64.urlsafe_b64decode(out.strip())[64:])[1]
            self.assertLessEqual(abs(iat - (time.time() - 540)), 5)
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "6000", config_path=conf)
            self.assertEqual(rc, 1)
            self.assertIn("longer than token-max-age", err)
            rc, out, err = api_binary("token", "../x", config_path=conf)
            self.assertEqual(rc, 1)
            rc, out, err = api_binary("token")
            self.assertEqual(rc, 2)

    def test_sigterm_lets_a_running_request_finish(self):
        with RedisServer() as redis, ApiServer({"authentication": "false", "job-wait-timeout": "20"},
                                               redis=redis) as api:
            worker = FakeWorker(redis)
            out = {}

            def upload():
                ctype, body = multipart({}, [("file", "slow.tar.gz", b"data")])
                out["reply"] = api.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body)

            t = threading.Thread(target=upload)
            t.start()
            jid = worker.wait_queued(1)[0]
            os.kill(api.proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            # no new connections, but the running request is still served
            with self.assertRaises(OSError):
                import socket
                socket.create_connection(("127.0.0.1", api.port), timeout=1).close()
            self.assertIsNone(api.proc.proc.poll())
            worker.finish(jid, result={"name": "slow.flist", "files": {}})
            t.join(20)
            st, h, body = out["reply"]
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body), {"status": "success", "payload": {"name": "slow.flist", "files": {}}})
            self.assertEqual(api.proc.proc.wait(10), 0)


if __name__ == "__main__":
    run_tests()
