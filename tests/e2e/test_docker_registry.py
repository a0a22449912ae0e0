#!/usr/bin/env python3
"""End-to-end tests of the registry path of the image converter
(engine/oci_registry.c, oci_convert.c): `flist create docker://...` and
the hub's POST /api/flist/me/docker, against a real Debian docker-registry
started here with no auth, token auth (a token server of the test), basic
auth over TLS, and blob redirects. Images are written by the test (ocireg.py)
and pushed byte-exact through the registry API; no daemon is needed.
"""
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import RedisServer, TempDir, free_port, multipart, run_tests  # noqa: E402
from test_worker import PUBLIC_BACKEND, flist_json  # noqa: E402
from test_worker_api import ME, HubCase  # noqa: E402
from ocireg import (BlobServer, Image, Registry, TokenServer, make_tar,  # noqa: E402
                    require_programs)

BIN = os.environ.get("HUB_BIN", "build/bin")
FLIST = os.path.join(BIN, "flist")


def flist(*args, env=None, check=True):
    e = dict(os.environ)
    for k in ("FLIST_REGISTRY_USER", "FLIST_REGISTRY_PASSWORD", "FLIST_INSECURE_REGISTRY"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run([FLIST, *args], capture_output=True, text=True, timeout=300, env=e)
    if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
        raise AssertionError("flist %s: %s" % (" ".join(args), p.stderr))
    if check and p.returncode != 0:
        raise AssertionError("flist %s failed (%d): %s%s" % (" ".join(args), p.returncode,
                                                             p.stderr, p.stdout))
    return p


def listing(path):
    """path -> entry of `flist find --json`."""
    out = flist("find", "--json", path).stdout
    v = json.loads(out)["response"]
    return {e["path"]: e for e in v["content"]} if isinstance(v, dict) else {e["path"]: e for e in v}


def base_image(kind="oci", comp="gzip", extra=None):
    l1 = make_tar([("bin", None), ("bin/hello", b"#!/bin/sh\necho hello\n"),
                   ("etc", None), ("etc/os-release", b"ID=test\n"), ("etc/gone", b"x")])
    l2 = make_tar([("etc/.wh.gone", b""), ("etc/motd", b"welcome\n")] + (extra or []))
    return Image([(l1, comp), (l2, comp)], config={
        "Env": ["PATH=/usr/bin:/bin", "EMPTY=", "EQ=a=b"], "Cmd": ["/bin/hello"],
        "WorkingDir": "/etc"}, kind=kind)


class RateLimited:
    """A server answering every request 429 with Retry-After, as a
    registry over its pull limit."""

    def __init__(self):
        self.port = free_port()

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS",
                                               "message": "pull rate limit"}]}).encode()
                self.send_response(429)
                self.send_header("Retry-After", "42")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class RegistryCase(unittest.TestCase):
    def setUp(self):
        require_programs(self, "docker-registry", "htpasswd", "zstd")
        self.tmp_ctx = TempDir()
        self.tmp = self.tmp_ctx.__enter__()
        self.addCleanup(self.tmp_ctx.__exit__, None, None, None)

    def start(self, reg):
        reg.__enter__()
        self.addCleanup(reg.__exit__, None, None, None)
        return reg

    def out(self, name="out.flist"):
        return os.path.join(self.tmp, name)


class NoAuth(RegistryCase):
    def test_oci_gzip_image_converted(self):
        reg = self.start(Registry(self.tmp))
        img = base_image()
        reg.push_image("test/app", "v1", img)
        p = flist("create", "docker://%s/test/app:v1" % reg.host, self.out())
        self.assertIn("2 layers", p.stderr)
        ls = listing(self.out())
        self.assertIn("/bin/hello", ls)
        self.assertIn("/etc/motd", ls)
        self.assertNotIn("/etc/gone", ls)
        self.assertNotIn("/etc/.wh.gone", ls)

    def test_layer_kinds_and_docker_manifest(self):
        reg = self.start(Registry(self.tmp))
        l1 = make_tar([("a", None), ("a/plain", b"plain layer\n")])
        l2 = make_tar([("a/zstd", b"zstd layer\n" * 100)])
        l3 = make_tar([("a/gzip", b"gzip layer\n")])
        reg.push_image("kinds/oci", "t", Image([(l1, "none"), (l2, "zstd"), (l3, "gzip")]))
        reg.push_image("kinds/docker", "t", Image([(l1, "none"), (l3, "gzip")], kind="docker"))
        flist("create", "docker://%s/kinds/oci:t" % reg.host, self.out("o.flist"))
        ls = listing(self.out("o.flist"))
        for f in ("/a/plain", "/a/zstd", "/a/gzip"):
            self.assertIn(f, ls)
        self.assertEqual(ls["/a/zstd"]["size"], len(b"zstd layer\n" * 100))
        flist("create", "docker://%s/kinds/docker:t" % reg.host, self.out("d.flist"))
        ls = listing(self.out("d.flist"))
        self.assertIn("/a/plain", ls)
        self.assertIn("/a/gzip", ls)

    def test_index_platforms_attestations_and_digests(self):
        reg = self.start(Registry(self.tmp))
        arm = Image([(make_tar([("which", b"arm64\n")]), "gzip")], arch="arm64")
        amd = Image([(make_tar([("which", b"amd64\n")]), "gzip")], arch="amd64")
        att = Image([(make_tar([("sbom.json", b"{}")]), "gzip")], arch="unknown", os_="unknown")
        reg.push_index("multi/img", "latest", [arm, amd], attestation_for=att)
        reg.push_index("multi/list", "latest", [Image([(make_tar([("which", b"d-arm\n")]), "gzip")],
                                                      kind="docker", arch="arm64"),
                                                Image([(make_tar([("which", b"d-amd\n")]), "gzip")],
                                                      kind="docker")], kind="docker")
        p = flist("create", "docker://%s/multi/img" % reg.host, self.out("a.flist"))
        self.assertIn("linux/amd64", p.stderr)
        self.assertEqual(listing(self.out("a.flist"))["/which"]["size"], len(b"amd64\n"))
        flist("create", "--platform", "linux/arm64", "docker://%s/multi/img" % reg.host,
              self.out("b.flist"))
        self.assertEqual(listing(self.out("b.flist"))["/which"]["size"], len(b"arm64\n"))
        flist("create", "docker://%s/multi/list" % reg.host, self.out("c.flist"))
        self.assertEqual(listing(self.out("c.flist"))["/which"]["size"], len(b"d-amd\n"))
        p = flist("create", "--platform", "linux/s390x", "docker://%s/multi/img" % reg.host,
                  self.out("x.flist"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no image for platform linux/s390x", p.stderr)
        self.assertIn("linux/arm64, linux/amd64", p.stderr)
        self.assertNotIn("unknown", p.stderr)
        self.assertFalse(os.path.exists(self.out("x.flist")))
        # a digest pins the manifest (here: the amd64 one, no index)
        flist("create", "docker://%s/multi/img@%s" % (reg.host, arm.digest), self.out("d.flist"))
        self.assertEqual(listing(self.out("d.flist"))["/which"]["size"], len(b"arm64\n"))

    def test_errors(self):
        reg = self.start(Registry(self.tmp))
        img = base_image()
        reg.push_image("err/app", "v1", img)
        cases = [
            ("docker://%s/err/nothere:v1" % reg.host, "docker image not found"),
            ("docker://%s/err/app:v2" % reg.host, "MANIFEST_UNKNOWN"),
            ("docker://%s/Err/App" % reg.host, "must be lowercase"),
            ("docker://127.0.0.1:1/x", "unreachable"),
            ("docker://%s/err/app@sha256:%s" % (reg.host, "0" * 64), "docker image not found"),
        ]
        for ref, msg in cases:
            p = flist("create", ref, self.out("e.flist"), check=False)
            self.assertNotEqual(p.returncode, 0, ref)
            self.assertIn(msg, p.stderr, ref)
            self.assertFalse(os.path.exists(self.out("e.flist")))
        # rate limited: the registry's retry time is reported
        limiter = RateLimited()
        limiter.__enter__()
        self.addCleanup(limiter.__exit__, None, None, None)
        p = flist("create", "docker://127.0.0.1:%d/x/y:1" % limiter.port, self.out("e.flist"),
                  check=False)
        self.assertIn("rate limited by registry 127.0.0.1:%d (429 TOOMANYREQUESTS" % limiter.port,
                      p.stderr)
        self.assertIn("retry after 42", p.stderr)
        # a remote registry is never spoken to over plain HTTP unless named
        p = flist("create", "docker://registry.invalid:1/x", self.out("e.flist"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unreachable", p.stderr)
        # unsupported media types
        bad = Image([(make_tar([("f", b"x")]), "gzip")])
        man = json.loads(bad.manifest)
        man["layers"][0]["mediaType"] = "application/vnd.example.unknown"
        for blob in bad.blobs.values():
            reg.push_blob("err/media", blob)
        body = json.dumps(man).encode()
        reg.push_manifest("err/media", "t", body, man["mediaType"])
        p = flist("create", "docker://%s/err/media:t" % reg.host, self.out("e.flist"), check=False)
        self.assertIn("unsupported media type \"application/vnd.example.unknown\"", p.stderr)
        # a size that lies in the manifest
        man = json.loads(img.manifest)
        man["layers"][0]["size"] -= 1
        reg.push_manifest("err/app", "short", json.dumps(man).encode(), man["mediaType"])
        p = flist("create", "docker://%s/err/app:short" % reg.host, self.out("e.flist"),
                  check=False)
        self.assertIn("size mismatch", p.stderr)
        self.assertFalse(os.path.exists(self.out("e.flist")))

    def test_digest_mismatch_and_layer_cache(self):
        reg = self.start(Registry(self.tmp))
        img = base_image()
        reg.push_image("cache/app", "v1", img)
        cache = os.path.join(self.tmp, "cache")
        p = flist("create", "--layer-cache", cache, "docker://%s/cache/app:v1" % reg.host,
                  self.out("1.flist"))
        self.assertIn("0 from the layer cache", p.stderr)
        cached = sorted(os.listdir(os.path.join(cache, "sha256")))
        self.assertEqual(cached, sorted(desc["digest"][7:] for desc in img.layer_descs))
        p = flist("create", "--layer-cache", cache, "docker://%s/cache/app:v1" % reg.host,
                  self.out("2.flist"))
        self.assertIn("2 from the layer cache", p.stderr)
        self.assertEqual(listing(self.out("1.flist")).keys(), listing(self.out("2.flist")).keys())
        # the registry serves other bytes for a layer: refused, nothing cached
        d = img.layer_descs[1]["digest"][7:]
        data = os.path.join(reg.storage, "docker/registry/v2/blobs/sha256", d[:2], d, "data")
        with open(data, "r+b") as f:
            b = bytearray(f.read())
            b[-1] ^= 0xFF
            f.seek(0)
            f.write(b)
        cache2 = os.path.join(self.tmp, "cache2")
        p = flist("create", "--layer-cache", cache2, "docker://%s/cache/app:v1" % reg.host,
                  self.out("3.flist"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("digest mismatch", p.stderr)
        self.assertFalse(os.path.exists(self.out("3.flist")))
        # only verified layers stay (the good one, if it finished first);
        # no partial download is left
        left = set(os.listdir(os.path.join(cache2, "sha256")))
        self.assertTrue(left <= {img.layer_descs[0]["digest"][7:]}, left)


class LayerMemo(RegistryCase):
    """Layer results remembered by digest (flist_writer_layer_memo): an
    image sharing layers converts from the memo, to exactly the flist a
    conversion without it gives; a memo whose chunks left the backend is
    not used."""

    def tree(self, backend, path):
        dest = os.path.join(self.tmp, "fetch-%d" % len(os.listdir(self.tmp)))
        flist("get", "--backend", backend, path, "/", dest)
        out = {}
        for dirpath, dirnames, filenames in os.walk(dest):
            for n in filenames:
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, dest)
                if os.path.islink(full):
                    out[rel] = ("link", os.readlink(full))
                else:
                    with open(full, "rb") as f:
                        out[rel] = f.read()
            for n in dirnames:
                out[os.path.relpath(os.path.join(dirpath, n), dest) + "/"] = None
        return out

    def test_memo_same_result_and_stale_memo_ignored(self):
        reg = self.start(Registry(self.tmp))
        redis = RedisServer().__enter__()
        self.addCleanup(redis.__exit__, None, None, None)
        be = "redis://127.0.0.1:%d/0" % redis.port
        shared = [make_tar([("d", None)] + [("d/f%02d" % i, os.urandom(3000 + i)) for i in range(30)]),
                  make_tar([("d/f03", b"replaced"), ("d/.wh.f04", b""), ("e", "->d/f05"),
                            {"name": "d/hl", "type": "hardlink", "target": "d/f06"},
                            (".README.md", b"# readme\n")])]
        a = Image([(shared[0], "gzip"), (shared[1], "zstd"), (make_tar([("a", b"A")]), "gzip")])
        b = Image([(shared[0], "gzip"), (shared[1], "zstd"), (make_tar([("b", b"B" * 5000)]), "none")])
        reg.push_image("memo/img", "a", a)
        reg.push_image("memo/img", "b", b)
        cache = os.path.join(self.tmp, "cache")
        ref_b = "docker://%s/memo/img:b" % reg.host
        flist("create", "--backend", be, "--layer-cache", cache, "docker://%s/memo/img:a" % reg.host,
              self.out("a.flist"))
        self.assertEqual(len(os.listdir(os.path.join(cache, "results"))), 3)
        # b from the memo of its first two layers ...
        p = flist("create", "--json", "--backend", be, "--layer-cache", cache, ref_b, self.out("b.flist"))
        with_memo = json.loads(p.stdout)["response"]
        # ... equals b converted without any cache
        flist("create", "--backend", be, ref_b, self.out("b0.flist"))
        self.assertEqual(listing(self.out("b.flist")), listing(self.out("b0.flist")))
        tb = self.tree(be, self.out("b.flist"))
        self.assertEqual(tb, self.tree(be, self.out("b0.flist")))
        self.assertEqual(tb["d/f03"], b"replaced")
        self.assertNotIn("d/f04", tb)
        self.assertEqual(tb["b"], b"B" * 5000)
        self.assertEqual(flist("metadata", self.out("b.flist"), "readme").stdout,
                         flist("metadata", self.out("b0.flist"), "readme").stdout)
        self.assertIn("# readme", flist("metadata", self.out("b.flist"), "readme").stdout)
        self.assertEqual(with_memo["chunks_uploaded"], 1)   # only b's own layer was new
        # a memo whose chunks are gone from the backend is not used
        redis.cmd("FLUSHALL")
        p = flist("create", "--json", "--backend", be, "--layer-cache", cache, ref_b,
                  self.out("b2.flist"))
        self.assertGreater(json.loads(p.stdout)["response"]["chunks_uploaded"], 30)
        self.assertEqual(self.tree(be, self.out("b2.flist")), tb)
        # damaged memo files are ignored (and written again)
        results = os.path.join(cache, "results")
        for i, name in enumerate(sorted(os.listdir(results))):
            path = os.path.join(results, name)
            with open(path, "r+b") as f:
                data = f.read()
                f.seek(0)
                f.truncate()
                f.write(data[:len(data) // 2] if i % 2 == 0 else b"FLMEMO1\n" + b"\xff" * 64)
        flist("create", "--backend", be, "--layer-cache", cache, ref_b, self.out("b3.flist"))
        self.assertEqual(self.tree(be, self.out("b3.flist")), tb)
        p = flist("create", "--json", "--backend", be, "--layer-cache", cache, ref_b,
                  self.out("b4.flist"))
        self.assertEqual(json.loads(p.stdout)["response"]["chunks_uploaded"], 0)
        self.assertEqual(self.tree(be, self.out("b4.flist")), tb)


class TokenAuth(RegistryCase):
    def test_anonymous_private_credentials_and_redirects(self):
        ts = TokenServer(self.tmp, {"admin": "adminpw", "alice": "alicepw"})
        ts.__enter__()
        self.addCleanup(ts.__exit__, None, None, None)
        blobs = BlobServer()
        blobs.__enter__()
        self.addCleanup(blobs.__exit__, None, None, None)
        # the redirect middleware sends blob GETs to the file server, on
        # another host name (localhost, not 127.0.0.1)
        reg = Registry(self.tmp, auth="token", token_server=ts,
                       redirect="http://localhost:%d/" % blobs.port)
        blobs.root = reg.storage
        self.start(reg)
        reg.push_user = ("admin", "adminpw")
        img = base_image()
        reg.push_image("public/app", "v1", img)
        reg.push_image("private/app", "v1", img)
        flist("create", "docker://%s/public/app:v1" % reg.host, self.out("pub.flist"))
        self.assertIn("/etc/motd", listing(self.out("pub.flist")))
        self.assertTrue(any(r["user"] is None for r in ts.requests))
        got = [r for r in blobs.requests if "/blobs/" in r["path"]]
        self.assertTrue(got, "the layers came through the redirect")
        self.assertTrue(all(r["authorization"] is None for r in got), got)
        # private: anonymous is refused with a clear message
        p = flist("create", "docker://%s/private/app:v1" % reg.host, self.out("priv.flist"),
                  check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("docker image not found or access denied", p.stderr)
        # ... with credentials from the environment it works
        flist("create", "docker://%s/private/app:v1" % reg.host, self.out("priv.flist"),
              env={"FLIST_REGISTRY_USER": "alice", "FLIST_REGISTRY_PASSWORD": "alicepw"})
        self.assertIn("/etc/motd", listing(self.out("priv.flist")))
        self.assertIn("alice", [r["user"] for r in ts.requests])
        # ... and from a Docker config.json
        creds = os.path.join(self.tmp, "config.json")
        import base64
        with open(creds, "w") as f:
            json.dump({"auths": {reg.host: {"auth": base64.b64encode(b"alice:alicepw").decode()}}}, f)
        os.remove(self.out("priv.flist"))
        flist("create", "--creds-file", creds, "docker://%s/private/app:v1" % reg.host,
              self.out("priv.flist"))
        self.assertTrue(os.path.exists(self.out("priv.flist")))
        # wrong credentials: refused by the token server
        p = flist("create", "docker://%s/private/app:v1" % reg.host, self.out("bad.flist"),
                  env={"FLIST_REGISTRY_USER": "alice", "FLIST_REGISTRY_PASSWORD": "nope"},
                  check=False)
        self.assertIn("credentials were refused", p.stderr)
        self.assertNotIn("nope", p.stderr)
        self.assertFalse(os.path.exists(self.out("bad.flist")))


class BasicAuthTls(RegistryCase):
    def test_basic_auth_over_tls(self):
        reg = self.start(Registry(self.tmp, auth="basic", users={"bob": "bobpw"}))
        reg.push_user = ("bob", "bobpw")
        reg.push_image("team/app", "v1", base_image())
        ref = "docker://%s/team/app:v1" % reg.host
        env = {"FLIST_REGISTRY_USER": "bob", "FLIST_REGISTRY_PASSWORD": "bobpw"}
        # without the CA the certificate is refused (and never plain HTTP instead)
        p = flist("create", ref, self.out(), env=env, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certificate", p.stderr)
        flist("create", "--ca-file", reg.ca, ref, self.out(), env=env)
        self.assertIn("/etc/motd", listing(self.out()))
        os.remove(self.out())
        p = flist("create", "--ca-file", reg.ca, ref, self.out(), check=False)
        self.assertIn("docker image not found or access denied", p.stderr)
        self.assertIn("needs credentials", p.stderr)
        p = flist("create", "--ca-file", reg.ca, ref, self.out(), check=False,
                  env={"FLIST_REGISTRY_USER": "bob", "FLIST_REGISTRY_PASSWORD": "wrong"})
        self.assertIn("credentials were refused", p.stderr)
        self.assertFalse(os.path.exists(self.out()))


def post_docker(api, fields, query="", timeout=120):
    """POST /api/flist/me/docker with form fields: (status, parsed reply)."""
    ctype, body = multipart(fields, [])
    st, _, b = api.request("POST", "/api/flist/me/docker" + query, {"Content-Type": ctype}, body,
                           timeout=timeout)
    return st, json.loads(b)


class RegistryHubCase(HubCase):
    """A whole hub and the servers of the test (cls.start_servers: by
    default one docker-registry, cls.reg) in the directory cls.tmp; every
    server entered with cls.enter is left in reverse order, even when the
    hub does not start. No tests of its own."""

    @classmethod
    def missing(cls):
        """Why the class cannot run here, or None (a subclass adds its own)."""
        if shutil.which("docker-registry") is None:
            return "docker-registry missing (deployment/install-deps.sh)"
        return None

    @classmethod
    def setUpClass(cls):
        why = cls.missing()
        if why:   # skipped, but under CI=true a failure: never a silent pass
            raise AssertionError("CI: " + why) if os.environ.get("CI") == "true" \
                else unittest.SkipTest(why)
        cls.entered = []
        try:
            cls.tmp = cls.enter(TempDir())
            cls.start_servers()
            super().setUpClass()
        except BaseException:
            cls.leave()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.leave()

    @classmethod
    def enter(cls, server):
        value = server.__enter__()
        cls.entered.append(server)
        return value

    @classmethod
    def leave(cls):
        while cls.entered:
            cls.entered.pop().__exit__(None, None, None)

    @classmethod
    def start_servers(cls):
        cls.reg = cls.enter(Registry(cls.tmp))

    def post(self, fields, query=""):
        return post_docker(self.api, fields, query)


class HubDocker(RegistryHubCase):
    """POST /api/flist/me/docker end to end: a real api and worker convert
    from a real registry (the layer cache under the hub's workdir)."""
    CONFIG = {"docker-max-image-size": "1M"}

    @classmethod
    def start_servers(cls):
        cls.reg = cls.enter(Registry(cls.tmp))
        cls.ts = cls.enter(TokenServer(cls.tmp, {"admin": "adminpw", "carol": "carol-secret-pw"}))
        cls.private = cls.enter(Registry(cls.tmp, auth="token", token_server=cls.ts))
        cls.private.push_user = ("admin", "adminpw")
        # a second private registry whose credentials are in the configuration
        cls.configured = cls.enter(Registry(cls.tmp, auth="basic", users={"dave": "dave-pw"}))
        cls.configured.push_user = ("dave", "dave-pw")
        creds = os.path.join(cls.tmp, "docker-config.json")
        with open(creds, "w") as f:
            json.dump({"auths": {cls.configured.host: {"username": "dave", "password": "dave-pw"}}}, f)
        cls.CONFIG = dict(cls.CONFIG, **{"docker-credentials-file": creds,
                                         "docker-ca-file": cls.configured.ca})

    def test_compat_async_events_and_cache(self):
        img = base_image()
        self.reg.push_image("hub/app", "v1", img)
        image = "%s/hub/app:v1" % self.reg.host
        name = "%s-hub-app-v1.flist" % self.reg.host.replace(":", "-")
        st, v = self.post({"image": image})
        self.assertEqual(st, 200, v)
        stats = v["payload"]["name"]
        self.assertEqual(set(v["payload"]), {"name"})
        self.assertEqual(stats["failure"], 0)
        self.assertEqual(stats["regular"], 4)   # hello, os-release, motd, .startup.toml
        path = os.path.join(self.api.public, ME, name)
        tree = self.fetch(path)
        self.assertEqual(tree["/bin/hello"], b"#!/bin/sh\necho hello\n")
        self.assertEqual(tree["/etc/motd"], b"welcome\n")
        self.assertNotIn("/etc/gone", tree)
        self.assertIn(b'name = "/bin/hello"', tree["/.startup.toml"])
        self.assertIn(b'EQ = "a=b"', tree["/.startup.toml"])
        self.assertEqual(flist_json("metadata", "--json", path, "backend")["value"], PUBLIC_BACKEND)
        self.assertEqual(flist_json("check", "--backend", self.backend_url(), "--json",
                                    path)["failure"], 0)
        # again, async: every layer from the cache; the events of the conversion
        st, v = self.post({"image": image}, "?async=1")
        self.assertEqual(st, 202, v)
        jid = v["payload"]["job"]
        status, hdrs, stream = self.api.request("GET", "/listen/%s" % jid, timeout=60)
        events = [json.loads(line[len("data: "):]) for line in stream.decode().split("\n")
                  if line.startswith("data: ")]
        msgs = [e.get("message", "") for e in events]
        self.assertEqual(msgs[0], "Initializing docker converter")
        self.assertTrue(any(m.startswith("Uploading chunks") for m in msgs), msgs)
        self.assertIn("Publishing", msgs)
        self.assertEqual(events[-2], {"status": "update", "message": "Image ready !", "progress": 100})
        self.assertEqual(events[-1], {"status": "info", "info": {
            "status": "success", "file": name, "flist": stats, "timing": {}}})
        # each layer's end is an event of its own (the web page draws a row per layer)
        ends = {}
        for m in msgs:
            x = re.match(r"^Downloading layers \[.+ / .+\] \(layer (\d+)/(\d+): (\d+) / (\d+) "
                         r"bytes\)$", m)
            if x and x.group(3) == x.group(4):
                ends[int(x.group(1))] = (int(x.group(2)), int(x.group(4)))
        self.assertEqual(ends, {i + 1: (2, d["size"]) for i, d in enumerate(img.layer_descs)},
                         msgs)
        job = self.wait_job(jid)
        self.assertEqual(job["state"], "done")
        # from the layer cache and the layer memo: the same flist content
        self.assertEqual(self.fetch(path), tree)
        self.assertEqual(job["result"]["layers_cached"], 2)
        self.assertEqual(job["result"]["file"], name)
        self.assertEqual(job["result"]["manifest"], img.digest)
        self.assertEqual(job["type"], "docker-convert")
        st, _, metrics = self.api.request("GET", "/metrics")
        self.assertIn(b'hub_jobs_queued_total{type="docker-convert"} 2', metrics)

    def test_per_request_credentials_sealed_and_forgotten(self):
        self.private.push_image("private/app", "v1", base_image())
        image = "%s/private/app:v1" % self.private.host
        name = "%s-private-app-v1.flist" % self.private.host.replace(":", "-")
        st, v = self.post({"image": image})
        self.assertEqual(st, 500)
        self.assertIn("docker image not found or access denied", v["message"])
        st, v = self.post({"image": image, "username": "carol", "password": "wrong-pw"})
        self.assertEqual(st, 500)
        self.assertIn("credentials were refused", v["message"])
        self.assertNotIn("wrong-pw", v["message"])
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, name)))
        st, v = self.post({"image": image, "username": "carol", "password": "carol-secret-pw"},
                          "?async=1")
        self.assertEqual(st, 202, v)
        jid = v["payload"]["job"]
        raw = self.queue.cmd("HGET", "hub:job:" + jid, "input")
        raw = raw.decode() if isinstance(raw, bytes) else raw
        self.assertNotIn("carol", raw)
        self.assertNotIn("carol-secret-pw", raw)
        self.assertEqual(set(json.loads(raw)["credentials"]), {"ref", "box"})
        job = self.wait_job(jid)
        self.assertEqual(job["state"], "done", job)
        self.assertNotIn("credentials", job["input"])
        self.assertIn("carol", [r["user"] for r in self.ts.requests])
        self.assertTrue(os.path.exists(os.path.join(self.api.public, ME, name)))
        # the key that opens the box is gone once the job ended
        self.assertEqual(self.queue.cmd("KEYS", "hub:secret:*"), [])
        for log in (os.path.join(self.api.root, "worker.log"), self.api.log_path):
            with open(log) as f:
                self.assertNotIn("carol-secret-pw", f.read())

    def test_credentials_and_ca_from_the_configuration(self):
        self.configured.push_image("team/app", "v2", base_image())
        st, v = self.post({"image": "%s/team/app:v2" % self.configured.host})
        self.assertEqual(st, 200, v)
        name = "%s-team-app-v2.flist" % self.configured.host.replace(":", "-")
        self.assertEqual(self.fetch(os.path.join(self.api.public, ME, name))["/etc/motd"],
                         b"welcome\n")

    def test_errors_publish_nothing(self):
        host = self.reg.host
        st, v = self.post({"image": "%s/hub/missing:v1" % host})
        self.assertEqual(st, 500)
        self.assertTrue(v["message"].startswith("docker image not found: "), v)
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME,
                                                     "%s-hub-missing-v1.flist" % host.replace(":", "-"))))
        # over docker-max-image-size (1M here)
        big = Image([(make_tar([("big", os.urandom(1 << 21))]), "gzip")])
        self.reg.push_image("hub/big", "v1", big)
        st, v = self.post({"image": "%s/hub/big:v1" % host})
        self.assertEqual(st, 500)
        self.assertIn("over the limit", v["message"])
        # a platform the image does not have
        self.reg.push_image("hub/small", "v1", base_image())
        st, v = self.post({"image": "%s/hub/small:v1" % host, "platform": "linux/arm64"}, "?async=1")
        job = self.wait_job(v["payload"]["job"])
        self.assertEqual(job["state"], "done")   # a single manifest: no platform to choose
        st, v = self.post({"image": "%s/hub/small:v1" % host, "platform": "linux"})
        self.assertEqual(st, 400)
        # a hostile image: every escape refuses the whole image, nothing published
        hostile = [
            [("../escape", b"x")],
            [("/abs/../../escape2", b"x")],
            [("link", "->/"), ("link/../../escape3", b"x")],
            [("up", "->../../.."), {"name": "hl", "type": "hardlink", "target": "../../etc/passwd"}],
        ]
        for i, entries in enumerate(hostile):
            evil = Image([(make_tar([("ok", b"fine")]), "gzip"), (make_tar(entries), "gzip")])
            self.reg.push_image("hub/evil", "v%d" % i, evil)
            st, v = self.post({"image": "%s/hub/evil:v%d" % (host, i)})
            self.assertEqual(st, 500, (entries, v))
            self.assertIn("layer 2 of 2", v["message"])
        names = os.listdir(os.path.join(self.api.public, ME))
        self.assertFalse([n for n in names if "missing" in n or "big" in n or "evil" in n
                          or n.startswith(".tmp-job-")], names)
        for root in (self.api.root, os.path.dirname(self.api.root)):
            self.assertFalse([n for n in os.listdir(root) if n.startswith("escape")])



class HubDockerEvict(RegistryHubCase):
    """docker-layer-cache-max: the worker bounds the layer cache after each
    conversion (least recently used first; worker/layer_evict.c)."""
    CONFIG = {"docker-layer-cache-max": "1"}

    def test_cache_bounded_after_each_job(self):
        self.reg.push_image("evict/app", "v1", base_image())
        cache = os.path.join(self.api.root, "workdir", "layers")
        for _ in range(2):
            st, v = self.post({"image": "%s/evict/app:v1" % self.reg.host}, "?async=1")
            self.assertEqual(st, 202, v)
            job = self.wait_job(v["payload"]["job"], timeout=60)
            self.assertEqual(job["state"], "done", job)
            # a 1-byte bound: nothing of the cache is left, so nothing is cached next time
            self.assertEqual(job["result"]["layers_cached"], 0)
            left = [n for sub in ("sha256", "results") if os.path.isdir(os.path.join(cache, sub))
                    for n in os.listdir(os.path.join(cache, sub))]
            self.assertEqual(left, [])
        with open(os.path.join(self.api.root, "worker.log")) as f:
            self.assertIn("layer cache (", f.read())


class HubDockerSlow(RegistryHubCase):
    """A registry that sends its layers slowly: the job stops at
    job-max-duration during the download, publishes nothing, and leaves no
    partial layer in the cache."""
    CONFIG = {"job-max-duration": "3"}

    @classmethod
    def start_servers(cls):
        cls.blobs = cls.enter(BlobServer(rate=64 * 1024))
        reg = Registry(cls.tmp, redirect="http://localhost:%d/" % cls.blobs.port)
        cls.blobs.root = reg.storage
        cls.reg = cls.enter(reg)

    def test_slow_download_stops_at_job_max_duration(self):
        img = Image([(make_tar([("big", os.urandom(2 << 20))]), "gzip")])
        self.reg.push_image("slow/app", "v1", img)
        t = time.time()
        st, v = self.post({"image": "%s/slow/app:v1" % self.reg.host})
        self.assertEqual(st, 500, v)
        self.assertIn("layer downloads stopped: the job ran longer than job-max-duration (3 s)",
                      v["message"])
        self.assertLess(time.time() - t, 15)
        self.assertFalse([n for n in os.listdir(os.path.join(self.api.public, ME)) if "slow" in n])
        cache = os.path.join(self.api.root, "workdir", "layers", "sha256")
        self.assertEqual(os.listdir(cache) if os.path.isdir(cache) else [], [])


if __name__ == "__main__":
    run_tests()
