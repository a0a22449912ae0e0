#!/usr/bin/env python3
"""End-to-end tests of the `flist` command against a real redis-server and
a real 0-db (the production content backend).

Creates flists from the reference tree, reads them back, fetches and
checks contents, merges, and feeds it bad input. Every comparison is against
the reference zflist output in tests/data (docs/FLIST-FORMAT.md,
tests/data/README.md). CliTest runs on Redis, CliTestZdb runs the same tests
on 0-db plus 0-db's own cases (namespace passwords, unknown namespaces).
"""
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import backend_server, free_port, resp_pipeline  # noqa: E402

BIN = os.environ.get("HUB_BIN", "build/bin")
DATA = os.environ.get("HUB_TESTDATA", "tests/data")
FLIST = os.path.join(BIN, "flist")


def run(*args, check=True):
    p = subprocess.run([FLIST, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"flist {' '.join(args)} failed ({p.returncode}): {p.stderr}{p.stdout}")
    return p


def run_json(*args):
    out = run(*args).stdout
    v = json.loads(out)
    assert v["success"] is True, out
    return v["response"]


def data(name):
    return os.path.join(DATA, name)


def jsonl(name):
    with open(data(name), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def tree_files():
    """path -> (TarInfo, bytes or None) of the reference tree.tar.gz."""
    out = {}
    with tarfile.open(data("tree.tar.gz")) as t:
        for m in t.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            p = "/" + name.strip("/") if name not in (".", "./") else "/"
            out[p] = (m, t.extractfile(m).read() if m.isfile() else None)
    return out


def load_chunks(server, ns):
    """Stores every reference chunk in namespace ns of the backend server,
    pipelined."""
    cmds, keys = [], []
    for name in os.listdir(data("chunks")):
        with open(os.path.join(data("chunks"), name), "rb") as f:
            keys.append(bytes.fromhex(name))
            cmds.append([b"SET", keys[-1], f.read()])
    replies = server.chunk_commands(ns, cmds)
    # Redis answers OK, 0-db the key it stored
    assert all(r in (b"OK", "OK", k) for r, k in zip(replies, keys)), replies[:3]


def compare_tree(test, root, expected, names_numeric=True):
    """The fetched tree at `root` holds exactly the reference files."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            seen.add("/" + os.path.relpath(full, root))
    want = {p for p in expected if p != "/"}
    test.assertEqual(seen, want)
    for p, (m, content) in expected.items():
        if p == "/":
            continue
        full = root + p
        st = os.lstat(full)
        if m.isfile():
            with open(full, "rb") as f:
                test.assertEqual(f.read(), content, p)
            test.assertEqual(stat.S_IMODE(st.st_mode), m.mode, p)
            test.assertEqual(int(st.st_mtime), m.mtime, p)
        elif m.issym():
            test.assertEqual(os.readlink(full), m.linkname, p)
        elif m.isdir():
            test.assertTrue(stat.S_ISDIR(st.st_mode), p)
            test.assertEqual(stat.S_IMODE(st.st_mode), m.mode, p)
        elif m.isfifo():
            test.assertTrue(stat.S_ISFIFO(st.st_mode), p)
        if os.geteuid() == 0 and not m.issym():
            test.assertEqual((st.st_uid, st.st_gid), (m.uid, m.gid), p)


class CliTest(unittest.TestCase):
    KIND = "redis"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="flist-cli-")
        cls.server = backend_server(cls.KIND)
        cls.ns = cls.server.namespace()
        cls.backend = cls.server.backend_url(cls.ns)
        cls.out = os.path.join(cls.tmp, "tree.flist")
        try:
            cls.first = run_json("create", "--json", "--backend", cls.backend,
                                 data("tree.tar.gz"), cls.out)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def fresh_namespace(self, n):
        """A namespace of its own for a test (Redis: database n)."""
        return self.server.namespace(str(n) if self.KIND == "redis" else "ns%d" % n)

    # --- create and read back ------------------------------------------

    def test_create_counts_and_uploads(self):
        self.assertEqual(self.first["regular"], 17)
        self.assertEqual(self.first["symlink"], 4)
        self.assertEqual(self.first["directory"], 4)
        self.assertEqual(self.first["special"], 1)
        self.assertEqual(self.first["fullsize"], 5247310)
        self.assertEqual(self.first["chunks"], 24)
        self.assertEqual(self.first["chunks_unique"], 22)
        self.assertEqual(self.first["chunks_uploaded"], 22)

    def test_second_create_uploads_nothing(self):
        again = run_json("create", "--json", "--backend", self.backend,
                         data("tree.tar.gz"), self.path("again.flist"))
        self.assertEqual(again["chunks_uploaded"], 0)
        self.assertEqual(again["bytes_uploaded"], 0)

    def test_find_equals_zflist(self):
        want = json.load(open(data("sample.find.json"), encoding="utf-8"))["response"]
        self.assertEqual(run_json("find", "--json", self.out), want)

    def test_ls_equals_zflist(self):
        dirs = ["/", "/a", "/a/b", "/a/b/c", "/emptydir"]
        for d, line in zip(dirs, jsonl("sample.ls.jsonl")):
            want = line["response"]
            for e in want:
                if e["uid"] == 1000:       # numeric tar owners: names are the ids
                    e["user"] = e["group"] = "1000"
                if e["name"] == "fifo":    # Q2 fixed: the real special type
                    e["type"] = "fifo"
            self.assertEqual(run_json("ls", "--json", self.out, d), want, d)

    def test_stat_equals_zflist(self):
        for line in jsonl("sample.stat.jsonl"):
            want = line["response"]
            got = run_json("stat", "--json", self.out, want["file"])
            want["created"] = got["created"]   # inode change time of zflist's run
            if want["uid"] == 1000:
                want["user"] = want["group"] = "1000"
            if "device" in want:
                want["device"] = "(nothing)"   # zflist always printed ""
            self.assertEqual(got, want, want["file"])

    def test_readme_metadata(self):
        readme = run_json("metadata", "--json", self.out, "readme")
        want = tree_files()["/.README.md"][1].decode()
        self.assertEqual(readme, {"metadata": "readme", "value": {"readme": want}})
        backend = run_json("metadata", "--json", self.out, "backend")["value"]
        self.assertEqual(backend, self.server.backend_metadata(self.ns))

    def test_meta_options(self):
        out = self.path("meta.flist")
        run("create", "--meta", 'entrypoint=["/bin/sh", "-c", "echo hi"]',
            "--meta", "hello=world", "--meta", 'port={"tcp/80": 8080}',
            data("tree.tar.gz"), out)
        self.assertEqual(run_json("metadata", "--json", out, "entrypoint")["value"],
                         ["/bin/sh", "-c", "echo hi"])
        self.assertEqual(run_json("metadata", "--json", out, "hello")["value"], "world")
        self.assertEqual(run_json("metadata", "--json", out), ["entrypoint", "hello", "port", "readme"])
        bad = run("create", "--meta", "entrypoint={}", data("tree.tar.gz"), self.path("m2.flist"), check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("entrypoint", bad.stderr)
        self.assertFalse(os.path.exists(self.path("m2.flist")))

    def test_create_from_directory(self):
        """A directory gives the same tree and chunks as the archive."""
        src = self.path("tree-dir")
        os.mkdir(src)
        # GNU tar restores symlink times too (Python's tarfile does not)
        subprocess.run(["tar", "-xpzf", data("tree.tar.gz"), "-C", src], check=True)
        out = self.path("dir.flist")
        run("create", "--backend", self.backend, src, out)
        self.assertEqual(run_json("find", "--json", out), run_json("find", "--json", self.out))
        self.assertEqual(run_json("chunks", "--json", out), run_json("chunks", "--json", self.out))
        for path in ("/suid-bin", "/a/b/c/link-up", "/script.sh"):
            want = run_json("stat", "--json", self.out, path)
            got = run_json("stat", "--json", out, path)
            for k in ("size", "mode", "uid", "gid", "modified", "chunks"):
                self.assertEqual(got[k], want[k], (path, k))

    def test_progress_bar_on_a_terminal(self):
        """create draws a progress bar when stderr is a terminal, never in a pipe."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([FLIST, "create", data("tree.tar.gz"), self.path("tty.flist")],
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=60), 0)
        self.assertIn(b"create [", seen)
        self.assertIn(b"100.0%", seen)
        piped = run("create", data("tree.tar.gz"), self.path("pipe.flist"))
        self.assertNotIn("%", piped.stderr)

    def test_get_whole_tree(self):
        dest = self.path("get-all")
        run("get", self.out, "/", dest)
        compare_tree(self, dest, tree_files())

    def test_get_one_file_and_subtree(self):
        dest = self.path("rand3m")
        run("get", self.out, "/rand3m", dest)
        self.assertEqual(open(dest, "rb").read(), tree_files()["/rand3m"][1])
        into = self.path("get-into")
        os.mkdir(into)
        run("get", self.out, "/hello.txt", into)       # into a directory, like cp
        self.assertEqual(open(os.path.join(into, "hello.txt"), "rb").read(), b"hello world\n")
        sub = self.path("get-a")
        run("get", self.out, "/a/b", sub)
        self.assertEqual(sorted(os.listdir(sub)), ["b.txt", "c"])
        self.assertEqual(os.readlink(os.path.join(sub, "c", "link-up")), "../../../hello.txt")

    def test_check_clean(self):
        p = run("check", "--json", self.out)
        self.assertEqual(p.returncode, 0)
        r = json.loads(p.stdout)["response"]
        self.assertEqual(r["failure"], 0)
        self.assertEqual(r["missing"], [])

    def test_chunks_listing(self):
        ids = run_json("chunks", "--json", self.out)["content"]
        self.assertEqual(len(ids), 24)
        self.assertEqual(len(set(ids)), 22)
        self.assertEqual(set(ids), set(os.listdir(data("chunks"))) & set(ids))

    # --- the reference flists ------------------------------------------

    def test_reference_flists_read_and_check(self):
        ns = self.fresh_namespace(1)
        load_chunks(self.server, ns)
        ref = self.server.backend_url(ns)
        dest = self.path("sample-get")
        run("get", "--backend", ref, data("sample.flist"), "/", dest)
        compare_tree(self, dest, tree_files(), names_numeric=False)
        p = run("check", "--json", "--backend", ref, data("sample.flist"))
        want = json.load(open(data("sample.check.json"), encoding="utf-8"))
        want["response"]["missing"] = []
        self.assertEqual(json.loads(p.stdout), want)
        for name in ("bigdir", "a", "b", "merged"):
            p = run("check", "--backend", ref, data(name + ".flist"))
            self.assertEqual(p.returncode, 0, name)

    def test_check_reports_missing_chunk(self):
        out = self.path("missing.flist")
        ns = self.fresh_namespace(2)
        run("create", "--backend", self.server.backend_url(ns), data("tree.tar.gz"), out)
        hello = run_json("stat", "--json", out, "/hello.txt")["chunks"][0]["key"]
        self.server.chunk_commands(ns, [[b"DEL", bytes.fromhex(hello)]])
        p = run("check", "--json", out, check=False)
        self.assertEqual(p.returncode, 1)
        r = json.loads(p.stdout)["response"]
        self.assertEqual(r["failure"], 1)
        self.assertEqual(r["missing"], [{"path": "/hello.txt", "chunks": [hello]}])

    def test_merge(self):
        out = self.path("merged.flist")
        run("merge", out, data("a.flist"), data("b.flist"))
        want = json.load(open(data("merged.find.json"), encoding="utf-8"))["response"]
        # Q10 fixed: b's directory /conflict does not join a's file /conflict
        want["content"] = [c for c in want["content"]
                           if not (c["path"].startswith("/conflict") and c["size"] != 24)]
        want["directory"] -= 1
        want["regular"] -= 1
        want["fullsize"] -= 23
        self.assertEqual(run_json("find", "--json", out), want)

    # --- bad input ------------------------------------------------------

    def make_tar(self, name, members):
        path = self.path(name)
        with tarfile.open(path, "w:gz") as t:
            for mname, kind, arg in members:
                ti = tarfile.TarInfo(mname)
                if kind == "file":
                    ti.size = len(arg)
                    t.addfile(ti, io.BytesIO(arg))
                elif kind == "hardlink":
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = arg
                    t.addfile(ti)
        return path

    def test_escaping_archive_refused(self):
        for i, members in enumerate([
            [("ok.txt", "file", b"x"), ("../evil", "file", b"x")],
            [("a/../../evil", "file", b"x")],
            [("ok.txt", "file", b"x"), ("link", "hardlink", "../../etc/passwd")],
        ]):
            src = self.make_tar(f"evil{i}.tar.gz", members)
            out = self.path(f"evil{i}.flist")
            p = run("create", src, out, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("climbs above the root", p.stderr)
            self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".tmp-")], [])

    def test_corrupt_archive(self):
        good = open(data("tree.tar.gz"), "rb").read()
        src = self.path("cut.tar.gz")
        open(src, "wb").write(good[: len(good) // 2])
        p = run("create", src, self.path("cut.flist"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("flist: "), p.stderr)
        self.assertFalse(os.path.exists(self.path("cut.flist")))
        junk = self.path("junk.tar")
        open(junk, "wb").write(os.urandom(5000))
        p = run("create", junk, self.path("junk.flist"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(self.path("junk.flist")))

    def test_not_an_flist(self):
        junk = self.path("junk.flist")
        open(junk, "wb").write(b"definitely not an flist\n" * 10)
        p = run("find", junk, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not an flist", p.stderr)
        p = run("find", "--json", junk, check=False)
        v = json.loads(p.stdout)
        self.assertEqual(v["success"], False)
        self.assertEqual(v["error"]["function"], "find")

    def test_unreachable_backend(self):
        port = free_port()
        url = f"{self.KIND}://127.0.0.1:{port}"
        p = run("create", "--backend", url, data("tree.tar.gz"), self.path("nb.flist"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("127.0.0.1:%d" % port, p.stderr)
        self.assertFalse(os.path.exists(self.path("nb.flist")))
        p = run("check", "--backend", url, self.out, check=False)
        self.assertEqual(p.returncode, 1)

    def test_tampered_chunk_refused(self):
        out = self.path("tamper.flist")
        ns = self.fresh_namespace(3)
        run("create", "--backend", self.server.backend_url(ns), data("tree.tar.gz"), out)
        key = run_json("stat", "--json", out, "/hello.txt")["chunks"][0]["key"]
        self.server.chunk_commands(ns, [[b"SET", bytes.fromhex(key), b"\x00" * 20]])
        dest = self.path("tampered.txt")
        p = run("get", out, "/hello.txt", dest, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/hello.txt", p.stderr)
        self.assertFalse(os.path.exists(dest))
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".tmp-")], [])


class CliTestZdb(CliTest):
    """Every test above with 0-db as the backend, and 0-db's own cases."""
    KIND = "zdb"

    def test_namespace_with_password(self):
        ns = self.server.namespace("secret", password="s3cret pass")
        url = self.server.backend_url(ns)
        out = self.path("secret.flist")
        r = run_json("create", "--json", "--backend", url, data("tree.tar.gz"), out)
        self.assertEqual(r["chunks_uploaded"], 22)
        # the password never lands in the flist
        self.assertEqual(run_json("metadata", "--json", out, "backend")["value"],
                         self.server.backend_metadata(ns))
        dest = self.path("secret-get")
        run("get", "--backend", url, out, "/", dest)
        compare_tree(self, dest, tree_files())
        self.assertEqual(run("check", "--backend", url, out).returncode, 0)
        # without the password: refused at once, with 0-db's reason
        for args in (["create", "--backend", self.server.backend_url(ns, password=""),
                      data("tree.tar.gz"), self.path("nopw.flist")],
                     ["check", "--backend", self.server.backend_url(ns, password="wrong"), out]):
            p = run(*args, check=False)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn(f"backend 127.0.0.1:{self.server.port}: SELECT secret:", p.stderr)
        self.assertFalse(os.path.exists(self.path("nopw.flist")))

    def test_read_only_namespace_refuses_writes(self):
        """A public namespace with a password selected without it is
        read-only: SET is refused with 0-db's message, nothing is written."""
        ns = self.server.namespace("pubro")
        self.assertEqual(self.server.cmd("NSSET", ns, "password", "pw"), "OK")
        p = run("create", "--backend", self.server.backend_url(ns, password=""),
                data("tree.tar.gz"), self.path("ro.flist"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("read-only", p.stderr)
        self.assertFalse(os.path.exists(self.path("ro.flist")))

    def test_unknown_namespace_is_a_clear_error(self):
        import time
        t0 = time.time()
        for args in (["create", "--backend", self.server.backend_url("nosuchns"),
                      data("tree.tar.gz"), self.path("nons.flist")],
                     ["check", "--backend", self.server.backend_url("nosuchns"), self.out],
                     ["get", "--backend", self.server.backend_url("nosuchns"), self.out, "/",
                      self.path("nons-get")]):
            p = run(*args, check=False)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn(f"backend 127.0.0.1:{self.server.port}: SELECT nosuchns: "
                          "Namespace not found", p.stderr)
        self.assertLess(time.time() - t0, 5, "an unknown namespace must not hang")
        self.assertFalse(os.path.exists(self.path("nons.flist")))
        self.assertFalse(os.path.exists(self.path("nons-get")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
