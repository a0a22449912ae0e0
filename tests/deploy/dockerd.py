"""dockerd.py - a private Docker daemon for the deployment tests: Debian's
docker.io dockerd on a unix socket in a temporary directory (no default
bridge, no iptables: docs/OCI-NOTES.md §7; overlay2 storage where the kernel
has overlay, else vfs), stopped by pid, its data root unmounted and removed,
even when the test fails.

    with Dockerd() as d:
        d.docker("images")                      # Debian's docker CLI on that socket
        d.env()                                 # DOCKER_HOST=unix://... for docker-compose

User-defined networks (compose's) work: containers reach each other by
name, and published ports reach them from the host (docker-proxy; without
iptables there is no NAT to the outside, which nothing here needs). Nothing
is ever pulled: images come from `docker import` and `docker build`.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

DOCKERD = shutil.which("dockerd", path="/usr/sbin:/usr/bin:/sbin:/bin") or "/usr/sbin/dockerd"
# Debian's client, not whatever else is first on PATH
DOCKER = "/usr/bin/docker"


def missing():
    """What is missing to run a dockerd here ("" when nothing)."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for p in (DOCKERD, DOCKER):
        if not os.access(p, os.X_OK):
            return "%s not found (Debian package docker.io)" % p
    return ""


class Dockerd:
    def __init__(self, root=None, storage_driver=None):
        self.root = root
        self.proc = None
        # overlay2 when the kernel has overlay (a layer costs its diff), else
        # vfs (every layer a full copy: slow with large bases); HUB_DOCKER_STORAGE overrides
        with open("/proc/filesystems") as f:
            has_overlay = "overlay" in f.read()
        self.storage = storage_driver or os.environ.get("HUB_DOCKER_STORAGE") or (
            "overlay2" if has_overlay else "vfs")

    def __enter__(self):
        # short path: the unix socket path must stay under 108 bytes
        self.root = self.root or tempfile.mkdtemp(prefix="hubd-", dir="/tmp")
        self.sock = os.path.join(self.root, "d.sock")
        self.data = os.path.join(self.root, "data")
        self.exec_root = os.path.join(self.root, "exec")
        os.makedirs(self.data, exist_ok=True)
        self.log_path = os.path.join(self.root, "dockerd.log")
        self.log = open(self.log_path, "wb")
        argv = [DOCKERD, "--storage-driver", self.storage, "--bridge=none", "--iptables=false",
                "--ip-masq=false", "--data-root", self.data, "--exec-root", self.exec_root,
                "--pidfile", os.path.join(self.root, "dockerd.pid"), "--host", "unix://" + self.sock]
        # its own process group: containerd and the shims go with it
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                out = self.output()
                self.__exit__(None, None, None)
                raise RuntimeError("dockerd exited at start:\n" + out[-3000:])
            if os.path.exists(self.sock) and self.docker("version", check=False,
                                                         capture=True).returncode == 0:
                return self
            if time.time() > deadline:
                out = self.output()
                self.__exit__(None, None, None)
                raise RuntimeError("dockerd did not answer within 60 s:\n" + out[-3000:])
            time.sleep(0.2)

    def env(self):
        e = dict(os.environ)
        e["DOCKER_HOST"] = "unix://" + self.sock
        e.pop("DOCKER_CONTEXT", None)
        e["PATH"] = "/usr/bin:/usr/sbin:/bin:/sbin"  # Debian's docker for docker-compose too
        return e

    def docker(self, *args, check=True, capture=True, input=None, timeout=1800):
        """Runs Debian's docker CLI against this daemon; returns the
        CompletedProcess (text output when capture)."""
        r = subprocess.run([DOCKER, "-H", "unix://" + self.sock] + list(args), env=self.env(),
                           capture_output=capture, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("docker %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                          r.stdout or "", (r.stderr or "")[-4000:]))
        return r

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            # every container first (they would keep mounts busy), then dockerd
            try:
                ids = self.docker("ps", "-aq", check=False, timeout=60).stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids, check=False, timeout=300)
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            # containerd and shims started by this dockerd share its group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        self.unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def unmount_all(self):
        """Unmounts everything below the root (the data root bind-mounted
        onto itself, container mounts, netns), deepest first."""
        if not self.root:
            return
        prefix = os.path.realpath(self.root)
        for _ in range(3):
            mounts = []
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    mp = line.split()[4].replace("\\040", " ")
                    if mp == prefix or mp.startswith(prefix + "/"):
                        mounts.append(mp)
            if not mounts:
                return
            for mp in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", mp], capture_output=True)
