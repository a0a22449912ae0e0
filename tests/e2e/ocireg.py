"""ocireg.py - container images and registries for the converter's tests,
without a daemon: layers written as tars (plain, gzip, zstd), OCI and Docker
manifests, indexes and manifest lists, pushed byte-exact through the
Distribution API of a real Debian `docker-registry` started here; a token
server (RS256 JWT with an x5c header), basic auth over TLS (htpasswd -B),
and blob redirects (the registry's `redirect` middleware pointed at a small
file server that records whether a request carried credentials).

A missing program is a skip outside CI and a failure with CI=true
(require_programs)."""
import base64
import datetime
import gzip
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import socketserver
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from hublib import Process, free_port, wait_port

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}


def require_programs(test, *names):
    """Skips (outside CI) or fails (CI=true) when a program is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        msg = "missing %s (deployment/install-deps.sh installs it)" % ", ".join(missing)
        if os.environ.get("CI") == "true":
            test.fail(msg)
        test.skipTest(msg)


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_tar(entries):
    """A tar from entries: (name, data) for a file, (name, None) for a
    directory, (name, "->target") for a symlink; or a dict with keys name,
    type ('file', 'dir', 'symlink', 'hardlink'), data, mode, uid, gid,
    target."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            if not isinstance(e, dict):
                name, data = e
                if data is None:
                    e = {"name": name, "type": "dir"}
                elif isinstance(data, str) and data.startswith("->"):
                    e = {"name": name, "type": "symlink", "target": data[2:]}
                else:
                    e = {"name": name, "type": "file", "data": data}
            ti = tarfile.TarInfo(e["name"])
            ti.mtime = 1700000000
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            kind = e["type"]
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, e.get("mode", 0o755)
                t.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e["target"], 0o777
                t.addfile(ti)
            elif kind == "hardlink":
                ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, e["target"], e.get("mode", 0o644)
                t.addfile(ti)
            else:
                data = e["data"] if isinstance(e["data"], bytes) else e["data"].encode()
                ti.size, ti.mode = len(data), e.get("mode", 0o644)
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def compress(raw, how):
    if how == "none":
        return raw
    if how == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, capture_output=True,
                              check=True).stdout
    raise ValueError(how)


class Image:
    """An image: layer blobs, a config blob and a manifest (OCI or Docker)."""

    def __init__(self, layers, config=None, kind="oci", arch="amd64", os_="linux"):
        """layers: list of (tar bytes, compression)."""
        self.kind = kind
        self.blobs = {}
        self.layer_descs = []
        diff_ids = []
        for raw, how in layers:
            blob = compress(raw, how)
            d = sha256(blob)
            self.blobs[d] = blob
            diff_ids.append(sha256(raw))
            self.layer_descs.append({"mediaType": LAYER_TYPES[(kind, how)], "digest": d,
                                     "size": len(blob)})
        cfg = {"architecture": arch, "os": os_, "config": config or {},
               "rootfs": {"type": "layers", "diff_ids": diff_ids},
               "history": [{"created_by": "layer %d" % i} for i in range(len(layers))]
               + [{"created_by": "ENV only", "empty_layer": True}]}
        self.config_blob = json.dumps(cfg, sort_keys=True).encode()
        self.config_digest = sha256(self.config_blob)
        self.blobs[self.config_digest] = self.config_blob
        mt = MT_OCI_MANIFEST if kind == "oci" else MT_DOCKER_MANIFEST
        cmt = MT_OCI_CONFIG if kind == "oci" else MT_DOCKER_CONFIG
        man = {"schemaVersion": 2, "mediaType": mt,
               "config": {"mediaType": cmt, "digest": self.config_digest,
                          "size": len(self.config_blob)},
               "layers": self.layer_descs}
        self.manifest = json.dumps(man, indent=2).encode()
        self.media_type = mt
        self.digest = sha256(self.manifest)
        self.platform = {"os": os_, "architecture": arch}


def make_index(images, kind="oci", attestation_for=None):
    """An index (or Docker manifest list) of images; attestation_for: an
    image whose attestation entry (unknown/unknown) is listed first."""
    mt = MT_OCI_INDEX if kind == "oci" else MT_DOCKER_LIST
    entries = []
    if attestation_for is not None:
        entries.append({"mediaType": MT_OCI_MANIFEST, "digest": attestation_for.digest,
                        "size": len(attestation_for.manifest),
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                        "vnd.docker.reference.digest": attestation_for.digest}})
    for im in images:
        entries.append({"mediaType": im.media_type, "digest": im.digest,
                        "size": len(im.manifest), "platform": im.platform})
    body = json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": entries}).encode()
    return body, mt


# ---------------------------------------------------------------- TLS, tokens

def make_cert(directory, name, ip="127.0.0.1"):
    """A self-signed certificate for ip/localhost: (cert path, key path, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import ipaddress
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(ip))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cp, kp = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    with open(cp, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return cp, kp, cert, key


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TokenServer:
    """The registry's token server: RS256 JWTs with an x5c header. Users:
    `users` {name: password}; anonymous requests get pull on repositories
    not under private/; named users get what they ask for. Records the
    requests (with whether they carried credentials)."""

    def __init__(self, directory, users, service="test-registry", issuer="test-issuer"):
        self.cert_path, _, self.cert, self.key = make_cert(directory, "token-signer")
        self.users, self.service, self.issuer = users, service, issuer
        self.requests = []
        self.port = free_port()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer._handle(self)

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def realm(self):
        return "http://127.0.0.1:%d/token" % self.port

    def _handle(self, h):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(h.path).query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(u) != p:
                self.requests.append({"user": u, "refused": True, "query": q})
                h.send_response(401)
                h.end_headers()
                return
            user = u
        self.requests.append({"user": user, "query": q})
        access = []
        for scope in q.get("scope", []):
            typ, name, actions = scope.split(":")
            if user is None and (name.startswith("private/") or "pull" not in actions.split(",")):
                continue
            access.append({"type": typ, "name": name,
                           "actions": actions.split(",") if user else ["pull"]})
        tok = self.token(user or "", access)
        body = json.dumps({"token": tok, "expires_in": 300}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def token(self, sub, access):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()))
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + b64url(sig)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class BlobServer:
    """Serves the registry's storage directory (the target of its redirect
    middleware) and records whether requests carried an Authorization."""

    def __init__(self, root=None, rate=None):
        """rate: bytes per second to send at (None: at once)."""
        self.root, self.port, self.requests = root, free_port(), []
        self.rate = rate
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path,
                                       "authorization": self.headers.get("Authorization")})
                p = os.path.normpath(os.path.join(outer.root, urllib.parse.unquote(
                    urllib.parse.urlparse(self.path).path).lstrip("/")))
                if not p.startswith(outer.root) or not os.path.isfile(p):
                    self.send_response(404)
                    self.end_headers()
                    return
                with open(p, "rb") as f:
                    data = f.read()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                step = max(1, (outer.rate or len(data)) // 10)
                try:
                    for off in range(0, len(data), step):
                        self.wfile.write(data[off:off + step])
                        self.wfile.flush()
                        if outer.rate:
                            time.sleep(0.1)
                except OSError:
                    pass   # the client went away

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- the registry

class Registry:
    """A real docker-registry in directory `directory`: auth None, "token"
    (with a TokenServer), or "basic" (htpasswd over TLS); redirect: a base
    URL blob GETs are redirected to."""

    def __init__(self, directory, auth=None, token_server=None, users=None, redirect=None,
                 tls=False):
        self.dir = os.path.join(directory, "registry-%d" % free_port())
        os.makedirs(self.dir)
        self.storage = os.path.join(self.dir, "storage")
        os.makedirs(self.storage)
        self.port = free_port()
        self.auth, self.users, self.token_server = auth, users or {}, token_server
        self.tls = tls or auth == "basic"
        self.ca = None
        cfg = ["version: 0.1", "log:", "  level: info", "storage:", "  filesystem:",
               "    rootdirectory: %s" % self.storage, "  delete:", "    enabled: true",
               "http:", "  addr: 127.0.0.1:%d" % self.port]
        if self.tls:
            cp, kp, _, _ = make_cert(self.dir, "registry")
            self.ca = cp
            cfg += ["  tls:", "    certificate: %s" % cp, "    key: %s" % kp]
        if auth == "basic":
            htp = os.path.join(self.dir, "htpasswd")
            for i, (u, p) in enumerate(self.users.items()):
                subprocess.run(["htpasswd", "-B", "-b"] + (["-c"] if i == 0 else [])
                               + [htp, u, p], check=True, capture_output=True)
            cfg += ["auth:", "  htpasswd:", "    realm: test-registry", "    path: %s" % htp]
        elif auth == "token":
            ts = token_server
            cfg += ["auth:", "  token:", "    realm: %s" % ts.realm, "    service: %s" % ts.service,
                    "    issuer: %s" % ts.issuer, "    rootcertbundle: %s" % ts.cert_path]
        if redirect:
            cfg += ["middleware:", "  storage:", "    - name: redirect", "      options:",
                    "        baseurl: %s" % redirect]
        self.config = os.path.join(self.dir, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.proc = None
        self.push_user = None

    @property
    def host(self):
        return "127.0.0.1:%d" % self.port

    @property
    def base(self):
        return "%s://%s" % ("https" if self.tls else "http", self.host)

    def __enter__(self):
        self.proc = Process(["docker-registry", "serve", self.config],
                            log_path=os.path.join(self.dir, "registry.log"))
        wait_port(self.port, proc=self.proc.proc)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.stop()

    # -- a small client for pushing (authenticates as push_user)
    def _ctx(self):
        return ssl.create_default_context(cafile=self.ca) if self.tls else None

    def request(self, method, path, body=None, headers=None, auth=True):
        url = path if path.startswith("http") else self.base + path
        headers = dict(headers or {})
        cred = self.push_user
        for attempt in range(2):
            req = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, context=self._ctx(), timeout=60) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as e:
                if e.code == 401 and attempt == 0 and auth and cred:
                    ch = e.headers.get("WWW-Authenticate", "")
                    basic = "Basic " + base64.b64encode(("%s:%s" % cred).encode()).decode()
                    if ch.startswith("Bearer"):
                        params = dict(re.findall(r'(\w+)="([^"]*)"', ch))
                        q = urllib.parse.urlencode({"service": params["service"],
                                                    "scope": params.get("scope", "")})
                        treq = urllib.request.Request(params["realm"] + "?" + q,
                                                      headers={"Authorization": basic})
                        with urllib.request.urlopen(treq, timeout=30) as r:
                            tok = json.loads(r.read())["token"]
                        headers["Authorization"] = "Bearer " + tok
                    else:
                        headers["Authorization"] = basic
                    continue
                return e.code, dict(e.headers), e.read()

    def push_blob(self, repo, blob):
        d = sha256(blob)
        st, h, b = self.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"")
        assert st == 202, (st, b)
        loc = h["Location"]
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        st, h, b = self.request("PUT", loc + sep + "digest=" + d, body=blob,
                                headers={"Content-Type": "application/octet-stream"})
        assert st == 201, (st, b)
        return d

    def push_manifest(self, repo, ref, body, media_type):
        st, h, b = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=body,
                                headers={"Content-Type": media_type})
        assert st == 201, (st, b)
        return sha256(body)

    def push_image(self, repo, tag, image):
        for blob in image.blobs.values():
            self.push_blob(repo, blob)
        return self.push_manifest(repo, tag or image.digest, image.manifest, image.media_type)

    def push_index(self, repo, tag, images, kind="oci", attestation_for=None):
        for im in images:
            self.push_image(repo, None, im)
        if attestation_for is not None:
            self.push_image(repo, None, attestation_for)
        body, mt = make_index(images, kind, attestation_for)
        return self.push_manifest(repo, tag, body, mt)
