#!/usr/bin/env python3
"""The engine-path row of the image converter's benchmark (issue 9),
driven by bench_docker_engine.sh.

The image of bench_docker.py (5 gzip layers of ~20 MiB, same seed) is
pushed to a local Debian docker-registry; a private dockerd
(tests/e2e/dockerd.py) is started. End to end, each into a fresh backend
database of one redis-server:
  - registry path: `flist create docker://` with a cold layer cache;
  - engine path:   `flist create docker-daemon:` (the daemon pulls from
    the same registry, a container is created and exported, the image
    removed afterwards);
target: registry path <= 0.5x the engine path. Peak RSS of each `flist`.
Then the engine path through the hub: a real api + worker with
docker-engine = default, POST /api/flist/me/docker (compatibility mode),
and the worker's peak RSS.

usage: bench_docker_engine.py BUILD_DIR
"""
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, HERE)

SEED = 9
ROUNDS = 2


def timed(argv, env=None):
    """(seconds, peak RSS MiB) of a command; exits on failure."""
    t = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True,
                       env=env)
    dt = time.time() - t
    if p.returncode != 0:
        sys.exit("bench: %s failed: %s" % (" ".join(argv), p.stderr[-2000:]))
    return dt, int(p.stderr.strip().splitlines()[-1]) / 1024


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    flist = os.path.join(build, "bin", "flist")
    from bench_docker import LAYERS, layer_tar
    from dockerd import Dockerd
    from hublib import RedisServer
    from ocireg import Image, Registry

    rnd = random.Random(SEED)
    raws = [layer_tar(rnd, i) for i in range(LAYERS)]
    img = Image([(r, "gzip") for r in raws], config={"Env": ["PATH=/usr/bin:/bin"],
                                                     "Cmd": ["/bin/sh"]})
    size = sum(d["size"] for d in img.layer_descs) / 1048576
    print("image: %d gzip layers, %.1f MiB compressed, %.1f MiB of files"
          % (LAYERS, size, sum(len(r) for r in raws) / 1048576))
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp, \
            Registry(tmp) as reg, RedisServer() as backend, Dockerd() as dockerd:
        reg.push_image("bench/app", "v1", img)
        ref = "%s/bench/app:v1" % reg.host
        env = dict(os.environ, DOCKER_HOST="unix://" + dockerd.socket)
        reg_rows, eng_rows = [], []
        db = 1
        for r in range(ROUNDS):
            reg_rows.append(timed([flist, "create", "--layer-cache",
                                   os.path.join(tmp, "cache%d" % r), "--backend",
                                   "redis://127.0.0.1:%d/%d" % (backend.port, db),
                                   "docker://" + ref, os.path.join(tmp, "r%d.flist" % r)]))
            db += 1
            eng_rows.append(timed([flist, "create", "--backend",
                                   "redis://127.0.0.1:%d/%d" % (backend.port, db),
                                   "docker-daemon:" + ref, os.path.join(tmp, "e%d.flist" % r)],
                                  env))
            db += 1
            if dockerd.has_image(ref):
                sys.exit("bench: the engine path left the pulled image behind")
        rt = min(t for t, _ in reg_rows)
        et = min(t for t, _ in eng_rows)
        print("\nend to end, cold cache, empty backend db (best of %d):" % ROUNDS)
        print("  registry path  flist create docker://        %7.2f s  peak RSS %6.1f MiB"
              % (rt, max(m for _, m in reg_rows)))
        print("  engine path    flist create docker-daemon:   %7.2f s  peak RSS %6.1f MiB"
              % (et, max(m for _, m in eng_rows)))
        print("  registry / engine: %.2fx (target <= 0.50x: %s)"
              % (rt / et, "met" if rt <= 0.5 * et else "NOT met"))
        hub_row(build, dockerd, backend.port, db, ref)


def hub_row(build, dockerd, backend_port, db, ref):
    """The engine path through the hub, into backend db `db`."""
    import hublib
    from bench_docker import vm_hwm_kib
    from hublib import ApiServer, Process, RedisServer, multipart
    hublib.HUB_BIN = os.path.join(build, "bin")
    with RedisServer() as queue:
        api = ApiServer({"redis-url": queue.url, "backend-internal-port": str(backend_port),
                         "backend-internal-name": str(db), "job-wait-timeout": "600",
                         "docker-engine": "default", "docker-socket": dockerd.socket},
                        redis=None).__enter__()
        worker = None
        try:
            worker = Process([os.path.join(build, "bin", "flist-hub-worker"), "-c", api.conf_path],
                             log_path=os.path.join(api.root, "worker.log"))
            ctype, body = multipart({"image": ref}, [])
            t = time.time()
            st, _, reply = api.request("POST", "/api/flist/me/docker", {"Content-Type": ctype},
                                       body, timeout=900)
            dt = time.time() - t
            if st != 200:
                sys.exit("bench: engine path through the hub failed: %s %s" % (st, reply))
            rss = vm_hwm_kib(worker.pid)
        finally:
            if worker:
                worker.stop()
            api.__exit__(None, None, None)
    print("  engine path    through the hub (POST, engine) %6.2f s  worker peak RSS %6.1f MiB"
          % (dt, rss / 1024))


if __name__ == "__main__":
    main()
