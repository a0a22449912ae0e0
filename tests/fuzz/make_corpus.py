#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpora of the fuzz targets into
tests/fuzz/corpus/<name>/ (checked in; run again after a format change).
Deterministic: same tests/data, same files. Needs only the standard
library. Keep the whole under 200 KB: seeds are starting points, libFuzzer
grows its own corpus in a scratch directory (tests/fuzz/run.sh).
"""
import base64
import gzip
import hashlib
import hmac
import io
import json
import lzma
import bz2
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def flist_db(name):
    """The flistdb.sqlite3 of tests/data/<name>.flist, as bytes."""
    with tarfile.open(os.path.join(DATA, name + ".flist"), "r:gz") as t:
        for m in t.getmembers():
            if m.name.endswith("flistdb.sqlite3"):
                return t.extractfile(m).read()
    raise SystemExit(f"{name}.flist: no flistdb.sqlite3")


def small_db(db):
    """The same database rewritten with 512-byte pages (a few KB)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "db")
        with open(p, "wb") as f:
            f.write(db)
        c = sqlite3.connect(p)
        c.execute("PRAGMA page_size = 512")
        c.execute("VACUUM")
        c.close()
        with open(p, "rb") as f:
            return f.read()


def tar_bytes(entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (TarInfo kwargs, content bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for kw, content in entries:
            ti = tarfile.TarInfo(kw.pop("name"))
            ti.mtime = 1704067200
            for k, v in kw.items():
                setattr(ti, k, v)
            if content is not None:
                ti.size = len(content)
                t.addfile(ti, io.BytesIO(content))
            else:
                t.addfile(ti)
    return buf.getvalue()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def b64url(b, pad=False):
    s = base64.urlsafe_b64encode(b).decode()
    return s if pad else s.rstrip("=")


# ---------------------------------------------------------------- capnp
def corpus_capnp():
    c = sqlite3.connect(":memory:")
    c.deserialize(flist_db("sample"))
    for key, value in c.execute("SELECT key, value FROM entries ORDER BY key"):
        kind = "dir" if len(key) == 32 else "aci"
        write("capnp", f"sample-{kind}-{key[:8]}", value)
    c.close()


# ---------------------------------------------------------------- flist
def corpus_flist():
    for name in ("a", "empty", "merged", "sample", "bigdir"):
        shutil.copyfile(os.path.join(DATA, name + ".flist"),
                        os.path.join(OUT, "flist", name + ".flist"))
    sample = small_db(flist_db("sample"))
    write("flist", "sample.sqlite3", sample)
    a = small_db(flist_db("a"))
    write("flist", "a.tar", tar_bytes([({"name": "./", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
                                       ({"name": "./flistdb.sqlite3", "mode": 0o644}, a)]))


# ---------------------------------------------------------------- tar
def corpus_tar():
    readme = b"# fuzz tree\n\nhello\n"
    basic = [
        ({"name": "./", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
        ({"name": "./.README.md", "mode": 0o644}, readme),
        ({"name": "./a/", "type": tarfile.DIRTYPE, "mode": 0o755}, None),
        ({"name": "./a/a.txt", "mode": 0o644, "uid": 1000, "gid": 1000}, b"a" * 10),
        ({"name": "./a/b/c/deep.txt", "mode": 0o4755}, b"deep\n"),
        ({"name": "./a/link-up", "type": tarfile.SYMTYPE, "linkname": "../../etc/passwd"}, None),
        ({"name": "./a/hard", "type": tarfile.LNKTYPE, "linkname": "./a/a.txt"}, None),
        ({"name": "./a/fifo", "type": tarfile.FIFOTYPE, "mode": 0o644}, None),
        ({"name": "./dev/null", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, None),
        ({"name": "./dev/sda", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, None),
        ({"name": "./empty", "mode": 0o600}, b""),
        ({"name": "./f4100", "mode": 0o644}, bytes(range(256)) * 16 + b"tail"),
    ]
    plain = tar_bytes([(dict(kw), c) for kw, c in basic])
    write("tar", "basic.tar", plain)
    write("tar", "basic.tar.gz", gz(plain))
    write("tar", "basic.tar.xz", lzma.compress(plain))
    write("tar", "basic.tar.bz2", bz2.compress(plain))
    # two gzip members, like `cat a.gz b.gz`, then trailing garbage
    write("tar", "members.tar.gz", gz(plain[:1024]) + gz(plain[1024:]) + b"\0junk")
    longname = "./" + "/".join(["d%02d" % i for i in range(40)]) + "/file-with-a-long-name.txt"
    gnu = tar_bytes([({"name": longname, "mode": 0o644}, b"x"),
                     ({"name": "./l", "type": tarfile.SYMTYPE, "linkname": "t" * 150}, None)],
                    fmt=tarfile.GNU_FORMAT)
    write("tar", "gnu-long.tar.gz", gz(gnu))
    pax = tar_bytes([({"name": "./h\u00e9llo-\u2603.txt", "mode": 0o644, "uname": "\u00e9l\u00e8ve",
                       "gname": "staff", "uid": 3000000, "gid": 3000000}, b"pax\n"),
                     ({"name": "./dir/", "type": tarfile.DIRTYPE, "mode": 0o1777}, None),
                     ({"name": "./dir/", "type": tarfile.DIRTYPE, "mode": 0o700}, None),
                     ({"name": "dir/../dir2/x", "mode": 0o644}, b"1"),
                     ({"name": "dir2/x", "mode": 0o600}, b"replaced")],
                    fmt=tarfile.PAX_FORMAT)
    write("tar", "pax.tar.gz", gz(pax))
    escape = tar_bytes([({"name": "./ok", "mode": 0o644}, b"ok"),
                        ({"name": "../evil", "mode": 0o644}, b"no")])
    write("tar", "escape.tar.gz", gz(escape))


# ---------------------------------------------------------------- multipart
def corpus_multipart():
    def mp(boundary, parts):
        out = b""
        for headers, content in parts:
            out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"
        return out + b"--" + boundary + b"--\r\n"

    b = b"----fuzzBoundary7MA4YWxk"
    upload = mp(b, [
        (b'Content-Disposition: form-data; name="metadata-name"', b"my app"),
        (b'Content-Disposition: form-data; name="file"; filename="tree.tar.gz"\r\n'
         b"Content-Type: application/gzip", b"\x1f\x8b\x08\x00" + b"z" * 200),
        (b'Content-Disposition: form-data; name="other"', b"value"),
    ])
    ctype = b"multipart/form-data; boundary=" + b
    write("multipart", "upload", b"\0" + ctype + b"\n" + upload)
    write("multipart", "upload-sliced", b"\x07" + ctype + b"\n" + upload)
    twice = mp(b"q", [
        (b'Content-Disposition: form-data; name="file"; filename=""', b"first\r\n--not-the-end"),
        (b'Content-Disposition: form-data; name="file"; filename="second"', b"ignored"),
        (b'Content-Disposition: form-data; name="metadata-name"', b"a"),
        (b'Content-Disposition: form-data; name="metadata-name"', b"b"),
        (b'Content-Disposition: form-data; name="image"', b"library/ubuntu:latest"),
    ])
    write("multipart", "two-files", b"\x03multipart/form-data; boundary=\"q\"\n" + twice)
    write("multipart", "urlencoded",
          b"\0application/x-www-form-urlencoded\nimage=library%2Fubuntu%3Alatest&x=a+b&image=2")
    write("multipart", "docker-multipart",
          b"\x10multipart/form-data; boundary=zz\n" +
          mp(b"zz", [(b'Content-Disposition: form-data; name="image"', b"alpine:3.19")]))
    write("multipart", "no-type", b"\0\nnot a form at all")


# ---------------------------------------------------------------- router
def corpus_router():
    # byte 0: method (0 GET 1 HEAD 2 POST 3 DELETE 4 INFO 5 OPTIONS 6 PUT 7 other) | 8 = auth on
    paths = [
        (2, "/api/flist/me/upload"), (2, "/api/flist/me/upload-flist"), (2, "/api/flist/me/docker"),
        (0, "/api/flist/me"), (0, "/api/flist"), (0, "/api/repositories"), (0, "/api/fileslist"),
        (8, "/login"), (8, "/callback_threebot"), (0, "/healthz"), (0, "/metrics/"),
        (3, "/api/flist/me/v1/app.flist/tag/alice/app.flist"),
        (0, "/api/flist/me/promote/alice/src.flist/local.flist"),
        (0, "/api/flist/me/link/crosslink/alice/src.flist"),
        (0, "/api/flist/me/lnk/crosstag/alice/v1"),
        (0, "/api/flist/me/src.flist/link/lnk"),
        (0, "/api/flist/me/a.flist/rename/b.flist"),
        (2, "/api/flist/me/merge/merged.flist"),
        (0, "/api/flist/alice/tags/v1"), (0, "/api/flist/alice/app.flist/light"),
        (0, "/api/flist/alice/app.flist/taglink"), (0, "/api/flist/alice/app.flist/metadata"),
        (4, "/api/flist/me/app.flist"), (4, "/api/flist/alice/app.flist"),
        (0, "/alice/tags/v1/app.flist"), (0, "/api/flist/alice"), (0, "/api/jobs/0123abcd"),
        (0, "/listen/0123abcd"), (0, "/token/abc.def"), (0, "/alice/app.txt"), (0, "/alice/app.json"),
        (1, "/alice/app.flist"), (0, "/alice/app.flist.md5"), (5, "/api/flist/alice"),
        (6, "/api/flist/alice"), (0, "/api/flist/%2e%2e/a%2Fb"), (0, "/api/flist/al%00ice"),
        (0, "/alice/%C3%A9t%C3%A9.flist"), (0, "//a//b///"), (0, "/" + "/".join("s" * 17)),
        (0, "/api/flist/.hidden/x%5Cy.flist"), (0, "/alice/.flist"), (0, "/a/b/c/d/e/f/g/h"),
    ]
    for i, (m, p) in enumerate(paths):
        write("router", "%02d" % i, bytes([m]) + p.encode())
    write("router", "link-target", b"\0../../alice/.tag-v1/app.flist")


# ---------------------------------------------------------------- token
SEED = b"0123456789abcdef" * 2
SESSION_KEY = bytes.fromhex("a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0")
STATE = "Abcdefghijklmnopqrstuvwxyz012345"
# the vector of HUB-API.md §12.3 (tests/unit/test_api_auth.c)
VEC_ALICE = ("2CyTRtPjzCiT4cfy9LICCRbi2JIxa_YTd0Z61Qb0mdkPXNLHq6GKO7PPeEu5F7UL6xuXct1QtU8s4pYmc2"
             "_eAlsiYWxpY2UuM2JvdCIsIDE3MDAwMDAwMDBd")


def corpus_token():
    t = lambda mode, payload: bytes([mode]) + (payload.encode() if isinstance(payload, str) else payload)
    write("token", "0-hub-token", t(0, "Bearer " + VEC_ALICE + "\0official-apps"))
    write("token", "0-guest", t(0, "bearer guest-secret\n"))
    write("token", "0-jwt-garbage", t(0, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA\0myorg"))
    write("token", "0-bad-scheme", t(0x80, "Token abc"))
    write("token", "1-token", t(1, '["alice.3bot", 1700000000]'))
    write("token", "1-token-expiry", t(0x31, '["tfofficial.3bot", 1699999000, 1700000100]'))
    write("token", "1-token-escapes", t(0xa1, '["\\u00e9\\"x\\ud83d\\ude00", 1700000000]'))
    claims = {"username": "bob", "exp": 1700003600, "iat": 1700000000, "nbf": 1699999990,
              "scope": ["user:memberof:myorg", "user:name", "a:b:c:d"]}
    write("token", "2-jwt", t(0x12, '{"alg":"ES256","typ":"JWT"}\0' + json.dumps(claims)))
    write("token", "2-jwt-aud", t(2, '{"alg":"ES256"}\0{"username":"x","exp":1700000100,"aud":"a"}'))
    write("token", "2-jwt-none", t(2, '{"alg":"none"}\0{"username":"x","exp":1700000100}'))
    key = hashlib.blake2b(SESSION_KEY, digest_size=32).digest()
    payload = b"alice.3bot|1700003600|00112233445566778899aabbccddeeff"
    mac = hmac.new(key, b"session\0" + payload, hashlib.sha256).digest()
    write("token", "3-cookie", t(3, b64url(payload) + "." + b64url(mac) + "\0official-apps"))
    write("token", "4-cookie", t(4, payload))
    write("token", "4-cookie-state", t(0x14, b"Abcdef|1700000600|ff"))
    write("token", "5-tfc", t(5, '{"doubleName":"alice.3bot","signedAttempt":"AAAA"}\0/callback'))
    write("token", "5-tfc-error", t(5, "user cancelled/denied \u00e9"))
    nonce = base64.b64encode(b"\7" * 24).decode()
    msg = {"signedState": STATE, "appId": "hub.example",
           "data": {"nonce": nonce, "ciphertext": base64.b64encode(b"\0" * 40).decode()}}
    write("token", "6-tfc-signed", t(6, json.dumps(msg)))
    write("token", "7-tfc-plain", t(7, '{"email": {"email": "a@b.c", "verified": true}}'))
    write("token", "7-tfc-unverified", t(7, '{"email": {"email": "a@b.c", "sei": ""}}'))


def corpus_oci():
    """Two layers behind a split byte (fuzz_oci.c), and image configs."""
    def tar(entries):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for kind, name, arg in entries:
                ti = tarfile.TarInfo(name)
                ti.mtime = 1700000000
                body = None
                if kind == "f":
                    ti.size, ti.mode, body = len(arg), 0o644, io.BytesIO(arg)
                elif kind == "d":
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                elif kind == "l":
                    ti.type, ti.linkname = tarfile.SYMTYPE, arg
                elif kind == "h":
                    ti.type, ti.linkname = tarfile.LNKTYPE, arg
                t.addfile(ti, body)
        return buf.getvalue()

    def two(l1, l2, gz=False):
        a, b = tar(l1), tar(l2)
        if gz:
            a, b = gzip.compress(a, mtime=0), gzip.compress(b, mtime=0)
        split = len(a) * 255 // (len(a) + len(b))
        # the split byte puts len(a) bytes (rounded down) in the first layer
        while (len(a) + len(b)) * split // 255 < len(a) and split < 255:
            split += 1
        return bytes([split]) + a + b

    lower = [("d", "etc", None), ("f", "etc/a", b"a"), ("d", "opq", None), ("f", "opq/x", b"x"),
             ("d", "run", None), ("d", "var", None), ("l", "var/run", "../run"),
             ("f", "hl", b"shared"), ("h", "hl2", "hl")]
    write("oci", "whiteouts", two(lower, [("f", "etc/.wh.a", b""), ("f", "opq/new", b"n"),
                                          ("f", "opq/.wh..wh..opq", b""),
                                          ("f", "var/run/pid", b"1"), ("h", "hl3", "hl2")]))
    write("oci", "escapes", two(lower, [("l", "up", "../.."), ("f", "up/x", b"x"),
                                        ("f", "../y", b"y")], gz=True))
    write("oci", "replace", two(lower, [("f", "etc", b"file"), ("d", "hl", None),
                                        ("f", "hl/in", b"i"), ("l", "opq", "/etc")]))
    write("oci", "config", json.dumps({"config": {
        "Entrypoint": ["/e", "x"], "Cmd": ["c"], "Env": ["A=1", "B=", "C=x=y", "A=2"],
        "WorkingDir": "/w", "User": "1:1", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Volumes": {"/v": {}}}}))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for name in ("capnp", "flist", "tar", "multipart", "router", "token", "oci"):
        os.makedirs(os.path.join(OUT, name))
    corpus_capnp()
    corpus_flist()
    corpus_tar()
    corpus_multipart()
    corpus_router()
    corpus_token()
    corpus_oci()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"corpus: {total} bytes")
    if total > 200 * 1024:
        sys.exit("corpus larger than 200 KB")


if __name__ == "__main__":
    main()
