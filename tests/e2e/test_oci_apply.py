#!/usr/bin/env python3
"""End-to-end tests of the layer applier (engine/oci_apply.c) through
`flist create oci:LAYOUT:TAG`: images written by the test as OCI layouts
(tests/e2e/ocilayout.py) holding every edge case of docs/OCI-NOTES.md §7,
converted with their chunks stored on a real redis-server, fetched back
with `flist get`, and compared with Debian's `umoci unpack` of the same
layout (type, mode, owner, size, contents, link target). zstd layers (which
umoci cannot read), Docker manifests and indexes are compared with the
umoci tree of the same content as a gzip OCI image. Hostile images (every
kind of path escape) must fail, naming the entry, and leave no output.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import RedisServer  # noqa: E402
from ocilayout import CHR, D, F, FIFO, H, L, OPQ, WH, Layout, tree, umoci_unpack  # noqa: E402

HUB_BIN = os.environ.get("HUB_BIN", "build/bin")
FLIST = os.path.join(HUB_BIN, "flist")
CI = os.environ.get("CI") == "true"
STARTUP = ".startup.toml"


def missing_tools():
    return [t for t in ("umoci", "zstd", "redis-server") if not shutil.which(t)]


def run(*args, check=True):
    p = subprocess.run([FLIST, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise AssertionError("flist %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                            p.stderr))
    return p


LONG_DIR = "long/" + "d" * 120 + "/" + "e" * 90          # > 200 bytes with its file
LONG_GNU = "gnu/" + "g" * 150 + "/" + "h" * 80
UTF8 = "names/dir with space/fïlé ünïcödé ✓.txt"
ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "DUP=first", "EMPTY=", "EQ=a=b=c",
       "QUOTE=say \"hi\"\\n", "my.key=ü\t\x01", "DUP=last"]
CONFIG = {"Entrypoint": ["/bin/entry", "--flag"], "Cmd": ["serve", "--port", "80"],
          "Env": ENV, "WorkingDir": "/srv", "User": "1000:1000",
          "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/data": {}}}


def edge_layers(lay, comp1="gzip", comp2="none", comp3="gzip", kind="oci"):
    """The three layers of the edge-case image (compressions per layer)."""
    l1 = [
        D("etc"), F("etc/gone.txt", b"whited out\n"), F("etc/hostname", b"box\n"),
        D("olddir"), F("olddir/a", b"a"), D("olddir/sub"), F("olddir/sub/b", b"b"),
        D("opq"), F("opq/old1", b"1"), D("opq/sub"), F("opq/sub/old2", b"2"),
        D("d2f"), F("d2f/child", b"c"), F("f2d", b"file then dir"),
        D("bin"), F("bin/a", b"hard linked content\n", mode=0o755), H("bin/b", "bin/a"),
        D("hl"), F("hl/x", b"xy shared\n"), H("hl/y", "hl/x"),
        D("run"), D("var"), L("var/run", "../run"), D("data"), L("abs", "/data"),
        D("links"), L("links/abs", "/etc/hostname"), L("links/rel", "../etc/hostname"),
        L("links/dangling", "nowhere/at/all"), L("links/out", "../../../../../etc/shadow"),
        F("deep/a/b/c.txt", b"missing parents\n"),
        F("bin/su", b"#!/bin/sh\n", mode=0o4755), D("tmp", mode=0o1777),
        D("home"), D("home/user", mode=0o750, uid=1000, gid=1000, uname="user", gname="user"),
        F("home/user/.profile", b"export X=1\n", mode=0o600, uid=1000, gid=1000),
        D("conf", mode=0o755), F("conf/app.conf", b"k=v\n"),
        F("xattr.txt", b"has an xattr\n", pax={"SCHILY.xattr.user.test": "value"}),
        D("long"), D("long/" + "d" * 120), D(LONG_DIR), F(LONG_DIR + "/" + "f" * 60, b"long pax\n"),
        D("names"), D("names/dir with space"), F(UTF8, "ünïcödé\n".encode()),
        F("big.bin", BIG),
        D("dev"), CHR("dev/null", 1, 3), FIFO("dev/fifo"),
        D("r2f"), F("r2f/child", b"c"), F("f2r", b"f"), L("sl2d", "etc"), D("d2sl"),
        F("d2sl/x", b"x"),
        D("w1", mode=0o700, uid=5), F("w1/old", b"o"), D("w2", mode=0o700, uid=5),
        F("w2/old", b"o"), D("o1", mode=0o700), D("o1/sub", mode=0o711, uid=7),
        F("o1/sub/old", b"o"),
    ]
    l2 = [
        WH("etc/gone.txt"), WH("olddir"),
        D("opq"), F("opq/new.txt", b"new in layer 2\n"), OPQ("opq"),
        WH("d2f"), F("d2f", b"now a file\n"),
        WH("f2d"), D("f2d"), F("f2d/inside", b"now a dir\n"),
        D("usr"), H("usr/link2", "bin/a"),
        D("hl"), WH("hl/x"),
        F("var/run/through.pid", b"42\n"), F("abs/through-abs", b"abs\n"),
        D("conf", mode=0o700),
        F("bin/a", b"replaced: the other name keeps the old content\n", mode=0o755),
        # replacements without a whiteout
        F("r2f", b"file over dir\n"), D("f2r", mode=0o711), F("f2r/in", b"in"),
        D("sl2d"), F("sl2d/inner", b"dir over symlink\n"), L("d2sl", "bin"),
        # whiteouts after and before new entries below them; an opaque marker
        # after a new entry of a subdirectory the layer does not declare
        F("w1/new", b"n"), WH("w1"), WH("w2"), F("w2/new", b"n"),
        F("o1/sub/new", b"n"), OPQ("o1"),
    ]
    l3 = [
        D("gnu"), D("gnu/" + "g" * 150), D(LONG_GNU), F(LONG_GNU + "/" + "i" * 40, b"gnu long\n"),
        F("etc/hostname", b"box3\n"),
    ]
    return [lay.layer(l1, comp1, kind), lay.layer(l2, comp2, kind),
            lay.layer(l3, comp3, kind, fmt=tarfile.GNU_FORMAT)]


BIG = bytes((i * 7 + i // 4099) & 0xFF for i in range(3 * 1024 * 1024 + 17))
HISTORY = [{"created_by": "l1"}, {"created_by": "ENV X=1", "empty_layer": True},
           {"created_by": "l2"}, {"created_by": "l3"},
           {"created_by": "CMD", "empty_layer": True}]


@unittest.skipIf(missing_tools() and not CI, "missing: %s (deployment/install-deps.sh)"
                 % ", ".join(missing_tools()))
class OciApplyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if missing_tools():
            raise AssertionError("missing tools in CI: %s" % ", ".join(missing_tools()))
        cls.tmp = tempfile.mkdtemp(prefix="hub-oci-")
        cls.redis = RedisServer().start()
        cls.backend = cls.redis.backend_url("0")
        cls.lay = Layout(os.path.join(cls.tmp, "layout"))
        lay = cls.lay
        cls.main = lay.image(edge_layers(lay), CONFIG, history=HISTORY)
        lay.tag(cls.main, "edge")
        # the same content: zstd and plain layers (umoci cannot read zstd)
        lay.tag(lay.image(edge_layers(lay, "zstd", "zstd", "none"), CONFIG, history=HISTORY),
                "zstd")
        # Docker schema2 manifest and a Docker manifest list
        docker = lay.image(edge_layers(lay, "gzip", "gzip", "none", kind="docker"), CONFIG,
                           kind="docker", history=HISTORY)
        lay.tag(docker, "docker")
        arm = lay.image([lay.layer([F("arch", b"arm64\n")])], {}, arch="arm64")
        lay.tag(lay.index([arm, docker], kind="docker"), "dockerlist")
        # a multi-platform OCI index: arm64 first, an attestation entry
        att = lay.blob(json.dumps({"schemaVersion": 2, "mediaType":
                                   "application/vnd.oci.image.manifest.v1+json",
                                   "config": lay.blob(b"{}", "application/vnd.oci.image.config.v1+json"),
                                   "layers": []}).encode(),
                       "application/vnd.oci.image.manifest.v1+json")
        att["platform"] = {"architecture": "unknown", "os": "unknown"}
        att["annotations"] = {"vnd.docker.reference.type": "attestation-manifest",
                              "vnd.docker.reference.digest": cls.main["digest"]}
        lay.tag(lay.index([arm, cls.main, att]), "multi")
        lay.tag(lay.index([arm, att]), "armonly")
        cls.ref = umoci_unpack(lay.path, "edge", os.path.join(cls.tmp, "bundle"))
        cls.ref_tree = tree(cls.ref)

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def convert(self, tag, name, *extra):
        out = os.path.join(self.tmp, name + ".flist")
        run("create", "--backend", self.backend, *extra, "oci:%s:%s" % (self.lay.path, tag), out)
        return out

    def fetch(self, flist_path, name):
        dest = os.path.join(self.tmp, name + ".tree")
        shutil.rmtree(dest, ignore_errors=True)
        run("get", "--backend", self.backend, flist_path, "/", dest)
        return dest

    def assertSameTree(self, got, want):
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        self.assertEqual((missing, extra), ([], []), "entries differ")
        for path in sorted(want):
            self.assertEqual(got[path], want[path], path)

    def test_edge_image_equals_umoci(self):
        out = self.convert("edge", "edge")
        got = tree(self.fetch(out, "edge"), skip={STARTUP})
        self.assertSameTree(got, self.ref_tree)

    def test_edge_semantics_spelled_out(self):
        """The umoci tree itself holds what the cases mean (so that a change
        of umoci cannot make both sides wrong in the same way)."""
        t = self.ref_tree
        self.assertNotIn("etc/gone.txt", t)
        self.assertNotIn("olddir", t)
        self.assertEqual(sorted(p for p in t if p.startswith("opq/")), ["opq/new.txt"])
        self.assertEqual(t["d2f"][0], "file")
        self.assertEqual(t["f2d"][0], "dir")
        self.assertIn("f2d/inside", t)
        self.assertEqual(t["usr/link2"][2], t["bin/b"][2])        # lower-layer hard link
        self.assertNotEqual(t["bin/a"][2], t["bin/b"][2])         # unlinked, not written through
        self.assertNotIn("hl/x", t)
        self.assertEqual(t["hl/y"][:2], ("file", 10))             # partly whited out
        self.assertIn("run/through.pid", t)                       # through var/run -> ../run
        self.assertIn("data/through-abs", t)                      # through abs -> /data
        self.assertEqual(t["links/out"][1], "../../../../../etc/shadow")
        self.assertEqual(t["bin/su"][3], 0o4755)
        self.assertEqual(t["tmp"][3], 0o1777)
        self.assertEqual(t["home/user"][3:], (0o750, 1000, 1000))
        self.assertEqual(t["conf"][3], 0o700)
        self.assertIn(UTF8, t)
        self.assertEqual(t["dev/null"][:3], ("special", 2, (1, 3)))
        self.assertEqual(t["dev/fifo"][:2], ("special", 1))
        self.assertEqual((t["r2f"][0], t["f2r"][0], t["sl2d"][0], t["d2sl"][0]),
                         ("file", "dir", "dir", "symlink"))
        self.assertNotIn("etc/inner", t)
        for gone in ("w1/old", "w2/old", "o1/sub/old"):
            self.assertNotIn(gone, t)
        for kept in ("w1/new", "w2/new", "o1/sub/new"):
            self.assertIn(kept, t)

    def test_zstd_and_plain_layers(self):
        out = self.convert("zstd", "zstd")
        self.assertSameTree(tree(self.fetch(out, "zstd"), skip={STARTUP}), self.ref_tree)

    def test_docker_manifest_and_list(self):
        for tag in ("docker", "dockerlist"):
            out = self.convert(tag, tag)
            self.assertSameTree(tree(self.fetch(out, tag), skip={STARTUP}), self.ref_tree)

    def test_index_platforms(self):
        out = self.convert("multi", "multi")
        self.assertSameTree(tree(self.fetch(out, "multi"), skip={STARTUP}), self.ref_tree)
        out = self.convert("multi", "multi-arm", "--platform", "linux/arm64")
        got = tree(self.fetch(out, "multi-arm"), skip={STARTUP})
        self.assertEqual(sorted(got), ["arch"])
        p = run("create", "oci:%s:armonly" % self.lay.path, os.path.join(self.tmp, "no.flist"),
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no image for platform linux/amd64 (the image has: linux/arm64)", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "no.flist")))

    def test_config_metadata_and_startup(self):
        out = self.convert("edge", "meta")
        def meta(name):
            return run("metadata", out, name).stdout.rstrip("\n")
        self.assertEqual(json.loads(meta("entrypoint")),
                         ["/bin/entry", "--flag", "serve", "--port", "80"])
        self.assertEqual(json.loads(meta("environ")),
                         {"PATH": "/usr/local/bin:/usr/bin:/bin", "DUP": "last", "EMPTY": "",
                          "EQ": "a=b=c",
                          "QUOTE": "say \"hi\"\\n", "my.key": "ü\t\x01"})
        self.assertEqual(json.loads(meta("port")), {"tcp/80": 80, "udp/53": 53})
        self.assertEqual(json.loads(meta("volume")), {"/data": {}})
        self.assertEqual(meta("workdir"), "/srv")
        self.assertEqual(meta("user"), "1000:1000")
        dest = self.fetch(out, "meta")
        with open(os.path.join(dest, STARTUP), encoding="utf-8") as f:
            toml = f.read()
        self.assertEqual(toml, "\n".join([
            "[startup]", "", "[startup.entry]", 'name = "core.system"', "",
            "[startup.entry.args]", 'name = "/bin/entry"',
            'args = ["--flag", "serve", "--port", "80"]', 'dir = "/srv"', "",
            "[startup.entry.args.env]", 'PATH = "/usr/local/bin:/usr/bin:/bin"', 'DUP = "last"',
            'EMPTY = ""',
            'EQ = "a=b=c"', 'QUOTE = "say \\"hi\\"\\\\n"', '"my.key" = "ü\\t\\u0001"', ""]))
        st = os.lstat(os.path.join(dest, STARTUP))
        self.assertEqual((st.st_mode & 0o7777, st.st_uid, st.st_gid), (0o644, 0, 0))

    def test_startup_quirks(self):
        """Entrypoint of one element without Cmd: the original's `#args =
        null` line; neither: /bin/sh; an empty environment."""
        lay = Layout(os.path.join(self.tmp, "quirks"))
        layer = lay.layer([F("x", b"x")])
        lay.tag(lay.image([layer], {"Entrypoint": ["/init"]}), "one")
        lay.tag(lay.image([layer], {}), "none")
        lay.tag(lay.image([layer], {"Cmd": ["/bin/app", "a b"], "Env": None}), "cmd")
        want = {
            "one": ('name = "/init"\n#args = null  # To use: uncomment and replace null with '
                    'value\n', '["/init"]'),
            "none": ('name = "/bin/sh"\nargs = []\n', '["/bin/sh"]'),
            "cmd": ('name = "/bin/app"\nargs = ["a b"]\n', '["/bin/app", "a b"]'),
        }
        for tag, (args, entry) in want.items():
            out = os.path.join(self.tmp, "q-%s.flist" % tag)
            run("create", "--backend", self.backend, "oci:%s:%s" % (lay.path, tag), out)
            dest = self.fetch(out, "q-" + tag)
            with open(os.path.join(dest, STARTUP)) as f:
                self.assertEqual(f.read(), '[startup]\n\n[startup.entry]\nname = "core.system"\n'
                                 '\n[startup.entry.args]\n' + args + 'dir = "/"\n\n'
                                 '[startup.entry.args.env]\n', tag)
            self.assertEqual(json.loads(run("metadata", out, "entrypoint").stdout), json.loads(entry))

    def test_digest_and_size_mismatch(self):
        lay = Layout(os.path.join(self.tmp, "corrupt"))
        desc, diff = lay.layer([F("x", b"content")])
        lay.tag(lay.image([(desc, diff)], {}), "t")
        blob = os.path.join(lay.path, "blobs", "sha256", desc["digest"][7:])
        with open(blob, "r+b") as f:
            data = bytearray(f.read())
            data[-1] ^= 0xFF
            f.seek(0)
            f.write(data)
        out = os.path.join(self.tmp, "corrupt.flist")
        p = run("create", "oci:%s:t" % lay.path, out, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("digest mismatch", p.stderr)
        with open(blob, "ab") as f:
            f.write(b"more")
        p = run("create", "oci:%s:t" % lay.path, out, check=False)
        self.assertIn("size mismatch", p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run("create", "oci:%s:nosuchtag" % lay.path, out, check=False)
        self.assertIn("no image tagged 'nosuchtag' in the layout (tags: t)", p.stderr)

    def test_hostile_images_refused(self):
        """Every kind of escape fails, naming the entry, and leaves nothing."""
        lay = Layout(os.path.join(self.tmp, "hostile"))
        base = [D("etc"), F("etc/passwd", b"root:x:0:0\n"), D("sub")]
        cases = {
            "dotdot": ([F("../evil", b"x")], "'../evil' climbs above the root"),
            "dotdot-deep": ([F("sub/../../evil", b"x")], "climbs above the root"),
            "absolute": ([F("/abs-evil", b"x")], "'/abs-evil' has an absolute name"),
            "symlink-write": ([L("esc", "../../.."), F("esc/evil", b"x")],
                              "'esc/evil' goes through a symlink that leads outside"),
            "symlink-chain": ([L("a", "b/../../x"), D("b"), F("a/evil", b"x")],
                              "'a/evil' goes through a symlink that leads outside"),
            "hardlink-dotdot": ([H("hl", "../../etc/passwd")], "climbs above the root"),
            "hardlink-absolute": ([H("hl", "/etc/passwd")], "'hl' is a hard link to an absolute"),
            "hardlink-symlink": ([L("up", "../../../etc"), H("hl", "up/passwd")],
                                 "'hl' goes through a symlink that leads outside"),
            "whiteout-dotdot": ([F("sub/../../.wh.etc")], "climbs above the root"),
            "whiteout-parent": ([F("sub/.wh..."), ], "whiteout of no entry or of a parent"),
            "whiteout-symlink": ([L("up", "../.."), F("up/.wh.passwd")],
                                 "goes through a symlink that leads outside"),
            "symlink-loop": ([L("loop", "loop"), F("loop/x", b"x")], "too many levels"),
        }
        for name, (layer2, msg) in cases.items():
            with self.subTest(name):
                lay.tag(lay.image([lay.layer(base), lay.layer(layer2)], {}), name)
                out = os.path.join(self.tmp, "hostile-%s.flist" % name)
                p = run("create", "--backend", self.backend,
                        "oci:%s:%s" % (lay.path, name), out, check=False)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(msg, p.stderr)
                self.assertIn("layer 2 of 2", p.stderr)
                self.assertFalse(os.path.exists(out))
                self.assertEqual([f for f in os.listdir(self.tmp) if f.startswith(".tmp")], [])

    def test_not_a_layout(self):
        out = os.path.join(self.tmp, "nl.flist")
        p = run("create", "oci:" + self.tmp + "/nothing-here", out, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("No such file or directory", p.stderr)
        p = run("create", "oci:" + self.tmp, out, check=False)
        self.assertIn("not an OCI image layout (no index.json)", p.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
