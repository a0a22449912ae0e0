"""End-to-end: the ThreeFold Connect login (HUB-API.md §12.2) against a
local server that plays login.threefold.me with a test key pair, and two API
instances on one directory and one Redis behaving as one (changes, jobs and
web sessions)."""
import base64
import hashlib
import http.server
import json
import os
import struct
import threading
import unittest
import urllib.parse

from hublib import (HUB_TESTDATA, TEST_SEED_HEX, ApiServer, FakeWorker, RedisServer, multipart, run_tests)

# python3-cryptography (deployment/install-deps.sh): required, never skipped
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.poly1305 import Poly1305

SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()

# ---- NaCl crypto_box (Curve25519-XSalsa20-Poly1305), for the fake login
# server's side only: Salsa20 in pure Python (a few hundred bytes). ----

SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _rounds(x):
    def rotl(v, c):
        return ((v << c) & 0xffffffff) | (v >> (32 - c))

    def qr(a, b, c, d):
        x[b] ^= rotl((x[a] + x[d]) & 0xffffffff, 7)
        x[c] ^= rotl((x[b] + x[a]) & 0xffffffff, 9)
        x[d] ^= rotl((x[c] + x[b]) & 0xffffffff, 13)
        x[a] ^= rotl((x[d] + x[c]) & 0xffffffff, 18)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(5, 9, 13, 1); qr(10, 14, 2, 6); qr(15, 3, 7, 11)
        qr(0, 1, 2, 3); qr(5, 6, 7, 4); qr(10, 11, 8, 9); qr(15, 12, 13, 14)


def _state(key, inp):
    k = struct.unpack("<8I", key)
    i = struct.unpack("<4I", inp)
    return [SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], i[0], i[1], i[2], i[3], SIGMA[2],
            k[4], k[5], k[6], k[7], SIGMA[3]]


def hsalsa20(key, nonce16):
    x = _state(key, nonce16)
    _rounds(x)
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def salsa20_stream(key, nonce8, n):
    out = b""
    counter = 0
    while len(out) < n:
        s = _state(key, nonce8 + struct.pack("<Q", counter))
        x = list(s)
        _rounds(x)
        out += struct.pack("<16I", *[(x[i] + s[i]) & 0xffffffff for i in range(16)])
        counter += 1
    return out[:n]


def crypto_box(msg, nonce, their_x_pk, my_x_sk):
    shared = my_x_sk.exchange(their_x_pk)
    k = hsalsa20(shared, b"\0" * 16)
    sub = hsalsa20(k, nonce[:16])
    stream = salsa20_stream(sub, nonce[16:], 32 + len(msg))
    c = bytes(a ^ b for a, b in zip(msg, stream[32:]))
    return Poly1305.generate_tag(stream[:32], c) + c


class FakeLogin:
    """Plays login.threefold.me: GET /api/users/<name> gives the user's
    Ed25519 public key."""

    def __init__(self):
        self.users = {}

    def __enter__(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
                if self.path.startswith("/api/users/") and name in outer.users:
                    body = json.dumps({"doublename": name, "publicKey": outer.users[name]}).encode()
                    self.send_response(200)
                else:
                    body = b'{"message": "not found"}'
                    self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class Login(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.login = FakeLogin().__enter__()
        cls.user_seed = hashlib.sha256(b"alice test key").digest()
        cls.user_key = Ed25519PrivateKey.from_private_bytes(cls.user_seed)
        pk = cls.user_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        cls.login.users["alice.3bot"] = base64.b64encode(pk).decode()
        cls.hub_x = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"hub box key").digest())
        cls.hub_x_pk = cls.hub_x.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)
        priv = base64.b64encode(hashlib.sha256(b"hub box key").digest()).decode()
        cfg = {"authentication": "true", "threebot-seed": TEST_SEED_HEX, "threebot-privatekey": priv,
               "threebot-appid": "hub.test", "threebot-login-url": cls.login.url,
               "session-key": "ab" * 32, "listing-cache-ms": "60000"}
        cls.a = ApiServer(cfg, redis=cls.redis).__enter__()
        # the second instance shares the directory, Redis and configuration
        cls.b = ApiServer(cfg, redis=cls.redis, root=cls.a.root).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.b.__exit__(None, None, None)
        cls.a.__exit__(None, None, None)
        cls.login.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def start(self, api, route="/login"):
        st, h, body = api.request("GET", route, {"Host": "hub.test"})
        self.assertEqual(st, 302)
        loc = h["location"]
        self.assertTrue(loc.startswith(self.login.url + "/?appid=hub.test&publickey="), loc)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
        self.assertEqual(list(urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query).keys()),
                         ["appid", "publickey", "state", "redirecturl", "scope"])
        self.assertEqual(base64.b64decode(q["publickey"][0]), self.hub_x_pk)
        self.assertEqual(q["redirecturl"][0], "/callback_threebot" if route == "/login" else "/callback_token")
        self.assertEqual(q["scope"][0], "{}")
        self.assertRegex(q["state"][0], r"^[A-Za-z0-9]{32}$")
        cookie = h["set-cookie"].split(";")[0]
        return q["state"][0], cookie

    def attempt(self, state, email=None, app="hub.test", tamper=False, user="alice.3bot"):
        plain = json.dumps({"email": email if email is not None else {"email": "a@b.c", "verified": "sig"}})
        nonce = os.urandom(24)
        user_x = X25519PrivateKey.from_private_bytes(hashlib.sha512(self.user_seed).digest()[:32])
        ct = crypto_box(plain.encode(), nonce, X25519PublicKey.from_public_bytes(self.hub_x_pk), user_x)
        msg = json.dumps({"signedState": state, "appId": app, "doubleName": user, "randomRoom": "x",
                          "data": {"nonce": base64.b64encode(nonce).decode(),
                                   "ciphertext": base64.b64encode(ct).decode()}}).encode()
        sm = self.user_key.sign(msg) + msg
        if tamper:
            sm = sm[:70] + bytes([sm[70] ^ 1]) + sm[71:]
        outer = json.dumps({"doubleName": user, "signedAttempt": base64.b64encode(sm).decode()})
        return urllib.parse.quote(outer, safe="")

    def test_web_login_and_shared_session(self):
        state, cookie = self.start(self.a)
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" + self.attempt(state),
                                     {"Cookie": cookie, "Host": "hub.test"})
        self.assertEqual(st, 302, body)
        self.assertEqual(h["location"], "http://hub.test/")
        session = h["set-cookie"].split(";")[0]
        self.assertIn("HttpOnly", h["set-cookie"])
        # the other instance accepts the session (D33)
        for api in (self.a, self.b):
            st, v = api.json("GET", "/api/session", {"Cookie": session})
            self.assertEqual((st, v), (200, {"status": "success", "payload": {"username": "alice.3bot"}}))
        st, v = self.b.json("GET", "/api/session", {"Cookie": session[:-3] + "xyz"})
        self.assertEqual(st, 401)
        # a web session never authorises the API
        st, v = self.b.json("GET", "/api/flist/me", {"Cookie": session})
        self.assertEqual(st, 401)

    def test_token_login(self):
        state, cookie = self.start(self.a, "/token")
        st, h, body = self.a.request("GET", "/callback_token?signedAttempt=" + self.attempt(state),
                                     {"Cookie": cookie, "Host": "hub.test"})
        self.assertEqual(st, 302, body)
        loc = h["location"]
        self.assertTrue(loc.startswith("http://hub.test/token/"), loc)
        token = loc.rsplit("/", 1)[1]
        st, h, body = self.b.request("GET", "/token/" + token)
        self.assertEqual(st, 200)
        self.assertIn(token.encode(), body)
        st, v = self.b.json("GET", "/api/flist/me", {"Authorization": "Bearer " + token})
        self.assertEqual((st, v), (200, {"status": "success", "payload": {"username": "alice.3bot"}}))

    def test_callback_errors(self):
        st, h, body = self.a.request("GET", "/callback_threebot?error=denied%20x")
        self.assertEqual((st, body), (400, b"Authentication failed: denied%20x"))
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        st, h, body = self.a.request("GET", "/callback_threebot")
        self.assertEqual((st, body), (400, b"Invalid request."))  # D25
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=%7Bnot%20json")
        self.assertEqual((st, body), (400, b"Invalid request."))
        state, cookie = self.start(self.a)
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" + self.attempt(state, tamper=True),
                                     {"Cookie": cookie})
        self.assertEqual((st, body), (400, b"Unable to verify state signature, denied."))
        # D26: the state must be the one this login started with
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" + self.attempt("X" * 32),
                                     {"Cookie": cookie})
        self.assertEqual((st, body), (400, b"Invalid state received. Cannot authenticate request!"))
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" + self.attempt(state))
        self.assertEqual(st, 400)  # no state cookie at all
        # D27: an unverified email is refused
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" +
                                     self.attempt(state, email={"email": "a@b.c", "verified": False}),
                                     {"Cookie": cookie})
        self.assertEqual((st, body), (400, b"Email unverified, access denied."))
        # an unknown user at the login server
        st, h, body = self.a.request("GET", "/callback_threebot?signedAttempt=" +
                                     self.attempt(state, user="nobody.3bot"), {"Cookie": cookie})
        self.assertEqual(st, 502)

    def test_itsyou_online_is_gone(self):
        """§12.6: itsyou.online has been shut down; its routes say so (410),
        in both authentication modes, and are in the route table."""
        want = (b"itsyou.online login is not available: itsyou.online has been shut down. "
                b"Log in with ThreeFold Connect (/login), or use an API token (/token).")
        for path in ("/login-iyo", "/_iyo_callback?code=x&state=y", "/login-iyo/"):
            st, h, body = self.a.request("GET", path)
            self.assertEqual((st, body), (410, want), path)
            self.assertEqual(h["content-type"], "text/html; charset=utf-8")
            self.assertEqual(h["access-control-allow-origin"], "*")
        st, h, body = self.a.request("POST", "/login-iyo", {}, b"")
        self.assertEqual(st, 405)
        with RedisServer() as r2, ApiServer({"authentication": "false"}, redis=r2) as off:
            st, h, body = off.request("GET", "/login-iyo")
            self.assertEqual((st, body), (410, want))
            st, h, body = off.request("GET", "/_iyo_callback")
            self.assertEqual((st, body), (410, want))

    def test_two_instances_are_one(self):
        tok = None
        from hublib import api_binary
        rc, out, err = api_binary("token", "bob.3bot", config_path=self.a.conf_path)
        self.assertEqual(rc, 0, err)
        tok = {"Authorization": "Bearer " + out.strip()}
        os.makedirs(os.path.join(self.a.public, "base"), exist_ok=True)
        with open(os.path.join(self.a.public, "base", "x.flist"), "wb") as f:
            f.write(SAMPLE)
        # warm B's caches, change through A, read through B
        self.assertEqual(self.b.request("GET", "/api/flist/bob.3bot")[0], 404)
        st, v = self.a.json("GET", "/api/flist/me/promote/base/x/mine", tok)
        self.assertEqual(st, 200, v)
        st, v = self.b.json("GET", "/api/flist/bob.3bot")
        self.assertEqual([e["name"] for e in v], ["mine.flist"])
        st, v = self.a.json("GET", "/api/flist/me/mine/link/latest", tok)
        self.assertEqual(st, 200)
        st, v = self.b.json("GET", "/api/flist/bob.3bot")
        self.assertEqual([e["name"] for e in v], ["latest.flist", "mine.flist"])
        st, v = self.b.json("GET", "/api/flist/me/latest", tok)
        self.assertEqual(st, 200)
        st, v = self.b.json("DELETE", "/api/flist/me/latest", tok)
        self.assertEqual(st, 200)
        st, v = self.a.json("GET", "/api/flist/bob.3bot")
        self.assertEqual([e["name"] for e in v], ["mine.flist"])
        # a job queued by A is visible through B
        ctype, body = multipart({}, [("file", "j.tar.gz", b"data")])
        st, h, data = self.a.request("POST", "/api/flist/me/upload?async=1", dict(tok, **{"Content-Type": ctype}),
                                     body)
        self.assertEqual(st, 202)
        jid = json.loads(data)["payload"]["job"]
        st, v = self.b.json("GET", "/api/jobs/" + jid)
        self.assertEqual((st, v["payload"]["user"], v["payload"]["state"]), (200, "bob.3bot", "queued"))
        FakeWorker(self.redis).finish(jid, result={"name": "j.flist"})
        st, h, data = self.b.request("GET", "/listen/" + jid)
        self.assertEqual(st, 200)
        self.assertIn(b'"j.flist"', data)


if __name__ == "__main__":
    run_tests()
