"""End-to-end: the authenticated API (HUB-API.md §6.1-§6.8) - success and
error paths of every change, the defects D1-D8/D16/D23/D24 fixed, name
attacks, the authorisation matrix of every write route and readonly mode."""
import base64
import json
import os
import re
import time
import unittest

from hublib import (HUB_TESTDATA, TEST_SEED_ASCII, TEST_SEED_HEX, ApiServer, FakeWorker, RedisServer, api_binary,
                    multipart, run_tests)

SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()

# python3-cryptography (deployment/install-deps.sh): required, never skipped
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hub_token(seed, user, iat):
    """A hub token (§12.3) signed with seed."""
    m = json.dumps([user, iat]).encode()
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(m)
    return base64.urlsafe_b64encode(sig + m).decode()


def jwt_es384(key, claims, alg="ES384"):
    header = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64u(json.dumps(claims).encode())
    der = key.sign(("%s.%s" % (header, payload)).encode(), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    return "%s.%s.%s" % (header, payload, b64u(r.to_bytes(48, "big") + s.to_bytes(48, "big")))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data=SAMPLE):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class Changes(unittest.TestCase):
    """Authentication off: every write acts as Administrator."""

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "false"}, redis=cls.redis).__enter__()
        cls.pub = cls.api.public
        put(os.path.join(cls.pub, "victim", "v.flist"), b"victim")
        os.makedirs(os.path.join(cls.pub, "victim", ".tag-t"))
        put(os.path.join(cls.pub, "..", "..", "outside.flist"), b"outside")

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def setUp(self):
        self.me = os.path.join(self.pub, "Administrator")
        if os.path.isdir(self.me) and not os.path.islink(self.me):
            for root, dirs, files in os.walk(self.me, topdown=False):
                for n in files + dirs:
                    p = os.path.join(root, n)
                    os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        put(os.path.join(self.me, "a.flist"))

    def tearDown(self):
        # nothing outside the caller's repository was changed
        with open(os.path.join(self.pub, "victim", "v.flist"), "rb") as f:
            self.assertEqual(f.read(), b"victim")
        self.assertEqual(os.listdir(os.path.join(self.pub, "victim", ".tag-t")), [])
        with open(os.path.join(self.pub, "..", "..", "outside.flist"), "rb") as f:
            self.assertEqual(f.read(), b"outside")

    def call(self, method, path):
        return self.api.json(method, path)

    def ok(self, method, path):
        st, v = self.call(method, path)
        self.assertEqual((st, v), (200, {"status": "success"}), path)

    def err(self, method, path, status, msg=None):
        st, v = self.call(method, path)
        self.assertEqual(st, status, (path, v))
        self.assertEqual(v["status"], "error")
        if msg is not None:
            self.assertEqual(v["message"], msg, path)
        return v["message"]

    def test_me(self):
        st, v = self.call("GET", "/api/flist/me")
        self.assertEqual((st, v), (200, {"status": "success", "payload": {"username": "Administrator"}}))

    def test_link(self):
        self.ok("GET", "/api/flist/me/a/link/latest")
        self.assertEqual(os.readlink(os.path.join(self.me, "latest.flist")), "a.flist")
        self.ok("GET", "/api/flist/me/a.flist/link/latest")  # replaces the link
        self.err("GET", "/api/flist/me/nothere/link/x", 404, "source not found")
        put(os.path.join(self.me, "file.flist"))
        self.err("GET", "/api/flist/me/a/link/file", 401, "link destination is already a file")
        # D7: link == source, and loops
        self.err("GET", "/api/flist/me/latest/link/latest", 409)
        self.ok("GET", "/api/flist/me/latest/link/l2")
        self.err("GET", "/api/flist/me/l2/link/a", 401)
        os.symlink("l3.flist", os.path.join(self.me, "l4.flist"))
        os.symlink("l4.flist", os.path.join(self.me, "l5.flist"))
        self.err("GET", "/api/flist/me/l5/link/l3", 409)
        self.assertTrue(os.path.islink(os.path.join(self.me, "l5.flist")))

    def test_link_missing_repository(self):
        os.unlink(os.path.join(self.me, "a.flist"))
        os.rmdir(self.me)
        self.err("GET", "/api/flist/me/a/link/b", 404, "user not found")
        self.err("GET", "/api/flist/me/a/rename/b", 404, "user not found")
        self.err("DELETE", "/api/flist/me/a", 404, "user not found")
        # D16: crosslink creates the repository
        self.ok("GET", "/api/flist/me/x/crosslink/victim/v")
        self.assertEqual(os.readlink(os.path.join(self.me, "x.flist")), "../victim/v.flist")

    def test_crosslink(self):
        self.ok("GET", "/api/flist/me/x/crosslink/victim/v")
        self.assertEqual(os.readlink(os.path.join(self.me, "x.flist")), "../victim/v.flist")
        self.err("GET", "/api/flist/me/x/crosslink/nobody/v", 404, "source repository not found")
        self.err("GET", "/api/flist/me/x/crosslink/victim/nope", 404, "source not found")
        self.err("GET", "/api/flist/me/a/crosslink/victim/v", 401, "link destination is already a file")

    def test_crosstag(self):
        self.err("GET", "/api/flist/me/ct/crosstag/victim/none", 404, "source tag not found")
        self.err("GET", "/api/flist/me/ct.flist/crosstag/victim/t", 401, "tag symlink cannot ends with .flist")
        self.err("GET", "/api/flist/me/a/crosstag/victim/t", 401,
                 "there is a .flist file with the same name existing already")
        self.ok("GET", "/api/flist/me/ct/crosstag/victim/t")
        self.assertEqual(os.readlink(os.path.join(self.me, "ct")), "../victim/.tag-t")
        # D2: a cross-tag link may not be named .tag-<x>
        self.err("GET", "/api/flist/me/.tag-mine/crosstag/victim/t", 400)
        # D24: DELETE removes the cross-tag link
        self.err("DELETE", "/api/flist/me/ct/crosstag/victim/other", 409)
        self.ok("DELETE", "/api/flist/me/ct/crosstag/victim/t")
        self.assertFalse(os.path.lexists(os.path.join(self.me, "ct")))
        self.err("DELETE", "/api/flist/me/ct/crosstag/victim/t", 404, "source not found")

    def test_tags(self):
        self.ok("GET", "/api/flist/me/v1/e/tag/victim/v")
        self.assertEqual(os.readlink(os.path.join(self.me, ".tag-v1", "e.flist")), "../../victim/v.flist")
        self.ok("GET", "/api/flist/me/v1/e/tag/Administrator/a")  # replaces the entry
        self.err("GET", "/api/flist/me/v1/e/tag/nobody/v", 404, "source repository not found")
        self.err("GET", "/api/flist/me/v1/e/tag/victim/zz", 404, "source not found")
        self.err("DELETE", "/api/flist/me/v1/nope/tag/victim/v", 404, "target not found on this tag")
        self.err("DELETE", "/api/flist/me/v2/e/tag/victim/v", 404, "target not found on this tag")
        # D8: the entry points elsewhere -> 409; the source may be gone
        self.err("DELETE", "/api/flist/me/v1/e/tag/victim/v", 409)
        os.unlink(os.path.join(self.me, "a.flist"))
        self.ok("DELETE", "/api/flist/me/v1/e/tag/Administrator/a")
        self.assertFalse(os.path.exists(os.path.join(self.me, ".tag-v1")))  # empty tag removed

    def test_tag_directory_link_is_not_followed(self):
        # D2: .tag-v1 is a link into the victim's tag directory
        os.symlink("../victim/.tag-t", os.path.join(self.me, ".tag-v1"))
        self.err("GET", "/api/flist/me/v1/e/tag/victim/v", 409)
        self.err("DELETE", "/api/flist/me/v1/e/tag/victim/v", 409)

    def test_rename(self):
        self.ok("GET", "/api/flist/me/a/rename/b")
        self.assertTrue(os.path.isfile(os.path.join(self.me, "b.flist")))
        self.err("GET", "/api/flist/me/a/rename/b", 404, "source not found")
        put(os.path.join(self.me, "c.flist"), b"c")
        self.err("GET", "/api/flist/me/b/rename/c", 409)  # D6
        with open(os.path.join(self.me, "c.flist"), "rb") as f:
            self.assertEqual(f.read(), b"c")
        self.ok("GET", "/api/flist/me/b/rename/b")

    def test_delete(self):
        os.symlink("../victim/.tag-t", os.path.join(self.me, "ct"))
        self.ok("DELETE", "/api/flist/me/a")
        self.assertFalse(os.path.exists(os.path.join(self.me, "a.flist")))
        self.ok("DELETE", "/api/flist/me/ct")
        self.assertFalse(os.path.lexists(os.path.join(self.me, "ct")))
        self.err("DELETE", "/api/flist/me/a", 404, "source not found")

    def test_get_own(self):
        st, v = self.call("GET", "/api/flist/me/a")
        with open(os.path.join(HUB_TESTDATA, "sample.find.json")) as f:
            self.assertEqual(v, json.load(f)["response"])
        st, v = self.call("INFO", "/api/flist/me/a")
        self.assertEqual(v["name"], "a.flist")
        self.err("GET", "/api/flist/me/nothere", 404, "source not found")

    def test_promote(self):
        st, v = self.call("GET", "/api/flist/me/promote/victim/v/copy")
        self.assertEqual((st, v), (200, {"status": "success", "payload": {
            "source": {"username": "victim", "filename": "v.flist"},
            "destination": {"username": "Administrator", "filename": "copy.flist"}}}))
        with open(os.path.join(self.me, "copy.flist"), "rb") as f:
            self.assertEqual(f.read(), b"victim")
        self.err("GET", "/api/flist/me/promote/nobody/v/copy", 404, "user not found")
        self.err("GET", "/api/flist/me/promote/victim/zz/copy", 404, "source not found")
        # D1: promoting onto a (cross-)link replaces the link, never writes through it
        os.symlink("../victim/v.flist", os.path.join(self.me, "evil.flist"))
        st, v = self.call("GET", "/api/flist/me/promote/Administrator/a/evil")
        self.assertEqual(st, 200)
        self.assertFalse(os.path.islink(os.path.join(self.me, "evil.flist")))
        with open(os.path.join(self.me, "evil.flist"), "rb") as f:
            self.assertEqual(f.read(), SAMPLE)

    def test_repository_link_is_not_followed(self):
        # the caller's repository itself is a link to another repository
        for n in os.listdir(self.me):
            os.unlink(os.path.join(self.me, n))
        os.rmdir(self.me)
        os.symlink("victim", self.me)
        try:
            self.err("GET", "/api/flist/me/v/link/x", 409)
            self.err("GET", "/api/flist/me/x/crosslink/victim/v", 409)
            self.err("GET", "/api/flist/me/promote/victim/v/x", 409)
            self.err("DELETE", "/api/flist/me/v", 409)
            self.err("GET", "/api/flist/me/v/rename/w", 409)
        finally:
            os.unlink(self.me)

    def test_name_attacks(self):
        bad = ["..", "%2e%2e", "..%2f..%2fetc", "a%2fb", "a%5cb", "%00", "a%00b", "a%01b", "a%7fb", "a%c2%85b",
               ".hidden", "%ff", "x" * 300]
        for name in bad:
            for path in ["/api/flist/me/%s/link/x" % name, "/api/flist/me/a/link/%s" % name,
                         "/api/flist/me/x/crosslink/%s/v" % name, "/api/flist/me/a/rename/%s" % name,
                         "/api/flist/me/promote/victim/v/%s" % name, "/api/flist/me/%s/x/tag/victim/v" % name,
                         "/api/flist/%s/x/light" % name, "/%s/x.flist" % name]:
                st, v = self.call("GET", path)
                self.assertEqual(st, 400, (path, v))
                self.assertEqual(v["status"], "error")
            st, v = self.call("DELETE", "/api/flist/me/" + name)
            self.assertEqual(st, 400, name)
        # a literal (unencoded) ".." is a path segment clients normalise; ours
        # is refused too
        raw = self.api.raw(b"GET /api/flist/../x.flist HTTP/1.0\r\n\r\n")
        self.assertIn(b" 400 ", raw.split(b"\r\n")[0])
        # "me" and other route words cannot become a repository (D23)
        self.assertEqual(os.listdir(self.pub).count("me"), 0)


    def test_name_attacks_on_every_route(self):
        """Every route of the route table (`flist-hub-api routes`) with a
        name variable refuses each bad name in each variable with 400 and
        an error envelope, whatever the other variables hold; nothing
        outside the repository changes (tearDown)."""
        bad = ["%2e%2e", "..%2f..%2fx", "a%2fb", "a%5cb", "a%00b", "a%01b", "a%1bb", "a%7fb", ".hidden",
               ".tag-x", "%ff", "x" * 300]
        rc, out, err = api_binary("routes")
        self.assertEqual(rc, 0, err)
        checked = 0
        for line in out.splitlines():
            methods, pattern, _auth = line.rsplit(" ", 2)
            names = re.findall(r"<(\w+)>", pattern)
            if not names or names[0] in ("id", "token", "file"):
                continue  # job ids, tokens and static files are not names (404 when unknown)
            if pattern in ("/<repo>", "/<repo>/tags/<tag>", "/<repo>/<name>.md"):
                continue  # web pages: a 404 page for a name that cannot exist (test_web.py)
            for m in methods.split(", "):
                if m in ("HEAD", "OPTIONS"):
                    continue
                for var in names:
                    for b in bad:
                        path = pattern
                        for other in names:
                            path = path.replace("<%s>" % other, b if other == var else "a", 1)
                        body = b'["victim/v.flist", "Administrator/a.flist"]' if m == "POST" else None
                        st, v = self.api.json(m, path, None, body)
                        self.assertEqual(st, 400, (m, path, v))
                        self.assertEqual(v["status"], "error", (m, path))
                        checked += 1
        self.assertGreater(checked, 500)


class AuthMatrix(unittest.TestCase):
    """Every write route against every way a request can fail to
    authenticate, and the ways it may act for another repository."""

    WRITES = [
        ("GET", "/api/flist/me"),
        ("GET", "/api/flist/me/a"), ("DELETE", "/api/flist/me/a"), ("INFO", "/api/flist/me/a"),
        ("GET", "/api/flist/me/a/link/b"),
        ("GET", "/api/flist/me/b/crosslink/official-apps/base"),
        ("GET", "/api/flist/me/ct/crosstag/official-apps/v1"),
        ("DELETE", "/api/flist/me/ct/crosstag/official-apps/v1"),
        ("GET", "/api/flist/me/v1/e/tag/official-apps/base"),
        ("DELETE", "/api/flist/me/v1/e/tag/official-apps/base"),
        ("GET", "/api/flist/me/a/rename/b"),
        ("GET", "/api/flist/me/promote/official-apps/base/c"),
        ("POST", "/api/flist/me/upload"), ("POST", "/api/flist/me/upload-flist"),
        ("POST", "/api/flist/me/merge/m"), ("POST", "/api/flist/me/docker"),
    ]

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.jwt_key = ec.generate_private_key(ec.SECP384R1())
        cls.pem = cls.jwt_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        cls.api = ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX,
                             "threebot-users-map": "official-apps=tfofficial.3bot",
                             "guest-token": "guest-secret", "token-max-age": "3600",
                             "jwt-public-key": "", "jwt-algorithm": "ES384"}, redis=cls.redis)
        # the JWT key file lives in the api's own root
        import tempfile
        cls.keydir = tempfile.mkdtemp()
        keyfile = os.path.join(cls.keydir, "jwt.pem")
        with open(keyfile, "wb") as f:
            f.write(cls.pem)
        cls.api.config["jwt-public-key"] = keyfile
        cls.api.__enter__()
        put(os.path.join(cls.api.public, "official-apps", "base.flist"))
        os.makedirs(os.path.join(cls.api.public, "official-apps", ".tag-v1"))

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def check_all(self, headers, status, message):
        for method, path in self.WRITES:
            st, h, body = self.api.request(method, path, headers, b"" if method == "POST" else None)
            self.assertEqual(st, status, (method, path, headers, body))
            self.assertEqual(json.loads(body), {"message": message, "status": "error"}, (method, path))

    def test_vector_token_is_accepted(self):
        # HUB-API.md §12.3: minted by the original; old tokens keep working
        # when token-max-age is 0 (here it is 3600, so it is expired)
        tok = ("2CyTRtPjzCiT4cfy9LICCRbi2JIxa_YTd0Z61Qb0mdkPXNLHq6GKO7PPeEu5F7UL6xuXct1QtU8s4pYmc2_eAlsiYWxpY2Uu"
               "M2JvdCIsIDE3MDAwMDAwMDBd")
        self.assertEqual(hub_token(TEST_SEED_ASCII, "alice.3bot", 1700000000), tok)
        st, h, body = self.api.request("GET", "/api/flist/me", {"Authorization": "Bearer " + tok})
        self.assertEqual((st, json.loads(body)), (401, {"message": "token expired", "status": "error"}))

    def test_refusals(self):
        now = int(time.time())
        self.check_all({}, 401, "no authorization provided")
        self.check_all({"Authorization": ""}, 401, "no authorization provided")
        good = hub_token(TEST_SEED_ASCII, "alice.3bot", now)
        self.check_all({"Authorization": good}, 400, "invalid authorization header")
        self.check_all({"Authorization": "Bearer garbage"}, 401, "invalid signature")
        forged = hub_token(b"x" * 32, "alice.3bot", now)
        self.check_all({"Authorization": "Bearer " + forged}, 401, "invalid signature")
        old = hub_token(TEST_SEED_ASCII, "alice.3bot", now - 7200)
        self.check_all({"Authorization": "Bearer " + old}, 401, "token expired")
        # JWTs: expired, alg none, alg confusion (HS256 keyed with the PEM)
        expired = jwt_es384(self.jwt_key, {"username": "alice", "exp": now - 3600})
        self.check_all({"Authorization": "Bearer " + expired}, 403, "invalid token")
        none = b64u(b'{"alg":"none","typ":"JWT"}') + "." + b64u(json.dumps(
            {"username": "alice", "exp": now + 600}).encode()) + "."
        self.check_all({"Authorization": "Bearer " + none}, 403, "invalid token")
        import hmac, hashlib
        h = b64u(b'{"alg":"HS256","typ":"JWT"}') + "." + b64u(json.dumps(
            {"username": "alice", "exp": now + 600}).encode())
        sig = b64u(hmac.new(self.pem, h.encode(), hashlib.sha256).digest())
        self.check_all({"Authorization": "Bearer %s.%s" % (h, sig)}, 403, "invalid token")
        self.check_all({"Authorization": "token a.b"}, 401, "could not authenticate")

    def test_identities(self):
        now = int(time.time())

        def me(headers):
            st, h, body = self.api.request("GET", "/api/flist/me", headers)
            self.assertEqual(st, 200, body)
            return json.loads(body)["payload"]["username"]

        tf = hub_token(TEST_SEED_ASCII, "tfofficial.3bot", now)
        alice = hub_token(TEST_SEED_ASCII, "alice.3bot", now)
        self.assertEqual(me({"Authorization": "Bearer " + alice}), "alice.3bot")
        self.assertEqual(me({"Authorization": "bearer " + alice}), "alice.3bot")
        # active-user allowed (virtual user mapped to the token's user) and refused
        self.assertEqual(me({"Authorization": "Bearer " + tf, "Cookie": "active-user=official-apps"}),
                         "official-apps")
        self.assertEqual(me({"Authorization": "Bearer " + alice, "Cookie": "active-user=official-apps"}),
                         "alice.3bot")
        # guest token (D30: no dot needed)
        self.assertEqual(me({"Authorization": "Bearer guest-secret"}), "guest")
        # JWT with organisations
        jwt = jwt_es384(self.jwt_key, {"username": "carol", "exp": now + 600, "scope": ["user:memberof:org1"]})
        self.assertEqual(me({"Authorization": "Bearer " + jwt}), "carol")
        self.assertEqual(me({"Authorization": "Bearer " + jwt, "Cookie": "active-user=org1"}), "org1")
        self.assertEqual(me({"Authorization": "Bearer " + jwt, "Cookie": "active-user=official-apps"}), "carol")
        # another user's repository: alice's write lands in alice's repository only
        st, h, body = self.api.request("GET", "/api/flist/me/promote/official-apps/base/mine",
                                       {"Authorization": "Bearer " + alice, "Cookie": "active-user=official-apps"})
        self.assertEqual(st, 200)
        self.assertTrue(os.path.isfile(os.path.join(self.api.public, "alice.3bot", "mine.flist")))
        self.assertFalse(os.path.exists(os.path.join(self.api.public, "official-apps", "mine.flist")))
        # INFO on /api/flist/me/<name> is authenticated (D23)
        st, h, body = self.api.request("INFO", "/api/flist/me/mine")
        self.assertEqual(st, 401)

    def test_readonly(self):
        with RedisServer() as r2, ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX,
                                             "readonly": "true"}, redis=r2) as ro:
            rc, tok, err = api_binary("token", "alice.3bot", config_path=ro.conf_path)
            self.assertEqual(rc, 0, err)
            for method, path in self.WRITES:
                for hdrs in ({}, {"Authorization": "Bearer " + tok.strip()}):
                    st, h, body = ro.request(method, path, hdrs, b"" if method == "POST" else None)
                    self.assertEqual((st, json.loads(body)), (400, {"message": "readonly mode", "status": "error"}))
            # public routes still work
            self.assertEqual(ro.request("GET", "/api/repositories")[0], 200)


class ActiveUserMatrix(unittest.TestCase):
    """HUB-API.md §12.5 on every write route of the route table
    (`flist-hub-api routes`, auth "bearer"): the hub token of alice.3bot
    with `active-user=alice-apps` (a virtual user mapped to alice.3bot)
    acts on alice-apps; with a cookie naming a repository alice may not
    act for (another real user, a virtual user mapped to someone else)
    it acts as alice.3bot herself. Every request runs on fresh, identical
    fixtures in every repository except for the content of a.flist (A in
    the repository that must be acted on, B elsewhere, so reads show which
    one was used), and every other repository is compared byte for byte
    (names, symlink targets, content hashes) before and after."""

    A = read(os.path.join(HUB_TESTDATA, "a.flist"))
    B = read(os.path.join(HUB_TESTDATA, "b.flist"))
    USERS = ["alice.3bot", "alice-apps", "bob.3bot", "official-apps", "tfofficial.3bot"]
    MERGE = b'["pub/base"]'

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "true", "threebot-seed": TEST_SEED_HEX, "token-max-age": "0",
                             "threebot-users-map": "official-apps=tfofficial.3bot, alice-apps=alice.3bot"},
                            redis=cls.redis).__enter__()
        cls.token = hub_token(TEST_SEED_ASCII, "alice.3bot", int(time.time()))

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    # ---- fixtures and snapshots ----

    def reset(self, acting):
        """Fresh repositories: pub (the source of links, tags, promote and
        merge) and every user repository with a.flist, a cross-tag link ct
        and a tag entry .tag-v1/e.flist; a.flist is A in `acting`, B elsewhere."""
        import shutil
        pub = self.api.public
        for n in os.listdir(pub):  # the api holds the users directory open: empty it, never remove it
            p = os.path.join(pub, n)
            os.unlink(p) if os.path.islink(p) or not os.path.isdir(p) else shutil.rmtree(p)
        put(os.path.join(pub, "pub", "base.flist"))
        put(os.path.join(pub, "pub", ".tag-v1", "x.flist"), b"tagged")
        for u in self.USERS:
            d = os.path.join(pub, u)
            put(os.path.join(d, "a.flist"), self.A if u == acting else self.B)
            os.symlink("../pub/.tag-v1", os.path.join(d, "ct"))
            os.makedirs(os.path.join(d, ".tag-v1"))
            os.symlink("../../pub/base.flist", os.path.join(d, ".tag-v1", "e.flist"))
            os.symlink("../../pub/base.flist", os.path.join(d, ".tag-v1", "keep.flist"))
        self.redis.cmd("DEL", "hub:jobs")

    def snapshot(self, skip):
        """{relative path: ("d",) | ("l", target) | ("f", sha256)} of the whole
        public tree (links never followed) except the repository `skip`."""
        import hashlib
        pub = self.api.public
        snap = {}
        for root, dirs, files in os.walk(pub):
            rel_root = os.path.relpath(root, pub)
            if rel_root == skip or rel_root.startswith(skip + os.sep):
                dirs[:] = []
                continue
            for n in dirs + files:
                p = os.path.join(root, n)
                rel = os.path.relpath(p, pub)
                if rel == skip:
                    continue
                if os.path.islink(p):
                    snap[rel] = ("l", os.readlink(p))
                elif os.path.isdir(p):
                    snap[rel] = ("d",)
                else:
                    snap[rel] = ("f", hashlib.sha256(read(p)).hexdigest())
        return snap

    # ---- the expected effect of each route on the acting repository ----

    def job(self, user):
        """The one job queued since reset: its user and repository are `user`."""
        ids = FakeWorker(self.redis).queued()
        self.assertEqual(len(ids), 1, ids)
        job = FakeWorker(self.redis).job(ids[0])
        self.assertEqual(job["user"], user)
        inp = json.loads(job["input"])
        self.assertEqual(inp["repository"], user)
        if "file" in inp:
            os.unlink(os.path.join(self.api.upload_dir, inp["file"]))
        return job, inp

    def routes(self):
        """(method, pattern, path, headers, body, check(status, reply, dir, user))
        for every write route; fails on a route this matrix does not know."""
        import hashlib
        A, pub = self.A, self.api.public
        find_a = json.loads(read(os.path.join(HUB_TESTDATA, "a.find.json")))["response"]
        ok = {"status": "success"}

        def me(st, v, d, u):
            self.assertEqual((st, v), (200, {"status": "success", "payload": {"username": u}}))

        def get(st, v, d, u):
            self.assertEqual((st, v), (200, find_a))

        def info(st, v, d, u):
            self.assertEqual((st, v["name"], v["md5"]), (200, "a.flist", hashlib.md5(A).hexdigest()))

        def delete(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertFalse(os.path.lexists(os.path.join(d, "a.flist")))

        def link(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertEqual(os.readlink(os.path.join(d, "b.flist")), "a.flist")

        def crosslink(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertEqual(os.readlink(os.path.join(d, "b.flist")), "../pub/base.flist")

        def crosstag(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertEqual(os.readlink(os.path.join(d, "ct2")), "../pub/.tag-v1")

        def crosstag_del(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertFalse(os.path.lexists(os.path.join(d, "ct")))

        def tag(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertEqual(os.readlink(os.path.join(d, ".tag-v2", "e.flist")), "../../pub/base.flist")

        def tag_del(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertEqual(sorted(os.listdir(os.path.join(d, ".tag-v1"))), ["keep.flist"])

        def rename(st, v, d, u):
            self.assertEqual((st, v), (200, ok))
            self.assertFalse(os.path.lexists(os.path.join(d, "a.flist")))
            with open(os.path.join(d, "b.flist"), "rb") as f:
                self.assertEqual(f.read(), A)

        def promote(st, v, d, u):
            self.assertEqual((st, v), (200, {"status": "success", "payload": {
                "source": {"username": "pub", "filename": "base.flist"},
                "destination": {"username": u, "filename": "c.flist"}}}))
            self.assertFalse(os.path.islink(os.path.join(d, "c.flist")))
            with open(os.path.join(d, "c.flist"), "rb") as f:
                self.assertEqual(f.read(), SAMPLE)

        def queued(kind):
            def check(st, v, d, u):
                self.assertEqual((st, v["status"]), (202, "success"), v)
                job, inp = self.job(u)
                self.assertEqual(job["type"], kind)
            return check

        def merge(st, v, d, u):
            queued("merge")(st, v, d, u)
            self.assertEqual(self.job(u)[1], {"sources": ["pub/base.flist"], "name": "m.flist", "repository": u})

        def docker(st, v, d, u):
            queued("docker-convert")(st, v, d, u)
            self.assertEqual(self.job(u)[1], {"image": "ubuntu:22.04", "name": "ubuntu-22.04.flist",
                                              "repository": u})

        up_ctype, up_body = multipart({}, [("file", "t.tar.gz", read(os.path.join(HUB_TESTDATA, "tree.tar.gz")))])
        fl_ctype, fl_body = multipart({}, [("file", "f.flist", SAMPLE)])
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        table = {
            ("GET", "/api/flist/me"): ("/api/flist/me", {}, None, me),
            ("GET", "/api/flist/me/<name>"): ("/api/flist/me/a", {}, None, get),
            ("INFO", "/api/flist/me/<name>"): ("/api/flist/me/a", {}, None, info),
            ("DELETE", "/api/flist/me/<name>"): ("/api/flist/me/a", {}, None, delete),
            ("GET", "/api/flist/me/<source>/link/<linkname>"): ("/api/flist/me/a/link/b", {}, None, link),
            ("GET", "/api/flist/me/<linkname>/crosslink/<repo>/<sourcename>"):
                ("/api/flist/me/b/crosslink/pub/base", {}, None, crosslink),
            ("GET", "/api/flist/me/<linkname>/crosstag/<repo>/<tag>"):
                ("/api/flist/me/ct2/crosstag/pub/v1", {}, None, crosstag),
            ("DELETE", "/api/flist/me/<linkname>/crosstag/<repo>/<tag>"):
                ("/api/flist/me/ct/crosstag/pub/v1", {}, None, crosstag_del),
            ("GET", "/api/flist/me/<tag>/<linkname>/tag/<repo>/<sourcename>"):
                ("/api/flist/me/v2/e/tag/pub/base", {}, None, tag),
            ("DELETE", "/api/flist/me/<tag>/<linkname>/tag/<repo>/<sourcename>"):
                ("/api/flist/me/v1/e/tag/pub/base", {}, None, tag_del),
            ("GET", "/api/flist/me/<source>/rename/<destination>"): ("/api/flist/me/a/rename/b", {}, None, rename),
            ("GET", "/api/flist/me/promote/<repo>/<sourcename>/<localname>"):
                ("/api/flist/me/promote/pub/base/c", {}, None, promote),
            ("POST", "/api/flist/me/upload"):
                ("/api/flist/me/upload?async=1", {"Content-Type": up_ctype}, up_body, queued("upload")),
            ("POST", "/api/flist/me/upload-flist"):
                ("/api/flist/me/upload-flist?async=1", {"Content-Type": fl_ctype}, fl_body, queued("upload-flist")),
            ("POST", "/api/flist/me/merge/<target>"):
                ("/api/flist/me/merge/m?async=1", {"Content-Type": "application/json"}, self.MERGE, merge),
            ("POST", "/api/flist/me/docker"):
                ("/api/flist/me/docker?async=1", form, b"image=ubuntu%3A22.04", docker),
        }
        rc, out, err = api_binary("routes")
        self.assertEqual(rc, 0, err)
        seen = []
        for line in out.splitlines():
            methods, pattern, auth = line.rsplit(" ", 2)
            if auth != "bearer":
                continue
            for m in methods.split(", "):
                if m in ("HEAD", "OPTIONS"):
                    continue
                self.assertIn((m, pattern), table, "a write route this matrix does not cover")
                seen.append((m, pattern) + table[(m, pattern)])
        self.assertEqual(sorted(k[:2] for k in seen), sorted(table))  # 16 routes, none stale
        return seen

    def run_matrix(self, cookie, acting):
        for m, pattern, path, hdrs, body, check in self.routes():
            with self.subTest(method=m, route=pattern, cookie=cookie):
                self.reset(acting)
                before = self.snapshot(acting)
                h = {"Authorization": "Bearer " + self.token, "Cookie": "active-user=" + cookie}
                h.update(hdrs)
                st, v = self.api.json(m, path, h, body)
                self.assertNotIn(st, (401, 403), v)
                check(st, v, os.path.join(self.api.public, acting), acting)
                self.assertEqual(self.snapshot(acting), before, "another repository changed")

    def test_virtual_user_mapped_to_alice(self):
        self.run_matrix("alice-apps", "alice-apps")

    def test_another_real_user_acts_as_alice(self):
        self.run_matrix("bob.3bot", "alice.3bot")

    def test_virtual_user_of_someone_else_acts_as_alice(self):
        self.run_matrix("official-apps", "alice.3bot")
        self.run_matrix("tfofficial.3bot", "alice.3bot")


if __name__ == "__main__":
    run_tests()
