#!/usr/bin/env python3
"""The web pages clicked through in a real browser (issue 10): Debian's
chromium, headless, driven by playwright-core (tests/browser/flows.mjs)
against a whole hub this test starts: flist-hub-api and flist-hub-worker
with a Redis queue and a Redis content backend, a second api with
ThreeFold Connect login on (against a local login server that signs in
alice.3bot), and a readonly api on the same directory.

Flows: browse (official repositories pinned, a repository, links, a tag,
404 pages), search as you type, preview (readme, metadata, tree, download),
upload with progress to a published flist, upload-flist, merge (pick and
order sources), the original hub's plain HTML forms (merge, docker) posted
as they are and refused from another origin, docker (the route's answer shown; a conversion once the
converter is enabled: set HUB_TEST_DOCKER_IMAGE), login, the active
repository switch, the token page, logout, readonly, phone width. Planted
script payloads (flist names, a readme, metadata, query parameters) must
not run. A failed flow leaves a screenshot in <build>/web-screenshots.

Prerequisites: chromium and tests/browser/node_modules (npm ci there;
deployment/install-deps.sh does both). Missing: skipped with a message,
or a failure when CI=true.
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import HUB_BIN, HUB_SOURCE, HUB_TESTDATA, TEST_SEED_HEX, ApiServer, multipart, run_tests  # noqa: E402
from test_worker import BIG, PUBLIC_BACKEND, flist_cmd, make_tar  # noqa: E402
from test_worker_api import HubCase  # noqa: E402

BROWSER_DIR = os.path.abspath(os.path.join(HUB_SOURCE, "tests", "browser"))
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
XSS_NAMES = ["<img src=x onerror=window.__xss=1>.flist", "<svg onload=alert(1)>.flist"]
XSS_README = b"""# Hello web

Some **bold** text, `zflist` code and a [site](https://threefold.io).
A [bad link](javascript:window.__xss=1) and <script>window.__xss=1</script>
<img src=x onerror="window.__xss=1">

- one
- two
"""
ENTRIES = [
    ("etc", None),
    ("etc/hostname", b"box\n"),
    ("bin", None),
    ("bin/big.bin", BIG),
    ("bin/sh", ("link", "/bin/busybox")),
    (".README.md", XSS_README),
]


def prerequisites():
    """The reason the browser cannot run, or None."""
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (apt-get install chromium; deployment/install-deps.sh)"
    if not shutil.which("node"):
        return "node is not installed (deployment/install-deps.sh)"
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return "playwright-core is not installed: cd tests/browser && npm ci (deployment/install-deps.sh)"
    return None


class FakeLoginSite:
    """Plays login.threefold.me for a browser: / signs the user in at once
    and sends the browser back to the hub's callback with a valid
    signedAttempt for the state it was given; /api/users/<name> gives the
    user's Ed25519 public key."""

    def __init__(self, user):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        self.user = user
        self.seed = hashlib.sha256(b"browser test key").digest()
        self.key = Ed25519PrivateKey.from_private_bytes(self.seed)
        pk = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.pk_b64 = base64.b64encode(pk).decode()
        self.hub_secret = hashlib.sha256(b"browser hub box key").digest()
        self.hub = None  # the hub's base URL, set once it runs

    def attempt(self, state):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
        from test_api_login import crypto_box
        hub_x = X25519PrivateKey.from_private_bytes(self.hub_secret)
        hub_pk = hub_x.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        plain = json.dumps({"email": {"email": "a@b.c", "verified": "sig"}}).encode()
        nonce = os.urandom(24)
        user_x = X25519PrivateKey.from_private_bytes(hashlib.sha512(self.seed).digest()[:32])
        ct = crypto_box(plain, nonce, X25519PublicKey.from_public_bytes(hub_pk), user_x)
        msg = json.dumps({"signedState": state, "appId": "hub.test", "doubleName": self.user,
                          "randomRoom": "x", "data": {"nonce": base64.b64encode(nonce).decode(),
                                                      "ciphertext": base64.b64encode(ct).decode()}}).encode()
        sm = self.key.sign(msg) + msg
        return json.dumps({"doubleName": self.user, "signedAttempt": base64.b64encode(sm).decode()})

    def __enter__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path.startswith("/api/users/"):
                    name = urllib.parse.unquote(u.path.rsplit("/", 1)[-1])
                    ok = name == outer.user
                    body = json.dumps({"doublename": name, "publicKey": outer.pk_b64} if ok else {}).encode()
                    self.send_response(200 if ok else 404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                q = urllib.parse.parse_qs(u.query)
                back = "%s%s?signedAttempt=%s" % (outer.hub, q["redirecturl"][0],
                                                   urllib.parse.quote(outer.attempt(q["state"][0]), safe=""))
                self.send_response(302)
                self.send_header("Location", back)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser(HubCase):
    @classmethod
    def setUpClass(cls):
        missing = prerequisites()
        if missing:
            if os.environ.get("CI") == "true":
                raise AssertionError("browser tests cannot run under CI=true: " + missing)
            raise unittest.SkipTest(missing)
        super().setUpClass()
        cls.login = FakeLoginSite("alice.3bot").__enter__()
        cls.auth_api = ApiServer({
            "redis-url": cls.queue.url, "authentication": "true", "threebot-seed": TEST_SEED_HEX,
            "threebot-privatekey": base64.b64encode(cls.login.hub_secret).decode(),
            "threebot-appid": "hub.test", "threebot-login-url": cls.login.url, "session-key": "ab" * 32,
            "threebot-users-map": "alice-apps=alice.3bot",
        }).__enter__()
        cls.login.hub = "http://127.0.0.1:%d" % cls.auth_api.port
        cls.ro_api = ApiServer({"redis-url": cls.queue.url, "authentication": "false", "readonly": "true"},
                               root=cls.api.root).__enter__()

    @classmethod
    def tearDownClass(cls):
        for name in ("ro_api", "auth_api"):
            if hasattr(cls, name):
                getattr(cls, name).__exit__(None, None, None)
        if hasattr(cls, "login"):
            cls.login.__exit__(None, None, None)
        if hasattr(cls, "worker"):
            super().tearDownClass()

    def upload(self, filename, data, fields=None):
        ctype, body = multipart(fields or {}, [("file", filename, data)])
        st, _, reply = self.api.request("POST", "/api/flist/me/upload", {"Content-Type": ctype}, body,
                                        timeout=120)
        self.assertEqual(st, 200, reply)
        return json.loads(reply)["payload"]

    def test_flows(self):
        pub = self.api.public
        work = os.path.join(self.api.root, "browser")
        os.makedirs(work)
        # published through the real worker: a readme with script payloads,
        # metadata with one too
        self.upload("webdemo.tar.gz", make_tar(ENTRIES),
                    {"metadata-description": '<img src=x onerror="window.__xss=1">'})
        self.upload("webtwo.tar.gz", make_tar([("two", b"2"), (".README.md", b"# Two\n")]))
        # a repository whose entries are named like markup
        lab = os.path.join(pub, "xss-lab")
        os.makedirs(os.path.join(lab, ".tag-v1"))
        sample = os.path.join(HUB_TESTDATA, "sample.flist")
        shutil.copy(sample, os.path.join(lab, "sample.flist"))
        for n in XSS_NAMES:
            shutil.copy(sample, os.path.join(lab, n))
        os.symlink(XSS_NAMES[0], os.path.join(lab, "latest.flist"))
        os.symlink("../sample.flist", os.path.join(lab, ".tag-v1", "sample.flist"))
        # files the browser will send
        files = {
            "uploadFile": ("webup.tar.gz", make_tar(ENTRIES)),
            "badUploadFile": ("notes.txt", b"just text"),
            "corruptUploadFile": ("broken.tar.gz", b"not an archive at all" * 40),
        }
        arch, flist = os.path.join(work, "sm.tar.gz"), os.path.join(work, "selfmade.flist")
        with open(arch, "wb") as f:
            f.write(make_tar([("hello", b"hello world")]))
        flist_cmd("create", "--backend", self.backend_url(), arch, flist)
        cfg_files = {"flistFile": flist}
        for key, (name, data) in files.items():
            p = os.path.join(work, name)
            with open(p, "wb") as f:
                f.write(data)
            cfg_files[key] = p
        st, tree = self.api.json("GET", "/api/flist/Administrator/webdemo.flist")
        self.assertEqual(st, 200, tree)
        with open(os.path.join(pub, "Administrator", "webdemo.flist"), "rb") as f:
            md5 = hashlib.md5(f.read()).hexdigest()
        enc = urllib.parse.quote
        docker_image = os.environ.get("HUB_TEST_DOCKER_IMAGE")
        shots = os.path.join(os.path.dirname(os.path.abspath(HUB_BIN)), "web-screenshots")
        shutil.rmtree(shots, ignore_errors=True)
        cfg = dict(cfg_files, **{
            "chromium": CHROMIUM,
            "screenshots": shots,
            "base": "http://127.0.0.1:%d" % self.api.port,
            "authBase": "http://127.0.0.1:%d" % self.auth_api.port,
            "roBase": "http://127.0.0.1:%d" % self.ro_api.port,
            "official": "Administrator",
            "xssRepo": "xss-lab",
            "xssNames": XSS_NAMES,
            "xssPreviewPath": "/xss-lab/" + enc(XSS_NAMES[0][:-len(".flist")], safe="") + ".md",
            "tag": "v1",
            "taggedName": "sample.flist",
            "searchTerm": "webdem",
            "searchExpect": "webdemo.flist",
            "previewPath": "/Administrator/webdemo.flist.md",
            "previewName": "webdemo.flist",
            "previewMd5": md5,
            "previewUrl": "http://hub.test/Administrator/webdemo.flist",
            "previewBackend": "zdb://%s:%d" % (PUBLIC_BACKEND["host"], PUBLIC_BACKEND["port"]),
            "previewSummary": "%d directories, %d regular files, %d symlinks and %d special files" % (
                tree["directory"], tree["regular"], tree["symlink"], tree["special"]),
            "uploadPublished": "Administrator/webup.flist",
            "flistPublished": "Administrator/selfmade.flist",
            "mergeSources": ["Administrator/webdemo.flist", "Administrator/webtwo.flist"],
            "mergeName": "webmerged",
            "mergePublished": "Administrator/webmerged.flist",
            "originalMergeName": "origmerged",
            "dockerImage": docker_image or "alpine:3.19",
            "dockerExpectError": None if docker_image else "*",
            "loginUser": "alice.3bot",
            "virtualUser": "alice-apps",
        })
        env = dict(os.environ, HUB_WEB_CONFIG=json.dumps(cfg))
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "flows.mjs")], env=env, cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=600)
        sys.stderr.write(p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, "browser flows failed (screenshots in %s):\n%s%s" %
                         (shots, p.stdout[-6000:], p.stderr[-3000:]))
        if os.environ.get("HUB_WEB_FLOWS"):
            return  # a subset of the flows (debugging)
        # what the browser did is on disk: the published flists
        for name in ("webup.flist", "selfmade.flist", "webmerged.flist"):
            self.assertTrue(os.path.isfile(os.path.join(pub, "Administrator", name)), name)
        self.assertFalse(os.path.exists(os.path.join(pub, "Administrator", "crosssite.flist")))
        with open(os.path.join(pub, "Administrator", "webmerged.flist"), "rb") as f:
            self.assertGreater(len(f.read()), 0)


if __name__ == "__main__":
    run_tests()
