#!/usr/bin/env python3
"""Writes the benchmark archive: a reproducible tree (fixed seed) of 5,000
files holding 200 MiB of random content in 1,200 directories, packed as a
.tar.gz straight from memory (nothing is written but the archive).

usage: gen_tree.py OUTPUT.tar.gz [--files N] [--mib M] [--dirs D] [--seed S]
"""
import argparse
import io
import os
import random
import tarfile


def plan(rng, files, total, dirs):
    """Directory paths and (path, size) of every file."""
    dir_paths = [""]
    for i in range(dirs):
        parent = dir_paths[rng.randrange(len(dir_paths))]
        dir_paths.append(f"{parent}/d{i:04d}" if parent else f"d{i:04d}")
    weights = [rng.lognormvariate(0, 1.6) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[0] += total - sum(sizes)          # exactly `total` bytes in all
    out = []
    for i, size in enumerate(sizes):
        d = dir_paths[rng.randrange(len(dir_paths))]
        out.append((f"{d}/f{i:05d}.bin" if d else f"f{i:05d}.bin", size))
    return dir_paths[1:], out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("output")
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--mib", type=int, default=200)
    ap.add_argument("--dirs", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=20261127)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    dirs, files = plan(rng, a.files, a.mib * 1024 * 1024, a.dirs)
    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    tmp = a.output + ".part"
    with tarfile.open(tmp, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as t:
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1704067200
            t.addfile(ti)
        for path, size in files:
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = size, 0o644, 1704067200
            t.addfile(ti, io.BytesIO(rng.randbytes(size)))
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
