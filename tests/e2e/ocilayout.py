"""Container images written by the tests, without any daemon: OCI image
layouts (index.json, blobs/sha256/<hex>), with layers built from entry
lists (tarfile: PAX or GNU format; gzip, zstd or none), configs, OCI and
Docker manifests, indexes and manifest lists. docs/OCI-NOTES.md §7.

Entries of a layer, made with the helpers below:
    F(name, data, mode=0o644, uid=0, gid=0, **pax)  regular file
    D(name, mode=0o755, uid=0, gid=0)               directory
    L(name, target)                                 symlink
    H(name, target, mode=0o644)                     hard link (to a member name)
    CHR(name, major, minor), FIFO(name)             character device, fifo
    WH(name)                                        whiteout of name (".wh.<base>")
    OPQ(dirname)                                    opaque marker of dirname
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}
MTIME = 1700000000


def F(name, data=b"", mode=0o644, uid=0, gid=0, uname="", gname="", pax=None):
    return ("file", name, data, mode, uid, gid, uname, gname, pax or {})


def D(name, mode=0o755, uid=0, gid=0, uname="", gname=""):
    return ("dir", name, None, mode, uid, gid, uname, gname, {})


def L(name, target):
    return ("symlink", name, target, 0o777, 0, 0, "", "", {})


def H(name, target, mode=0o644):
    """A hard link; real archivers give it its target's mode (Docker chmods
    the shared inode to the link's mode, umoci keeps the target's)."""
    return ("hardlink", name, target, mode, 0, 0, "", "", {})


def CHR(name, major, minor, mode=0o666):
    return ("chr", name, (major, minor), mode, 0, 0, "", "", {})


def FIFO(name, mode=0o644):
    return ("fifo", name, None, mode, 0, 0, "", "", {})


def WH(name):
    d, _, base = name.rpartition("/")
    return F((d + "/" if d else "") + ".wh." + base)


def OPQ(dirname):
    return F(dirname.rstrip("/") + "/.wh..wh..opq")


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    """The uncompressed tar of entries, exactly as listed (no sanitizing)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for kind, name, data, mode, uid, gid, uname, gname, pax in entries:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, gid, MTIME
            ti.uname, ti.gname = uname, gname
            if pax:
                ti.pax_headers = dict(pax)
            body = None
            if kind == "file":
                ti.type = tarfile.REGTYPE
                ti.size = len(data)
                body = io.BytesIO(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
            elif kind == "chr":
                ti.type, (ti.devmajor, ti.devminor) = tarfile.CHRTYPE, data
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, body)
    return buf.getvalue()


def compress(raw, comp):
    if comp == "gzip":
        return gzip.compress(raw, mtime=0)
    if comp == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE,
                              check=True).stdout
    return raw


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []   # index.json entries

    def blob(self, data, media_type):
        digest = sha256(data)
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def layer(self, entries, comp="gzip", kind="oci", fmt=tarfile.PAX_FORMAT):
        """Writes a layer blob; returns (descriptor, diff_id)."""
        raw = tar_bytes(entries, fmt)
        return self.blob(compress(raw, comp), LAYER_TYPES[(kind, comp)]), sha256(raw)

    def image(self, layers, config=None, kind="oci", history=None, arch="amd64"):
        """layers: list of (descriptor, diff_id). Returns the manifest's
        descriptor (with its platform)."""
        cfg = {
            "architecture": arch, "os": "linux",
            "config": config if config is not None else {},
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
            "history": history if history is not None else
            [{"created_by": "layer %d" % i} for i in range(len(layers))],
        }
        cdesc = self.blob(json.dumps(cfg).encode(), OCI_CONFIG if kind == "oci" else DOCKER_CONFIG)
        man = {"schemaVersion": 2,
               "mediaType": OCI_MANIFEST if kind == "oci" else DOCKER_MANIFEST,
               "config": cdesc, "layers": [l for l, _ in layers]}
        desc = self.blob(json.dumps(man).encode(), man["mediaType"])
        desc["platform"] = {"architecture": arch, "os": "linux"}
        return desc

    def index(self, manifests, kind="oci"):
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX if kind == "oci" else DOCKER_LIST,
               "manifests": manifests}
        return self.blob(json.dumps(idx).encode(), idx["mediaType"])

    def tag(self, desc, name):
        d = dict(desc)
        d["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.refs.append(d)
        self.save()

    def save(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}, f)


def umoci_unpack(layout, tag, bundle):
    """`umoci unpack` of layout:tag into bundle (its rootfs/ is the tree)."""
    shutil.rmtree(bundle, ignore_errors=True)
    subprocess.run(["umoci", "unpack", "--image", "%s:%s" % (layout, tag), bundle],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return os.path.join(bundle, "rootfs")


def tree(root, skip=()):
    """{relative path: (type, mode, uid, gid, size, sha256 or link target)}
    of every entry below root, without following symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if rel in skip:
                continue
            st = os.lstat(full)
            mode = st.st_mode
            if os.path.islink(full):
                rec = ("symlink", os.readlink(full), None)
            elif os.path.isdir(full):
                rec = ("dir", None, None)
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    rec = ("file", st.st_size, hashlib.sha256(f.read()).hexdigest())
            else:
                rec = ("special", mode >> 12, (os.major(st.st_rdev), os.minor(st.st_rdev)))
            perm = None if rec[0] == "symlink" else mode & 0o7777
            out[rel] = rec + (perm, st.st_uid, st.st_gid)
    return out
