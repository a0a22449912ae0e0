#!/usr/bin/env python3
"""bench_web.py - figures of the web pages (issue 10).

Fixture: 1,000 repositories holding 100,000 flists in all (hard links of one
small flist, 100 per repository), and one flist of 10,000 entries built with
`flist create` into a local redis-server. Then:
  * GET /api/search: the first query (builds the index over the 100,000
    flists), then the median and worst of 50 queries of 1 to 6 characters;
  * the pages in headless chromium (bench_web.mjs, Performance API): `/`
    with the 1,000 repositories, a repository page, and the preview page of
    the 10,000-entry flist: first paint, first contentful paint, DOM
    interactive, load and the time the data is drawn.

usage: python3 tests/bench/bench_web.py [BUILD_DIR] [RUNS]
Needs chromium and tests/browser/node_modules (deployment/install-deps.sh).
Starts its own redis-server and api on free ports in a temporary directory
and stops them by pid.
"""
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

here = os.path.dirname(os.path.abspath(__file__))
src = os.path.abspath(os.path.join(here, "..", ".."))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(src, "build"))
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
os.environ["HUB_BIN"] = os.path.join(build, "bin")
os.environ.setdefault("HUB_TESTDATA", os.path.join(src, "tests", "data"))
sys.path.insert(0, os.path.join(src, "tests", "e2e"))
from hublib import ApiServer, RedisServer  # noqa: E402

REPOS, PER_REPO, BIG_ENTRIES = 1000, 100, 10000
chromium = shutil.which("chromium") or "/usr/bin/chromium"


def big_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for d in range(100):
            ti = tarfile.TarInfo("dir%03d" % d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
            for f in range(BIG_ENTRIES // 100 - 1):
                data = b"%d-%d\n" % (d, f)
                ti = tarfile.TarInfo("dir%03d/file%03d.txt" % (d, f))
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def main():
    with RedisServer() as backend, RedisServer() as queue, \
            ApiServer({"authentication": "false", "redis-url": queue.url}) as api:
        pub = api.public
        t0 = time.time()
        sample = os.path.join(os.environ["HUB_TESTDATA"], "sample.flist")
        for r in range(REPOS):
            d = os.path.join(pub, "repo%04d" % r)
            os.makedirs(d)
            first = os.path.join(d, "app-%04d-000.flist" % r)
            shutil.copy(sample, first)  # links per file are bounded (ext4: 65,000)
            for i in range(1, PER_REPO):
                os.link(first, os.path.join(d, "app-%04d-%03d.flist" % (r, i)))
        arch = os.path.join(api.root, "big.tar.gz")
        with open(arch, "wb") as f:
            f.write(big_tar())
        big = os.path.join(pub, "repo0000", "big.flist")
        subprocess.run([os.path.join(build, "bin", "flist"), "create", "--backend", backend.backend_url(),
                        arch, big], check=True, capture_output=True)
        print("fixture: %d repositories, %d flists, one of %d entries (%.1f s)" %
              (REPOS, REPOS * PER_REPO + 1, BIG_ENTRIES, time.time() - t0))

        # search (the api started before the fixture: the first query rebuilds
        # the index over every repository)
        t = time.perf_counter()
        st, v = api.json("GET", "/api/search?q=app-0999-099")
        first = (time.perf_counter() - t) * 1000
        assert st == 200 and v["payload"]["indexed"] == REPOS * PER_REPO + 1, v
        queries = ["a", "ap", "app", "app-", "app-0", "app-05", "99", "0042", "big", "zzz"] * 5
        times = []
        for q in queries:
            t = time.perf_counter()
            st, v = api.json("GET", "/api/search?limit=100&q=" + q)
            times.append((time.perf_counter() - t) * 1000)
            assert st == 200, v
        print("GET /api/search over %d flists: first (builds the index) %.1f ms; "
              "then median %.2f ms, worst %.2f ms of %d queries (HTTP round trip)" %
              (v["payload"]["indexed"], first, statistics.median(times), max(times), len(times)))

        # pages
        cfg = {"base": "http://127.0.0.1:%d" % api.port, "chromium": chromium, "runs": runs, "pages": [
            {"label": "/login-method (no data: the floor)", "path": "/login-method", "ready": "h1"},
            {"label": "/ (%d repositories)" % REPOS, "path": "/",
             "ready": "#contributors li:nth-child(%d) a" % REPOS},
            {"label": "repository (%d flists)" % PER_REPO, "path": "/repo0500",
             "ready": "#files tr:nth-child(%d) a" % PER_REPO},
            {"label": "preview (%d entries)" % BIG_ENTRIES, "path": "/repo0000/big.md",
             "ready": "#tree-summary:not(:empty)"},
        ]}
        env = dict(os.environ, HUB_BENCH_CONFIG=json.dumps(cfg))
        p = subprocess.run(["node", os.path.join(here, "bench_web.mjs")], env=env, text=True,
                           capture_output=True, timeout=900)
        sys.stdout.write(p.stdout)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
