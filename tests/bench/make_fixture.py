#!/usr/bin/env python3
"""make_fixture.py - the benchmark's repository directory: REPOS repositories
of FLISTS flists each, copies of one flist with 200 entries (built with the
`flist` command when it exists, else the reference bigdir.flist), plus one
link per repository, laid out as the original hub does (HUB-API.md §11).

By default the flists are hard links of that one file: one inode, so the
API's caches (keyed by file identity) serve every flist from one entry.
With --copies each flist is a distinct file (same bytes, its own inode),
so the API sees REPOS x FLISTS different files.

usage: make_fixture.py PUBLIC_DIR [--repos 1000] [--flists 20] [--copies]
                       [--flist-bin PATH] [--testdata DIR]
Prints one line: the flist used, its size, and how the fixture holds it."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile


def build_flist(flist_bin, out):
    """A 200-entry flist (10 directories of 19 files) built with `flist create`."""
    with tempfile.TemporaryDirectory() as src:
        for d in range(10):
            dd = os.path.join(src, "dir%02d" % d)
            os.makedirs(dd)
            for f in range(19):
                with open(os.path.join(dd, "file%02d.txt" % f), "w") as fh:
                    fh.write("content of %d/%d\n" % (d, f))
        p = subprocess.run([flist_bin, "create", src, out], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            raise subprocess.CalledProcessError(p.returncode, flist_bin)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("public")
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--flists", type=int, default=20)
    ap.add_argument("--copies", action="store_true",
                    help="distinct files (copies) instead of hard links of one file")
    ap.add_argument("--flist-bin", default="")
    ap.add_argument("--testdata", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    a = ap.parse_args()
    os.makedirs(a.public, exist_ok=True)
    master = os.path.join(a.public, "..", "bench-master.flist")
    source = "flist create (10 directories of 19 files)"
    try:
        if not a.flist_bin or not os.access(a.flist_bin, os.X_OK):
            raise FileNotFoundError(a.flist_bin)
        build_flist(a.flist_bin, master)
    except (FileNotFoundError, subprocess.CalledProcessError):
        shutil.copyfile(os.path.join(a.testdata, "bigdir.flist"), master)
        source = "the reference bigdir.flist"
    for r in range(a.repos):
        d = os.path.join(a.public, "repo%04d" % r)
        os.makedirs(d, exist_ok=True)
        for f in range(a.flists):
            p = os.path.join(d, "flist%02d.flist" % f)
            if not os.path.exists(p):
                if a.copies:
                    shutil.copyfile(master, p)
                else:
                    os.link(master, p)
        link = os.path.join(d, "latest.flist")
        if not os.path.lexists(link):
            os.symlink("flist00.flist", link)
    how = "distinct files (copies)" if a.copies else "hard links of one file"
    print("%d repositories x %d flists, %s; each %d bytes, from %s" %
          (a.repos, a.flists, how, os.path.getsize(master), source))


if __name__ == "__main__":
    sys.exit(main())
