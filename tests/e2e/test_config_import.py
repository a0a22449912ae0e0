#!/usr/bin/env python3
"""End-to-end: moving from an existing 0-hub. `flist-hub-api config-import`
converts a config.py written like the original's sample; the api started on
the result serves the original's public/ directory as it is and accepts a
token the original hub minted with the same seed (HUB-API.md §12.3's test
vector); bad config.py files get a clear error and no output."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from hublib import (HUB_BIN, HUB_TESTDATA, Process, RedisServer, free_port, run_tests, wait_port)

API = os.path.join(HUB_BIN, "flist-hub-api")
SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()
# minted by the original hub with seed b'0123456789abcdef0123456789abcdef'
# for alice.3bot at 1700000000 (HUB-API.md §12.3)
ORIGINAL_TOKEN = ("2CyTRtPjzCiT4cfy9LICCRbi2JIxa_YTd0Z61Qb0mdkPXNLHq6GKO7PPeEu5F7UL6xuXct1QtU8s4pYmc2_eAlsiYWxpY2Uu"
                  "M2JvdCIsIDE3MDAwMDAwMDBd")

CONFIG_PY = r'''#
# You should adapt this part to your usage
#
config = {
    ## 0-db internal endpoint (host, port, optional password, namespace)
    'backend-internal-host': "my-zdb-host",
    'backend-internal-port': 9900,
    'backend-internal-pass': '',
    'backend-internal-name': 'default',

    ## 0-db public endpoint
    'backend-public-host': "hub.tld",
    'backend-public-port': 9900,
    'backend-public-name': "default",

    'public-website': "https://hub.tld",   # no trailing slash
    'listen-addr': '::',
    'listen-port': 5555,
    'ignored-files': ['.', '..', '.keep'],
    'official-repositories': ['official-apps', 'dockers'],
    'zflist-bin': '/opt/0-flist/zflist/zflist',
    'userdata-root-path': '/opt/0-hub/public',
    # 'workdir-root-path': '/opt/0-hub/workdir',
    'authentication': True,
    'iyo-clientid': '',
    'iyo-secret': '',
    'iyo-callback': 'http://127.0.0.1:5555/_iyo_callback',
    'threebot-privatekey': 'Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=',
    'threebot-appid': 'hub.tld',
    'threebot-seed': b'0123456789abcdef0123456789abcdef',
    'threebot-users-map': {'official-apps': 'tfofficial.3bot'},
    'guest-token': None,
    'debug': True,
}
'''


def config_import(path):
    return subprocess.run([API, "config-import", path], capture_output=True, text=True, timeout=30)


class ConfigImport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hub-import-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_conversion(self):
        r = config_import(self.write("config.py", CONFIG_PY))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = {}
        for line in r.stdout.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                lines[k.strip()] = v.strip()
        self.assertEqual(lines["backend-internal-kind"], "zdb")
        self.assertEqual(lines["backend-internal-host"], '"my-zdb-host"')
        self.assertEqual(lines["backend-internal-port"], "9900")
        self.assertEqual(lines["listen-addr"], '"::"')
        self.assertEqual(lines["official-repositories"], "official-apps, dockers")
        self.assertEqual(lines["threebot-users-map"], "official-apps=tfofficial.3bot")
        self.assertEqual(lines["threebot-seed"], b"0123456789abcdef0123456789abcdef".hex())
        self.assertEqual((lines["authentication"], lines["debug"], lines["guest-token"]),
                         ("true", "true", ""))
        self.assertEqual(lines["userdata-root-path"], '"/opt/0-hub/public"')
        for gone in ("ignored-files", "zflist-bin", "iyo-clientid", "iyo-secret", "iyo-callback"):
            self.assertNotIn(gone, lines)
            self.assertIn("# %s: not converted" % gone, r.stdout)
        self.assertIn("# workdir-root-path:", r.stdout)
        self.assertIn("debug is on", r.stderr)

    def test_bytes_escapes_sets_and_unknown_keys(self):
        seed = bytes(range(32))
        lit = "b'" + "".join("\\x%02x" % c for c in seed) + "'"
        text = ("import os\nconfig = {\n 'threebot-seed': %s,\n 'allowed-extensions': {'.tar.gz'},\n"
                " 'guest-token': \"tok\\\"en\",\n 'mystery': 1,\n}\n" % lit)
        r = config_import(self.write("c.py", text))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("threebot-seed = %s\n" % seed.hex(), r.stdout)
        self.assertIn("allowed-extensions = .tar.gz\n", r.stdout)
        self.assertIn('guest-token = "tok\\"en"\n', r.stdout)
        self.assertIn("# mystery: not a key of the original hub", r.stdout)
        self.assertIn('unknown key "mystery"', r.stderr)

    def test_bad_files(self):
        cases = [
            ("config = {\n 'threebot-seed': b'short',\n}\n", "threebot-seed: 5 bytes"),
            ("config = {\n 'listen-port': 5555\n 'debug': True}\n", "line 3: expected ',' or '}'"),
            ("config = {\n 'public-website': 'https://x\n}\n", "line 2: unterminated string"),
            ("settings = {}\n", "no `config = {...}` assignment"),
            ("config = {\n 'listen-port': None,\n}\n", "listen-port: expected"),
            ("config = {\n 'official-repositories': 'one',\n}\n", "official-repositories: expected a list"),
            # nothing in config.py can add a line of its own to the output
            ("config = {'x\\nauthentication = false': 1}\n", "invalid key name"),
            ("config = {'threebot-users-map': {'a': 'b\\nreadonly=true'}}\n", "threebot-users-map: expected"),
            ("config = {'public-website': 'a\\rb'}\n", "public-website: expected a string without NUL"),
            ("config = {'listen-port': 99999999999999999999}\n", "expected an integer"),
        ]
        for text, msg in cases:
            r = config_import(self.write("bad.py", text))
            self.assertEqual(r.returncode, 1, text)
            self.assertIn(msg, r.stderr, text)
            self.assertEqual(r.stdout, "", text)   # nothing half-written
        r = config_import(os.path.join(self.tmp, "missing.py"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.py: No such file", r.stderr)

    def test_hub_runs_on_the_converted_file_and_the_original_directory(self):
        # the original's public/ directory: users/<repo>/<name>.flist, a link
        public = os.path.join(self.tmp, "public")
        repo = os.path.join(public, "users", "alice.3bot")
        os.makedirs(repo)
        with open(os.path.join(repo, "app.flist"), "wb") as f:
            f.write(SAMPLE)
        os.symlink("app.flist", os.path.join(repo, "latest.flist"))
        conf = CONFIG_PY.replace("/opt/0-hub/public", public)
        r = config_import(self.write("config.py", conf))
        self.assertEqual(r.returncode, 0, r.stderr)
        conf_path = self.write("hub.conf", r.stdout)
        port = free_port()
        with RedisServer() as redis:
            env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
            # what differs on this machine: the address, the queue, the scratch directory
            env.update({"HUB_LISTEN_ADDR": "127.0.0.1", "HUB_LISTEN_PORT": str(port),
                        "HUB_REDIS_URL": redis.url,
                        "HUB_WORKDIR_ROOT_PATH": os.path.join(self.tmp, "workdir")})
            proc = Process([API, "-c", conf_path], env=env, log_path=os.path.join(self.tmp, "api.log"))
            try:
                wait_port(port, proc=proc.proc)
                import http.client

                def get(path, headers=None):
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", path, headers=headers or {})
                    resp = c.getresponse()
                    body = resp.read()
                    c.close()
                    return resp.status, body
                st, body = get("/api/flist/alice.3bot")
                self.assertEqual(st, 200, body)
                names = {e["name"]: e["type"] for e in json.loads(body)}
                self.assertEqual(names, {"app.flist": "regular", "latest.flist": "symlink"})
                st, body = get("/alice.3bot/latest.flist")
                self.assertEqual((st, body), (200, SAMPLE))
                # a token the original minted with this seed (token-max-age 0: forever)
                st, body = get("/api/flist/me", {"Authorization": "Bearer " + ORIGINAL_TOKEN})
                self.assertEqual(st, 200, body)
                self.assertEqual(json.loads(body)["payload"]["username"], "alice.3bot")
                # and one signed with another seed is refused
                bad = ORIGINAL_TOKEN[:10] + ("A" if ORIGINAL_TOKEN[10] != "A" else "B") + ORIGINAL_TOKEN[11:]
                st, body = get("/api/flist/me", {"Authorization": "Bearer " + bad})
                self.assertEqual(st, 401, body)
                st, body = get("/api/repositories")
                self.assertIn("alice.3bot", [e["name"] for e in json.loads(body)])
            finally:
                status = proc.stop()
                if status != 0:
                    raise AssertionError("api exit %s: %s" % (status, proc.output()[-3000:]))


if __name__ == "__main__":
    run_tests()
