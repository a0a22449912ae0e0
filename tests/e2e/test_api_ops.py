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

from hublib import (HUB_BIN, HUB_SOURCE, HUB_TESTDATA, TEST_SEED_HEX, ApiServer, FakeWorker, Process, RedisServer,
                    api_binary, free_port, multipart, run_tests)


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

    def test_metrics_job_gauges_are_the_queues(self):
        """hub_jobs{state} and hub_jobs_dead_letters are read from Redis at
        scrape time: an instance that queued nothing reports the jobs another
        instance queued, and the numbers follow what workers take and ack."""
        def gauges(api):
            st, h, text = api.request("GET", "/metrics")
            self.assertEqual(st, 200)
            text = text.decode()
            out = {}
            for key, pat in (("up", r"^hub_queue_up (\d+)$"), ("queued", r'^hub_jobs\{state="queued"\} (\d+)$'),
                             ("running", r'^hub_jobs\{state="running"\} (\d+)$'),
                             ("dead", r"^hub_jobs_dead_letters (\d+)$"), ("workers", r"^hub_workers (\d+)$")):
                m = re.search(pat, text, re.M)
                out[key] = int(m.group(1)) if m else None
            return out

        with RedisServer() as redis, ApiServer({"authentication": "false"}, redis=redis) as a, \
                ApiServer({"authentication": "false"}, redis=redis, root=a.root) as b:
            self.assertEqual(gauges(b), {"up": 1, "queued": 0, "running": 0, "dead": 0, "workers": 0})
            ctype, body = multipart({}, [("file", "x.tar.gz", b"12345")])
            for _ in range(3):
                st, h, _ = a.request("POST", "/api/flist/me/upload?async=1", {"Content-Type": ctype}, body)
                self.assertEqual(st, 202)
            self.assertEqual(gauges(b), {"up": 1, "queued": 3, "running": 0, "dead": 0, "workers": 0})
            # a worker takes two jobs (consumer group, as worker/ does), acks one
            redis.cmd("XGROUP", "CREATE", "hub:jobs", "workers", "0", "MKSTREAM")
            got = redis.cmd("XREADGROUP", "GROUP", "workers", "w1", "COUNT", "2", "STREAMS", "hub:jobs", ">")
            entries = got[0][1]
            self.assertEqual(len(entries), 2)
            self.assertEqual(gauges(b), {"up": 1, "queued": 1, "running": 2, "dead": 0, "workers": 1})
            redis.cmd("XACK", "hub:jobs", "workers", entries[0][0])
            redis.cmd("XADD", "hub:jobs:dead", "*", "id", "x", "reason", "test")
            self.assertEqual(gauges(a), {"up": 1, "queued": 1, "running": 1, "dead": 1, "workers": 1})
            self.assertEqual(gauges(b), gauges(a))
            redis.kill()
            self.assertEqual(gauges(a), {"up": 0, "queued": None, "running": None, "dead": None,
                                         "workers": None})

    def test_metrics_count_job_ends(self):
        """hub_jobs_total{state} counts the jobs the real flist-hub-worker
        ended (the finish script of hub/queue.c counts in hub:stats), once
        per job, and every instance reports the same numbers."""
        def totals(api):
            st, h, text = api.request("GET", "/metrics")
            self.assertEqual(st, 200)
            text = text.decode()
            if "hub_queue_up 1\n" in text:
                self.assertIn("# TYPE hub_jobs_total counter\n", text)
            out = {}
            for key, pat in (("done", r'^hub_jobs_total\{state="done"\} (\d+)$'),
                             ("failed", r'^hub_jobs_total\{state="failed"\} (\d+)$'),
                             ("queued", r'^hub_jobs\{state="queued"\} (\d+)$'),
                             ("running", r'^hub_jobs\{state="running"\} (\d+)$')):
                m = re.search(pat, text, re.M)
                out[key] = int(m.group(1)) if m else None
            return out

        def settled(api, want):
            """totals() once they equal want, or after 5 s: the worker acks
            its entry (running drops) just after it publishes the end."""
            deadline = time.time() + 5
            while True:
                got = totals(api)
                if got == want or time.time() > deadline:
                    return got
                time.sleep(0.05)

        def upload(api, name, data):
            ctype, body = multipart({}, [("file", name, data)])
            return api.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body, timeout=90)

        conf = {"authentication": "false", "job-wait-timeout": "60"}
        with RedisServer() as redis, ApiServer(conf, redis=redis) as a, \
                ApiServer(conf, redis=redis, root=a.root) as b:
            self.assertEqual(totals(b), {"done": 0, "failed": 0, "queued": 0, "running": 0})
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("HUB_") or k in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE")}
            worker = Process([os.path.join(HUB_BIN, "flist-hub-worker"), "-c", a.conf_path], env=env,
                             log_path=os.path.join(a.root, "worker.log"))
            try:
                st, h, body = upload(a, "bad.tar.gz", b"this is not an archive" * 20)
                self.assertEqual(st, 500, body)
                self.assertTrue(json.loads(body)["message"].startswith("bad.tar.gz: "), body)
                want = {"done": 0, "failed": 1, "queued": 0, "running": 0}
                self.assertEqual(settled(b, want), want)
                st, h, body = upload(b, "worse.tar.gz", b"\x1f\x8b\x08\x00 truncated gzip")
                self.assertEqual(st, 500, body)
                want = {"done": 0, "failed": 2, "queued": 0, "running": 0}
                self.assertEqual(settled(a, want), want)
                self.assertEqual(totals(b), want)
                self.assertEqual(redis.cmd("HGETALL", "hub:stats"), ["jobs-failed", "2"])
            finally:
                status = worker.stop()
                log = worker.output()
            self.assertEqual(status, 0, log[-4000:])
            self.assertNotIn("Sanitizer", log)
            self.assertNotIn("runtime error:", log)
            # Redis gone: no job lines at all, not zeros
            redis.kill()
            self.assertEqual(totals(a), {"done": None, "failed": None, "queued": None, "running": None})

    def test_connection_limits_and_timeouts(self):
        """The connection, per-IP, memory and timeout limits are applied
        (set through HUB_* environment overrides, which every key has)."""
        import socket

        def connect(port):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            return s

        def served(s):
            """1 when the connection gets an HTTP reply, 0 when the server
            closed it without one."""
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = s.recv(4096)
            except OSError:
                return 0
            return 1 if data.startswith(b"HTTP/1.1 200") else 0

        with RedisServer() as redis:
            with ApiServer({"authentication": "false"}, redis=redis,
                           env={"HUB_MAX_CONNECTIONS_PER_IP": "2"}) as api:
                time.sleep(0.5)  # the start-up probe's connection is gone
                a, b = connect(api.port), connect(api.port)
                self.assertEqual((served(a), served(b)), (1, 1))
                c = connect(api.port)
                self.assertEqual(served(c), 0)  # a third connection from 127.0.0.1
                for s in (a, b, c):
                    s.close()
            # one thread: MHD splits max-connections between its threads
            with ApiServer({"authentication": "false", "threads": "1"}, redis=redis,
                           env={"HUB_MAX_CONNECTIONS": "2"}) as api:
                time.sleep(0.5)
                # past the limit a connection waits in the listen backlog
                # (not accepted) until a slot comes free
                a, b = connect(api.port), connect(api.port)
                self.assertEqual((served(a), served(b)), (1, 1))
                c = connect(api.port)
                c.settimeout(1.0)
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertRaises(socket.timeout, c.recv, 4096)
                a.close()
                c.settimeout(5.0)
                self.assertTrue(c.recv(4096).startswith(b"HTTP/1.1 200"))
                for s in (b, c):
                    s.close()
            with ApiServer({"authentication": "false"}, redis=redis,
                           env={"HUB_CONNECTION_TIMEOUT": "1", "HUB_CONNECTION_MEMORY_LIMIT": "8K"}) as api:
                a = connect(api.port)
                t0 = time.time()
                self.assertEqual(a.recv(1), b"")  # the idle connection is closed
                self.assertLess(time.time() - t0, 5)
                a.close()
                # a request whose headers do not fit the connection's memory
                st, h, body = api.request("GET", "/healthz", {"X-Big": "y" * 9000})
                self.assertIn(st, (413, 431))
                self.assertEqual(api.request("GET", "/healthz")[0], 200)

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
        # the sample and the configuration table agree: every key of the
        # table is documented, and every value the sample sets is the default
        rc, defaults, err = api_binary("config-defaults")
        table = dict(l.split(" = ", 1) for l in defaults.splitlines())
        keys = set(table)
        with open(sample) as f:
            for line in f:
                m = re.match(r"^#?\s*([a-z0-9-]+)\s*=", line)
                if m:
                    keys.discard(m.group(1))
                m = re.match(r"^([a-z0-9-]+)\s*=\s*(.*?)\s*(#.*)?$", line.rstrip("\n"))
                if m:
                    self.assertIn(m.group(1), table)
                    self.assertEqual(m.group(2), table[m.group(1)], m.group(1))
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
            # --ttl: the token carries its own expiry as a third element
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "60", config_path=conf)
            self.assertEqual(rc, 0, err)
            user, iat, exp = json.loads(base64.urlsafe_b64decode(out.strip())[64:])
            self.assertLessEqual(abs(iat - time.time()), 5)
            self.assertEqual(exp - iat, 60)
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "6000", config_path=conf)
            self.assertEqual(rc, 1)
            self.assertIn("longer than token-max-age 600", err)
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "0", config_path=conf)
            self.assertEqual(rc, 2)
            self.assertIn("--ttl wants a positive number of seconds", err)
            rc, out, err = api_binary("token", "../x", config_path=conf)
            self.assertEqual(rc, 1)
            rc, out, err = api_binary("token")
            self.assertEqual(rc, 2)

    def test_token_ttl_without_max_age(self):
        """--ttl works without token-max-age: the API accepts the token
        until its own expiry, and refuses a token whose expiry has passed."""
        with RedisServer() as redis, ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX,
                                                "jwt-leeway": "0"}, redis=redis) as api:
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "3600", config_path=api.conf_path)
            self.assertEqual(rc, 0, err)
            st, h, body = api.request("GET", "/api/flist/me", {"Authorization": "Bearer " + out.strip()})
            self.assertEqual((st, json.loads(body)),
                             (200, {"status": "success", "payload": {"username": "alice.3bot"}}))
            rc, out, err = api_binary("token", "alice.3bot", "--ttl", "1", config_path=api.conf_path)
            self.assertEqual(rc, 0, err)
            time.sleep(2.1)
            st, h, body = api.request("GET", "/api/flist/me", {"Authorization": "Bearer " + out.strip()})
            self.assertEqual((st, json.loads(body)), (401, {"message": "token expired", "status": "error"}))

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
