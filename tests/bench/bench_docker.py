#!/usr/bin/env python3
"""Benchmark of the registry path of the image converter (issue 9), driven
by bench_docker.sh.

A ~100 MiB image of 5 gzip layers (about 20 MiB each, mostly
incompressible file contents, fixed seed) is pushed to a local Debian
docker-registry; a real api + worker (redis-server as queue and content
backend) convert it through POST /api/flist/me/docker in compatibility
mode:
  1. first conversion (cold layer cache, empty backend);
  2. the same image again (layers from the cache, chunks already stored);
  3. another image sharing 4 of its 5 layers (target: <= 0.3x the first);
and the worker's peak RSS over the three (target: <= 128 MiB). Also
`flist create docker://` of the image with a fresh layer cache (no hub).

usage: bench_docker.py BUILD_DIR
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

LAYERS = 5
FILES_PER_LAYER = 40
FILE_SIZE = 512 * 1024
SEED = 9


def layer_tar(rnd, index, variant=""):
    from ocireg import make_tar
    entries = [("l%d%s" % (index, variant), None)]
    for i in range(FILES_PER_LAYER):
        data = rnd.randbytes(FILE_SIZE)
        entries.append(("l%d%s/f%03d.bin" % (index, variant, i), data))
    return make_tar(entries)


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    os.environ["HUB_BIN"] = os.path.join(build, "bin")
    import hublib
    hublib.HUB_BIN = os.environ["HUB_BIN"]
    from hublib import ApiServer, Process, RedisServer, multipart
    from ocireg import Image, Registry

    rnd = random.Random(SEED)
    t0 = time.time()
    raws = [layer_tar(rnd, i) for i in range(LAYERS)]
    other_last = layer_tar(rnd, LAYERS - 1, "b")
    config = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]}
    img1 = Image([(r, "gzip") for r in raws], config=config)
    img2 = Image([(r, "gzip") for r in raws[:-1]] + [(other_last, "gzip")], config=config)
    size_mib = sum(d["size"] for d in img1.layer_descs) / 1048576
    print("image: %d gzip layers, %.1f MiB compressed, %.1f MiB of files (built in %.1f s)"
          % (LAYERS, size_mib, sum(len(r) for r in raws) / 1048576, time.time() - t0))

    with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp, \
            Registry(tmp) as reg, RedisServer() as queue, RedisServer() as backend:
        reg.push_image("bench/app", "v1", img1)
        reg.push_image("bench/app", "v2", img2)
        api = ApiServer({"redis-url": queue.url, "backend-internal-port": str(backend.port),
                         "job-wait-timeout": "600", "log-level": "info",
                         "docker-max-image-size": "1G"}, redis=None)
        api.__enter__()
        worker = None
        try:
            worker = Process([os.path.join(build, "bin", "flist-hub-worker"), "-c", api.conf_path],
                             log_path=os.path.join(api.root, "worker.log"))
            rows = []
            for label, tag in (("1. first conversion", "v1"), ("2. same image again", "v1"),
                               ("3. image sharing 4 of 5 layers", "v2")):
                ctype, body = multipart({"image": "%s/bench/app:%s" % (reg.host, tag)}, [])
                t = time.time()
                st, _, reply = api.request("POST", "/api/flist/me/docker",
                                           {"Content-Type": ctype}, body, timeout=900)
                dt = time.time() - t
                if st != 200:
                    sys.exit("bench: %s failed: %s %s\n%s" % (label, st, reply, worker.output()[-3000:]))
                stats = json.loads(reply)["payload"]["name"]
                rows.append((label, dt, stats))
            rss = vm_hwm_kib(worker.pid)
            phases = [l.split(": ", 1)[-1] for l in worker.output().splitlines() if "resolve " in l]
        finally:
            if worker:
                worker.stop()
            api.__exit__(None, None, None)
        first = rows[0][1]
        print("\nregistry path through the hub (POST /api/flist/me/docker, compatibility mode):")
        for i, (label, dt, stats) in enumerate(rows):
            print("  %-34s %7.2f s  %5.2fx the first  (%d files, %.1f MiB; %s)"
                  % (label, dt, dt / first, stats["regular"], stats["fullsize"] / 1048576,
                     phases[i] if i < len(phases) else "?"))
        print("  target: rows 2 and 3 <= 0.30x the first: %s"
              % ("met" if max(rows[1][1], rows[2][1]) <= 0.3 * first else "NOT met"))
        print("  worker peak RSS (VmHWM): %.1f MiB (target <= 128 MiB: %s)"
              % (rss / 1024, "met" if rss <= 128 * 1024 else "NOT met"))

        # the CLI, cold cache, into a fresh backend namespace (db 1)
        out = os.path.join(tmp, "cli.flist")
        t = time.time()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", os.path.join(build, "bin", "flist"),
                            "create", "--layer-cache", os.path.join(tmp, "cli-cache"), "--backend",
                            "redis://127.0.0.1:%d/1" % backend.port,
                            "docker://%s/bench/app:v1" % reg.host, out],
                           capture_output=True, text=True)
        dt = time.time() - t
        if p.returncode != 0:
            sys.exit("bench: flist create failed: " + p.stderr)
        print("\nflist create docker:// (cold layer cache, empty backend db): %.2f s, peak RSS %.1f MiB"
              % (dt, int(p.stderr.strip().splitlines()[-1]) / 1024))


if __name__ == "__main__":
    main()
