#!/usr/bin/env python3
"""End-to-end tests of the engine path (engine/docker_engine.c) through
`flist create docker-daemon:NAME`: a real dockerd started here (Debian's
docker.io, tests/e2e/dockerd.py), images the test builds and loads itself
(docker-archive tars; no network), converted and compared with the same
image converted by the layer applier from an OCI layout (the export equals
it plus Docker's init files, docs/OCI-NOTES.md §6); the metadata; the
container always removed; an image the hub did not pull kept, one it
pulled (from a docker-registry started here) removed; clear errors.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockerd import Dockerd, docker_archive, dockerd_missing  # noqa: E402
from hublib import Process, RedisServer, free_port, wait_port  # noqa: E402
from ocilayout import D, F, H, L, OPQ, WH, Layout, tar_bytes, tree  # noqa: E402

HUB_BIN = os.environ.get("HUB_BIN", "build/bin")
FLIST = os.path.join(HUB_BIN, "flist")
CI = os.environ.get("CI") == "true"
STARTUP = ".startup.toml"
# what the export adds to the image's own tree (OCI-NOTES.md §6)
DOCKER_INIT = {".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab",
               "dev", "dev/console", "dev/pts", "dev/shm", "proc", "sys"}

LAYER1 = [D("etc"), F("etc/os-release", b"ID=test\n"), D("bin"),
          F("bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755), H("bin/tool2", "bin/tool", mode=0o755),
          D("gone"), F("gone/x", b"x"), D("opq"), F("opq/old", b"old"),
          F("etc/removed.conf", b"bye\n"), D("var"), D("run"), L("var/run", "../run"),
          D("home"), D("home/u", mode=0o700, uid=1000, gid=1000),
          F("home/u/notes", b"mine\n", mode=0o600, uid=1000, gid=1000),
          L("bin/sh-link", "/bin/tool"), F("bin/su", b"su", mode=0o4755),
          F("big.bin", bytes(range(256)) * 8192)]
LAYER2 = [WH("etc/removed.conf"), WH("gone"), D("opq"), F("opq/new", b"new"), OPQ("opq"),
          F("run/app.pid", b"1\n"), F("bin/tool", b"#!/bin/sh\necho tool v2\n", mode=0o755),
          D("tmp", mode=0o1777), D("srv")]
CONFIG = {"Entrypoint": ["/bin/tool"], "Cmd": ["--serve", "x y"],
          "Env": ["PATH=/bin", "EMPTY=", "EQ=k=v"], "WorkingDir": "/srv", "User": "1000",
          "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}}}


def run(*args, check=True, env=None):
    p = subprocess.run([FLIST, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError("flist %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                            p.stderr))
    return p


def missing():
    why = dockerd_missing()
    if why:
        return why
    for t in ("umoci", "redis-server", "docker-registry"):
        if not shutil.which(t):
            return "%s not found (deployment/install-deps.sh)" % t
    return None


@unittest.skipIf(missing() and not CI, str(missing()))
class DockerEngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if missing():
            raise AssertionError("CI: " + missing())
        cls.tmp = tempfile.mkdtemp(prefix="hub-engine-")
        cls.redis = RedisServer().start()
        cls.backend = cls.redis.backend_url("0")
        cls.dockerd = Dockerd()
        try:
            cls.dockerd.start()
        except Exception:
            cls.redis.stop()
            raise
        cls.env = dict(os.environ, DOCKER_HOST="unix://" + cls.dockerd.socket)
        cls.layers = [tar_bytes(LAYER1), tar_bytes(LAYER2)]
        cls.dockerd.load(docker_archive("hubtest/engine:v1", cls.layers, CONFIG))
        # the same image as an OCI layout, converted by the registry-path applier
        lay = Layout(os.path.join(cls.tmp, "layout"))
        lay.tag(lay.image([lay.layer(LAYER1), lay.layer(LAYER2)], CONFIG), "v1")
        cls.oci_flist = os.path.join(cls.tmp, "oci.flist")
        run("create", "--backend", cls.backend, "oci:%s:v1" % lay.path, cls.oci_flist)
        cls.oci_tree = cls.fetch(cls.oci_flist, "oci")

    @classmethod
    def tearDownClass(cls):
        cls.dockerd.stop()
        cls.redis.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def fetch(cls, flist_path, name):
        dest = os.path.join(cls.tmp, name + ".tree")
        shutil.rmtree(dest, ignore_errors=True)
        run("get", "--backend", cls.backend, flist_path, "/", dest)
        return tree(dest)

    def convert(self, image, name, check=True, env=None):
        out = os.path.join(self.tmp, name + ".flist")
        p = run("create", "--backend", self.backend, "docker-daemon:" + image, out,
                check=check, env=env or self.env)
        return out, p

    def test_engine_equals_layer_applier(self):
        out, _ = self.convert("hubtest/engine:v1", "engine")
        got = self.fetch(out, "engine")
        for path in DOCKER_INIT:
            self.assertIn(path, got)
        want = {p: v for p, v in self.oci_tree.items() if p != STARTUP}
        mine = {p: v for p, v in got.items() if p not in DOCKER_INIT and p != STARTUP}
        self.assertEqual(sorted(set(mine) ^ set(want)), [])
        for p in sorted(want):
            self.assertEqual(mine[p], want[p], p)
        # the semantics themselves, as Docker applied them
        self.assertNotIn("gone", got)
        self.assertNotIn("etc/removed.conf", got)
        self.assertEqual(sorted(p for p in got if p.startswith("opq/")), ["opq/new"])
        self.assertIn("run/app.pid", got)
        self.assertEqual(got["bin/su"][3], 0o4755)
        self.assertEqual(got["home/u"][3:], (0o700, 1000, 1000))

    def test_metadata_and_startup(self):
        out, _ = self.convert("hubtest/engine:v1", "meta")
        meta = lambda n: run("metadata", out, n).stdout  # noqa: E731
        self.assertEqual(json.loads(meta("entrypoint")), ["/bin/tool", "--serve", "x y"])
        self.assertEqual(json.loads(meta("environ")), {"PATH": "/bin", "EMPTY": "", "EQ": "k=v"})
        self.assertEqual(json.loads(meta("port")), {"tcp/8080": 8080})
        self.assertEqual(json.loads(meta("volume")), {"/data": {}})
        self.assertEqual(meta("workdir").strip(), "/srv")
        self.assertEqual(meta("user").strip(), "1000")
        dest = os.path.join(self.tmp, "meta.tree")
        run("get", "--backend", self.backend, out, "/.startup.toml", dest)
        with open(dest) as f:
            self.assertEqual(f.read(), "\n".join([
                "[startup]", "", "[startup.entry]", 'name = "core.system"', "",
                "[startup.entry.args]", 'name = "/bin/tool"', 'args = ["--serve", "x y"]',
                'dir = "/srv"', "", "[startup.entry.args.env]", 'PATH = "/bin"', 'EMPTY = ""',
                'EQ = "k=v"', ""]))

    def test_container_removed_image_kept(self):
        before = len(self.dockerd.containers())
        self.convert("hubtest/engine:v1", "kept")
        self.assertEqual(len(self.dockerd.containers()), before)
        self.assertEqual(self.dockerd.containers(), [])
        self.assertTrue(self.dockerd.has_image("hubtest/engine:v1"))

    def test_pulled_image_removed(self):
        port = free_port()
        rdir = os.path.join(self.tmp, "registry")
        os.makedirs(os.path.join(rdir, "storage"), exist_ok=True)
        cfg = os.path.join(rdir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                    "http:\n  addr: 127.0.0.1:%d\n" % (os.path.join(rdir, "storage"), port))
        reg = Process(["docker-registry", "serve", cfg], log_path=os.path.join(rdir, "log"))
        try:
            wait_port(port, proc=reg.proc)
            ref = "127.0.0.1:%d/hubtest/pulled" % port
            self.dockerd.load(docker_archive(ref + ":v2", self.layers, CONFIG))
            self.dockerd.push(ref, "v2")
            self.dockerd.remove_image(ref + ":v2")
            self.assertFalse(self.dockerd.has_image(ref + ":v2"))
            out, _ = self.convert(ref + ":v2", "pulled")
            got = self.fetch(out, "pulled")
            self.assertIn("run/app.pid", got)
            self.assertFalse(self.dockerd.has_image(ref + ":v2"), "the pulled image stays")
            self.assertEqual(self.dockerd.containers(), [])
            # an image the registry does not have: the daemon's refusal
            out, p = self.convert(ref + ":nosuchtag", "nosuch", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("docker daemon: pull 127.0.0.1:%d/hubtest/pulled:nosuchtag" % port,
                          p.stderr)
            self.assertIn("not found", p.stderr)
            self.assertFalse(os.path.exists(out))
        finally:
            reg.stop()

    def test_private_registry_credentials(self):
        """A private repository on a token-auth registry: refused without
        credentials, pulled with FLIST_REGISTRY_USER/PASSWORD (sent to the
        daemon as X-Registry-Auth, never printed)."""
        from ocireg import Image, Registry, TokenServer
        with TokenServer(self.tmp, {"alice": "alicepw-secret"}) as ts, \
                Registry(self.tmp, auth="token", token_server=ts) as reg:
            reg.push_user = ("alice", "alicepw-secret")
            reg.push_image("private/app", "v1", Image([(l, "gzip") for l in self.layers], CONFIG))
            ref = "%s/private/app:v1" % reg.host
            out, p = self.convert(ref, "private-anon", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("docker daemon: pull %s/private/app:v1" % reg.host, p.stderr)
            self.assertFalse(os.path.exists(out))
            env = dict(self.env, FLIST_REGISTRY_USER="alice",
                       FLIST_REGISTRY_PASSWORD="alicepw-secret")
            out, p = self.convert(ref, "private", env=env)
            self.assertIn("run/app.pid", self.fetch(out, "private"))
            self.assertNotIn("alicepw-secret", p.stderr + p.stdout)
            self.assertTrue(any(r["user"] == "alice" for r in ts.requests))
            self.assertFalse(self.dockerd.has_image(ref))
            self.assertEqual(self.dockerd.containers(), [])

    def test_daemon_unreachable(self):
        env = dict(os.environ, DOCKER_HOST="unix://" + os.path.join(self.tmp, "no.sock"))
        out, p = self.convert("hubtest/engine:v1", "unreach", check=False, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("docker daemon unreachable at %s" % os.path.join(self.tmp, "no.sock"),
                      p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_bad_reference(self):
        out, p = self.convert("../../etc", "bad", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("invalid image reference '../../etc'", p.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
