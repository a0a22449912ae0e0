"""dockerd.py - a private Docker daemon for the tests (Debian's docker.io,
docs/OCI-NOTES.md §7): vfs storage, no bridge, no iptables, data root, exec
root, pid file and socket in a temporary directory; stopped by its pid
(then containerd's, if it outlived it), its data root unmounted, the
directory removed, even when a test fails. Also a small client of the
Engine API over the socket (http.client on a unix socket) and writers of
docker-archive tars for `POST /images/load`, and Debian's docker CLI on
the socket (the deployment tests: images, compose).

    with Dockerd() as d:
        d.load(docker_archive("img:v1", layers, config))
        d.json("GET", "/images/img:v1/json")
        d.docker("images")          # the CLI; d.env() for docker-compose

User-defined networks (compose's) work: containers reach each other by
name, and published ports reach them from the host (docker-proxy; without
iptables there is no NAT to the outside, which nothing here needs).
"""
import base64
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

from hublib import Process

API = "/v1.41"
# Debian's client, not whatever else is first on PATH
DOCKER = "/usr/bin/docker"


def dockerd_missing():
    """Why no dockerd can run here, or None."""
    if not shutil.which("dockerd", path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"):
        return "dockerd not found (Debian package docker.io, deployment/install-deps.sh)"
    if os.geteuid() != 0:
        return "dockerd needs root"
    return None


def best_storage_driver():
    """overlay2 where the kernel has overlay (a layer costs its diff), else
    vfs (every layer a full copy: slow with large bases); HUB_DOCKER_STORAGE
    overrides. The converter's tests keep vfs, which runs anywhere."""
    with open("/proc/filesystems") as f:
        has_overlay = "overlay" in f.read()
    return os.environ.get("HUB_DOCKER_STORAGE") or ("overlay2" if has_overlay else "vfs")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.unix_path)
        except OSError:
            s.close()
            raise
        self.sock = s


class Dockerd:
    def __init__(self, extra_args=(), storage_driver="vfs"):
        self.dir = None
        self.proc = None
        self.extra_args = list(extra_args)
        self.storage_driver = storage_driver

    @property
    def socket(self):
        return os.path.join(self.dir, "docker.sock")

    sock = socket

    def start(self, timeout=60):
        why = dockerd_missing()
        if why:
            raise RuntimeError(why)
        self.dir = tempfile.mkdtemp(prefix="hub-dockerd-")
        argv = ["dockerd", "--storage-driver", self.storage_driver, "--bridge=none",
                "--iptables=false", "--ip-masq=false",
                "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "exec"),
                "--pidfile", os.path.join(self.dir, "dockerd.pid"),
                "--host", "unix://" + self.socket, *self.extra_args]
        self.proc = Process(argv, log_path=os.path.join(self.dir, "dockerd.log"))
        deadline = time.time() + timeout
        while True:
            try:
                if self.request("GET", "/_ping", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.proc.poll() is not None or time.time() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError("dockerd did not start: " + log[-2000:])
            time.sleep(0.2)

    def log(self):
        try:
            with open(os.path.join(self.dir, "dockerd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _containerd_pid(self):
        for name in ("containerd/containerd.pid", "containerd/daemon/containerd.pid"):
            try:
                with open(os.path.join(self.dir, "exec", name)) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                continue
        return None

    def stop(self):
        if not self.dir:
            return
        # every container first: they keep mounts busy
        try:
            for c in self.containers():
                self.request("DELETE", "/containers/%s?force=1" % c["Id"], timeout=300)
        except Exception:
            pass
        cpid = self._containerd_pid()
        if self.proc:
            self.proc.stop(timeout=30)
            self.proc = None
        if cpid:
            try:
                os.kill(cpid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(cpid, 0)
                    time.sleep(0.1)
                os.kill(cpid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # dockerd bind-mounts its data root (and vfs/exec dirs) onto
        # themselves: unmount everything below our directory, deepest first
        with open("/proc/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.dir)), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- Debian's docker CLI on this daemon ----

    def env(self):
        """The environment of a client of this daemon (docker, docker-compose)."""
        e = dict(os.environ)
        e["DOCKER_HOST"] = "unix://" + self.socket
        e.pop("DOCKER_CONTEXT", None)
        e["PATH"] = "/usr/bin:/usr/sbin:/bin:/sbin"  # Debian's docker for docker-compose too
        return e

    def docker(self, *args, check=True, capture=True, input=None, timeout=1800):
        """Runs the docker CLI; returns the CompletedProcess (text output
        when capture), raises on a non-zero exit when check."""
        r = subprocess.run([DOCKER, "-H", "unix://" + self.socket] + list(args), env=self.env(),
                           capture_output=capture, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("docker %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                           r.stdout or "", (r.stderr or "")[-4000:]))
        return r

    def output(self):
        return self.log()

    # ---- the Engine API ----

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, body bytes) of one request; path without the version
        prefix for /_ping and /version, else it is added."""
        if not path.startswith("/_ping") and not path.startswith("/version"):
            path = API + path
        c = _UnixConnection(self.socket, timeout)
        try:
            c.connect()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, data = self.request(method, path, json.dumps(body).encode() if body is not None
                                    else None, dict(headers or {}, **({"Content-Type":
                                                    "application/json"} if body is not None else {})))
        return status, (json.loads(data) if data.strip().startswith((b"{", b"[")) else data)

    def load(self, archive):
        status, data = self.request("POST", "/images/load?quiet=1", archive,
                                    {"Content-Type": "application/x-tar"})
        if status != 200 or b"errorDetail" in data:
            raise RuntimeError("docker load: %d %s" % (status, data[:500]))

    def push(self, name, tag):
        auth = base64.urlsafe_b64encode(b"{}").decode()
        status, data = self.request("POST", "/images/%s/push?tag=%s" % (name, tag),
                                    headers={"X-Registry-Auth": auth})
        if status != 200 or b"errorDetail" in data:
            raise RuntimeError("docker push: %d %s" % (status, data[:500]))

    def containers(self):
        return self.json("GET", "/containers/json?all=1")[1]

    def has_image(self, ref):
        return self.request("GET", "/images/%s/json" % ref)[0] == 200

    def remove_image(self, ref):
        return self.request("DELETE", "/images/%s?force=1" % ref)[0]


def docker_archive(ref, layer_tars, config):
    """A docker-archive (what `docker save` writes) of one image: layer_tars
    are uncompressed tar bytes, config the image config's "config"."""
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in layer_tars]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": diff_ids},
                      "history": [{"created_by": "test layer %d" % i}
                                  for i in range(len(layer_tars))]}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    files = [(cfg_name, cfg)]
    names = []
    for d, t in zip(diff_ids, layer_tars):
        name = d[7:] + "/layer.tar"
        names.append(name)
        files.append((name, t))
    files.append(("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": [ref],
                                                "Layers": names}]).encode()))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for name, data in files:
            d = os.path.dirname(name)
            if d and d not in dirs:
                dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
