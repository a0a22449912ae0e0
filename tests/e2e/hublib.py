"""hublib.py - shared helpers of the end-to-end tests: free ports, temporary
directories, a real redis-server, a real 0-db and the hub binaries started by
pid with cleanup even on failure, a small HTTP client and a minimal RESP
client.

Environment (set by ctest, tests/CMakeLists.txt):
  HUB_BIN       directory of the built binaries (flist-hub-api, ...)
  HUB_TESTDATA  the reference test data (tests/data)
  HUB_SOURCE    the source tree
  ZDB_BIN       the 0-db server (default: ../shared/tools/zdb beside the
                source tree). Without it, 0-db tests are skipped with a
                message naming ZDB_BIN, except under CI=true where they fail.

Typical use:
    with RedisServer() as redis, ApiServer({"authentication": "false"}, redis=redis) as api:
        status, headers, body = api.request("GET", "/api/repositories")
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HUB_BIN = os.environ.get("HUB_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
HUB_TESTDATA = os.environ.get("HUB_TESTDATA", os.path.join(os.path.dirname(__file__), "../data"))
HUB_SOURCE = os.environ.get("HUB_SOURCE", os.path.join(os.path.dirname(__file__), "../.."))

# The seed of HUB-API.md §12.3's test vector (32 ASCII bytes), as hex.
TEST_SEED_ASCII = b"0123456789abcdef0123456789abcdef"
TEST_SEED_HEX = TEST_SEED_ASCII.hex()


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Waits until something accepts connections on 127.0.0.1:port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with status %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d after %.0f s" % (port, timeout))


class Process:
    """A child process stopped by pid (SIGTERM, then SIGKILL)."""

    def __init__(self, argv, env=None, log_path=None, cwd=None):
        self.log_path = log_path
        self.log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)
        self.pid = self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the process; returns its exit status."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()
            self.log = subprocess.DEVNULL
        return self.proc.returncode

    def output(self):
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class TempDir:
    """A temporary directory removed on exit."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="hub-e2e-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


class RedisServer:
    """A private redis-server on a free port in a temporary directory.
    A context manager, or start()/stop(); kill() then start() restarts it on
    the same port and directory (crash tests with AOF)."""

    def __init__(self, extra_args=()):
        self.port = None
        self.dir = None
        self.proc = None
        self.extra_args = list(extra_args)

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="hub-redis-")
            self.port = free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, *self.extra_args]
        self.proc = Process(argv, log_path=os.path.join(self.dir, "redis.log"))
        try:
            wait_port(self.port, proc=self.proc.proc)
            deadline = time.time() + 5
            while True:
                try:
                    if self.cmd("PING") == "PONG":
                        break
                except RuntimeError as e:
                    # a restarted server answers LOADING while it reads its
                    # AOF back (slow on a busy machine): wait for it
                    if "LOADING" not in str(e) or time.time() > deadline:
                        raise
                if time.time() > deadline:
                    raise RuntimeError("redis does not answer PING")
                time.sleep(0.05)
        except Exception:
            self.stop()
            raise
        return self

    def kill(self):
        """kill -9, keeping the port and the directory."""
        if self.proc:
            self.proc.stop(signal.SIGKILL)

    def stop(self):
        if self.proc:
            self.proc.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def cmd(self, *args):
        return resp_command(self.port, *args)


    # ---- the content backend interface shared with ZdbServer ----
    kind = "redis"

    def namespace(self, name=None, password=None):
        """A namespace for chunks: for Redis a database number (name must
        be one; default "0"). Passwords are a 0-db feature."""
        assert password is None, "redis namespaces have no password"
        return name or "0"

    def backend_url(self, ns="0", password=None):
        return "redis://127.0.0.1:%d/%s" % (self.port, ns)

    def backend_config(self, ns="0", password=None):
        """The backend-internal-* configuration keys for this server."""
        return {"backend-internal-kind": "redis", "backend-internal-host": "127.0.0.1",
                "backend-internal-port": str(self.port), "backend-internal-name": ns,
                "backend-internal-pass": ""}

    def backend_metadata(self, ns="0"):
        """The `backend` metadata an flist made with backend_url(ns) holds."""
        return {"host": "127.0.0.1", "port": self.port, "namespace": ns}

    def chunk_commands(self, ns, commands, password=None):
        """Runs raw commands (lists) in namespace ns, pipelined; returns
        their replies (the SELECT's reply dropped)."""
        return resp_pipeline(self.port, [["SELECT", ns]] + list(commands))[1:]

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)


def zdb_binary():
    """Path of the 0-db server, or None."""
    path = os.environ.get("ZDB_BIN") or os.path.join(HUB_SOURCE, "..", "shared", "tools", "zdb")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


ZDB_MISSING = ("0-db server not found: set ZDB_BIN to the zdb binary "
               "(../shared/tools/zdb beside the source tree)")


def require_zdb(test=None):
    """Skips the calling test (or test class) when zdb is missing; under
    CI=true fails instead: a missing 0-db must never pass silently."""
    if zdb_binary():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise AssertionError(ZDB_MISSING + " (CI=true: 0-db tests must run)")
    raise unittest.SkipTest(ZDB_MISSING)


class ZdbServer:
    """A private 0-db (user mode) on a free port in a temporary directory,
    with the interface of RedisServer's content backend part. start()/stop(),
    kill() then start() restarts it on the same port and data."""

    kind = "zdb"

    def __init__(self):
        require_zdb()
        self.port = None
        self.dir = None
        self.proc = None
        self.passwords = {}

    def start(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="hub-zdb-")
            self.port = free_port()
        argv = [zdb_binary(), "--listen", "127.0.0.1", "--port", str(self.port), "--mode", "user",
                "--data", os.path.join(self.dir, "data"), "--index", os.path.join(self.dir, "index")]
        self.proc = Process(argv, log_path=os.path.join(self.dir, "zdb.log"))
        try:
            wait_port(self.port, proc=self.proc.proc)
            deadline = time.time() + 10
            while self.cmd("PING") != "PONG":
                if time.time() > deadline:
                    raise RuntimeError("zdb does not answer PING")
                time.sleep(0.05)
        except Exception:
            sys.stderr.write(self.proc.output()[-2000:])
            self.stop()
            raise
        return self

    def kill(self):
        """kill -9, keeping the port and the data."""
        if self.proc:
            self.proc.stop(signal.SIGKILL)

    def stop(self):
        if self.proc:
            self.proc.stop()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def cmd(self, *args):
        return resp_command(self.port, *args)

    def namespace(self, name=None, password=None):
        """Creates namespace `name` (NSNEW; "default" exists already), with
        a password when given (then writes need it: NSSET public 0 keeps
        reads private too). Returns the name."""
        name = name or "default"
        if name != "default":
            assert self.cmd("NSNEW", name) == "OK"
            if password:
                assert self.cmd("NSSET", name, "password", password) == "OK"
                assert self.cmd("NSSET", name, "public", "0") == "OK"
                self.passwords[name] = password
        return name

    def backend_url(self, ns="default", password=None):
        password = password if password is not None else self.passwords.get(ns)
        auth = ":%s@" % password if password else ""
        return "zdb://%s127.0.0.1:%d/%s" % (auth, self.port, ns)

    def backend_config(self, ns="default", password=None):
        password = password if password is not None else self.passwords.get(ns, "")
        return {"backend-internal-kind": "zdb", "backend-internal-host": "127.0.0.1",
                "backend-internal-port": str(self.port), "backend-internal-name": ns,
                "backend-internal-pass": password}

    def backend_metadata(self, ns="default"):
        return {"host": "127.0.0.1", "port": self.port, "namespace": ns}

    def chunk_commands(self, ns, commands, password=None):
        password = password if password is not None else self.passwords.get(ns)
        select = ["SELECT", ns] + ([password] if password else [])
        return resp_pipeline(self.port, [select] + list(commands))[1:]


def backend_server(kind):
    """A started content backend of the kind ("redis" or "zdb")."""
    return (ZdbServer() if kind == "zdb" else RedisServer()).start()


def _resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _resp_read(f, raw=False):
    """One reply. raw: bulk strings stay bytes and an error reply is
    returned as a RuntimeError instead of being raised (for pipelines)."""
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        e = RuntimeError("redis error: " + rest.decode())
        if raw:
            return e
        raise e
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        if raw:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            return data
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f, raw) for _ in range(n)]
    raise RuntimeError("bad RESP reply: %r" % line)


def resp_command(port, *args):
    """One Redis command on a fresh connection; returns the decoded reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(_resp_encode(args))
        with s.makefile("rb") as f:
            return _resp_read(f)


def resp_pipeline(port, commands):
    """Sends the commands pipelined on one connection; returns the raw
    replies (bulk strings as bytes, error replies as RuntimeError values)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"".join(_resp_encode(c) for c in commands))
        with s.makefile("rb") as f:
            return [_resp_read(f, raw=True) for _ in commands]


class ApiServer:
    """flist-hub-api with a configuration file written from a dict (keys of
    deployment/hub.conf.sample), on a free port, with its public and work
    directories in a temporary directory (or `root` when given, so that two
    instances can share one)."""

    def __init__(self, config=None, redis=None, root=None, env=None):
        self.config = dict(config or {})
        self.redis = redis
        self.root = root
        self.own_root = root is None
        self.env = env
        self.proc = None
        self.port = None
        self.killed = False

    def __enter__(self):
        if self.own_root:
            self.root = tempfile.mkdtemp(prefix="hub-api-")
        self.port = free_port()
        cfg = {
            "listen-addr": "127.0.0.1",
            "listen-port": str(self.port),
            "userdata-root-path": os.path.join(self.root, "public"),
            "workdir-root-path": os.path.join(self.root, "workdir"),
            "public-website": "http://hub.test",
            "threads": "2",
            "log-level": "debug",
        }
        if self.redis:
            cfg["redis-url"] = self.redis.url
            cfg["backend-internal-port"] = str(self.redis.port)
        cfg.update(self.config)
        self.conf_path = os.path.join(self.root, "hub-%d.conf" % self.port)
        with open(self.conf_path, "w") as f:
            for k, v in cfg.items():
                f.write('%s = "%s"\n' % (k, str(v).replace("\\", "\\\\").replace('"', '\\"')))
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HUB_") and k not in ("HUB_BIN", "HUB_TESTDATA", "HUB_SOURCE"):
                del env[k]
        env.update(self.env or {})
        self.log_path = os.path.join(self.root, "api-%d.log" % self.port)
        self.proc = Process([os.path.join(HUB_BIN, "flist-hub-api"), "-c", self.conf_path], env=env,
                            log_path=self.log_path)
        try:
            wait_port(self.port, proc=self.proc.proc)
        except Exception:
            sys.stderr.write(self.proc.output())
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        status = 0
        output = ""
        if self.proc:
            status = self.proc.stop()
            output = self.proc.output()
            if exc and exc[0] is not None:
                sys.stderr.write(output[-4000:])
            self.exit_status = status
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        # a clean stop exits 0; anything else (a crash, a sanitizer report)
        # fails the test that used the server, unless the test killed it
        if status != 0 and not self.killed and not (exc and exc[0] is not None):
            raise AssertionError("flist-hub-api exited with status %s:\n%s" % (status, output[-6000:]))

    def kill(self):
        """kill -9 (a crash the test causes on purpose)."""
        self.killed = True
        self.proc.stop(signal.SIGKILL)

    @property
    def public(self):
        return os.path.join(self.root, "public", "users")

    @property
    def upload_dir(self):
        return os.path.join(self.root, "workdir", "distfiles")

    def request(self, method, path, headers=None, body=None, timeout=30):
        """Sends one request; returns (status, headers dict lower-cased, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            conn.putrequest(method, path, skip_accept_encoding=True,
                            skip_host=any(k.lower() == "host" for k in hdrs))
            if body is not None and not any(k.lower() == "content-length" for k in hdrs):
                hdrs["Content-Length"] = str(len(body))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, headers=None, body=None):
        """request() whose body is parsed as JSON (None when it is not JSON)."""
        status, hdrs, data = self.request(method, path, headers, body)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None

    def raw(self, data, timeout=10):
        """Sends raw bytes and returns the raw reply (for byte-exact replays)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)


def instrumented():
    """"asan" or "tsan" when the binaries under test carry a sanitizer (their
    memory figures are not the product's: shadow memory, quarantine), else
    None."""
    try:
        with open(os.path.join(HUB_BIN, "flist-hub-api"), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"__tsan_init" in data:
        return "tsan"
    if b"__asan_init" in data:
        return "asan"
    return None


def api_binary(*args, env=None, config_path=None):
    """Runs flist-hub-api with arguments; returns (status, stdout, stderr)."""
    argv = [os.path.join(HUB_BIN, "flist-hub-api")]
    if config_path:
        argv += ["-c", config_path]
    p = subprocess.run(argv + list(args), env=env, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def multipart(fields, files, boundary="hubtestboundary1234"):
    """multipart/form-data body: fields {name: value}, files [(name, filename,
    bytes)]. Returns (content_type, body)."""
    out = b""
    for name, value in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n" % (boundary, name)).encode()
        out += value.encode() + b"\r\n"
    for name, filename, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode()
        out += data + b"\r\n"
    out += ("--%s--\r\n" % boundary).encode()
    return "multipart/form-data; boundary=%s" % boundary, out


class FakeWorker:
    """Plays the worker's side of the queue for producer tests: reads the job
    ids the api queued on hub:jobs and finishes jobs as queue.h says (state,
    result, events with the final flag)."""

    def __init__(self, redis):
        self.redis = redis

    def queued(self):
        """Job ids of hub:jobs, oldest first."""
        entries = self.redis.cmd("XRANGE", "hub:jobs", "-", "+") or []
        ids = []
        for _entry_id, fields in entries:
            d = dict(zip(fields[::2], fields[1::2]))
            ids.append(d.get("id"))
        return ids

    def job(self, job_id):
        flat = self.redis.cmd("HGETALL", "hub:job:" + job_id) or []
        return dict(zip(flat[::2], flat[1::2]))

    def event(self, job_id, data, final=False):
        args = ["XADD", "hub:job:%s:events" % job_id, "*", "data", json.dumps(data)]
        if final:
            args += ["final", "1"]
        return self.redis.cmd(*args)

    def finish(self, job_id, result=None, error=None):
        now = str(int(time.time()))
        self.redis.cmd("HSET", "hub:job:" + job_id, "state", "failed" if error else "done",
                       "result", json.dumps(result if result is not None else {}),
                       "error", error or "", "progress", "100", "finished", now)
        ev = {"status": "error", "message": error} if error else {"status": "info", "info": result or {}}
        self.event(job_id, ev, final=True)

    def wait_queued(self, n=1, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ids = self.queued()
            if len(ids) >= n:
                return ids
            time.sleep(0.05)
        raise AssertionError("no job queued within %s s" % timeout)


def run_tests():
    """unittest main with verbose output; exits non-zero on failure."""
    unittest.main(verbosity=2)
