#!/usr/bin/env python3
"""The original hub's web form posts replayed unchanged against a whole hub
(issue 10 follow-up, HUB-API.md §9.2-§9.5, §12.8): POST /upload,
/upload-flist, /merge and /docker-convert with the original's field names
(file, flists[], name, docker-input) and encodings (multipart/form-data and
application/x-www-form-urlencoded, as its HTML forms and curl send them),
by a client holding a real web session (a ThreeFold Connect login against
a local login site), without our X-CSRF-Token header. Asserted: statuses,
the F-JSON of the web upload, the "Well done" and "Oops: ..." pages, that
the jobs run and the flists are published; and the cross-site check of
such posts (web_session.c): a post from another site is refused with 403
and queues nothing, a same-origin post or a non-browser client is served.

Needs the Python module cryptography (deployment/install-deps.sh) for the
login site; missing: skipped with a message, or a failure when CI=true."""
import json
import os
import re
import sys
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import TEST_SEED_HEX, multipart, run_tests  # noqa: E402
from test_worker import PUBLIC_BACKEND, flist_cmd, make_tar  # noqa: E402
from test_worker_api import HubCase  # noqa: E402

USER = "alice.3bot"


def prerequisite():
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return "python3-cryptography is not installed (deployment/install-deps.sh)"
    return None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def urlencode(pairs):
    return urllib.parse.urlencode(pairs).encode()


class WebCompat(HubCase):
    @classmethod
    def setUpClass(cls):
        missing = prerequisite()
        if missing:
            if os.environ.get("CI") == "true":
                raise AssertionError("web compat tests cannot run under CI=true: " + missing)
            raise unittest.SkipTest(missing)
        import base64
        from test_web_browser import FakeLoginSite
        cls.login = FakeLoginSite(USER).__enter__()
        cls.CONFIG = {
            "authentication": "true", "threebot-seed": TEST_SEED_HEX,
            "threebot-privatekey": base64.b64encode(cls.login.hub_secret).decode(),
            "threebot-appid": "hub.test", "threebot-login-url": cls.login.url, "session-key": "ab" * 32,
        }
        try:
            super().setUpClass()
        except BaseException:
            cls.login.__exit__(None, None, None)
            raise
        cls.base = "http://127.0.0.1:%d" % cls.api.port
        cls.login.hub = cls.base
        cls.session = cls.log_in()

    @classmethod
    def tearDownClass(cls):
        cls.login.__exit__(None, None, None)
        super().tearDownClass()

    @classmethod
    def log_in(cls):
        """The hub-session cookie of a ThreeFold Connect login, done as a
        browser does it: /login, the login site, /callback_threebot."""
        st, h, _ = cls.api.request("GET", "/login")
        assert st == 302, st
        state_cookie = h["set-cookie"].split(";")[0]
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(h["location"], timeout=10)
            raise AssertionError("the login site did not redirect")
        except urllib.error.HTTPError as e:
            assert e.code == 302, e.code
            back = e.headers["Location"]
        u = urllib.parse.urlsplit(back)
        st, h, body = cls.api.request("GET", u.path + "?" + u.query, {"Cookie": state_cookie})
        assert st == 302, (st, body)
        m = re.search(r"hub-session=([^;]+)", h["set-cookie"])
        assert m, h
        return "hub-session=" + m.group(1)

    def post(self, route, ctype, body, extra=None, session=True):
        h = {"Content-Type": ctype}
        if session:
            h["Cookie"] = self.session
        h.update(extra or {})
        return self.api.request("POST", route, h, body, timeout=120)

    def published(self, name):
        return os.path.join(self.api.public, USER, name)

    def oops(self, text):
        m = re.search(r'<p id="form-oops" class="error oops" role="alert">([^<]*)</p>', text)
        return m.group(1) if m else None

    def queued_jobs(self):
        st, _, body = self.api.request("GET", "/metrics")
        total = 0
        for line in body.decode().splitlines():
            if line.startswith("hub_jobs_queued_total"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def web_upload(self, filename, data):
        """POST /upload as the original's upload page's XHR sends it."""
        ctype, body = multipart({}, [("file", filename, data)])
        return self.post("/upload", ctype, body, {"Origin": self.base, "Sec-Fetch-Site": "same-origin",
                                                  "X-Requested-With": "XMLHttpRequest"})

    def test_session_is_needed(self):
        ctype, body = multipart({}, [("file", "a.tar.gz", b"x")])
        st, h, _ = self.post("/upload", ctype, body, session=False)
        self.assertEqual(st, 302)
        self.assertTrue(h["location"].endswith("/login-method"), h["location"])
        self.assertEqual(os.listdir(self.api.upload_dir), [])

    def test_upload(self):
        data = make_tar([("etc", None), ("etc/hostname", b"box\n"), ("bin/sh", ("link", "/bin/busybox"))])
        st, h, reply = self.web_upload("web compat.tar.gz", data)
        self.assertEqual(st, 200, reply)
        self.assertEqual(h["content-type"], "application/json")
        v = json.loads(reply)
        self.assertEqual(list(v), ["jobid", "status"])
        self.assertEqual(v["status"], "success")
        self.assertRegex(v["jobid"], r"^[0-9a-f-]{36}$")
        # the job runs, its events are on /listen, the flist is published
        job = self.wait_job(v["jobid"])
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(job["result"]["name"], "web_compat.flist")
        st, _, events = self.api.request("GET", "/listen/" + v["jobid"])
        self.assertEqual(st, 200)
        self.assertIn(b"web_compat.flist", events)
        self.assertTrue(os.path.isfile(self.published("web_compat.flist")))
        tree = self.fetch(self.published("web_compat.flist"))
        self.assertEqual(tree["/etc/hostname"], b"box\n")
        self.assertEqual(tree["/bin/sh"], ("link", "/bin/busybox"))
        # errors: 200 with F-JSON, the messages of §6.9, nothing left behind
        for filename, msg in [("notes.txt", "this file is not allowed"), ("", "no file selected")]:
            st, _, reply = self.web_upload(filename, b"text")
            self.assertEqual(st, 200, reply)
            self.assertEqual(reply, json.dumps({"message": msg, "status": "error"},
                                               separators=(",", ":")).encode() + b"\n")
        ctype, body = multipart({"other": "x"}, [])
        st, _, reply = self.post("/upload", ctype, body)
        self.assertEqual((st, json.loads(reply)), (200, {"message": "no file found", "status": "error"}))
        self.assertEqual(os.listdir(self.api.upload_dir), [])

    def test_upload_flist(self):
        work = os.path.join(self.api.root, "compat")
        os.makedirs(work, exist_ok=True)
        arch, flist = os.path.join(work, "sm.tar.gz"), os.path.join(work, "selfmade.flist")
        with open(arch, "wb") as f:
            f.write(make_tar([("hello", b"hello world")]))
        flist_cmd("create", "--backend", self.backend_url(), arch, flist)
        with open(flist, "rb") as f:
            data = f.read()
        # as curl -b <session> -F file=@selfmade.flist sends it: no Origin
        ctype, body = multipart({}, [("file", "selfmade.flist", data)])
        st, h, reply = self.post("/upload-flist", ctype, body, {"User-Agent": "curl/7.88.1"})
        self.assertEqual(st, 200, reply[:300])
        text = reply.decode()
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn("Well done", text)
        self.assertIn('Your flist <a id="done-file" href="/%s/selfmade.flist.md">selfmade.flist</a> is available.'
                      % USER, text)
        self.assertIn('value="http://hub.test/%s/selfmade.flist"' % USER, text)
        self.assertIn("zdb://%s:%d" % (PUBLIC_BACKEND["host"], PUBLIC_BACKEND["port"]), text)
        # published with its content in the backend (the hub writes its
        # public backend into the copy's metadata)
        self.assertEqual(self.fetch(self.published("selfmade.flist"))["/hello"], b"hello world")
        # errors: the form again with "Oops: <message>", 200
        for name, content, msg in [
            ("selfmade.tar.gz", data, "this file is not allowed"),
            ("", data, "no file selected"),
            ("broken.flist", b"not an flist", None),
        ]:
            ctype, body = multipart({}, [("file", name, content)])
            st, _, reply = self.post("/upload-flist", ctype, body)
            self.assertEqual(st, 200, reply[:300])
            text = reply.decode()
            self.assertIn('data-page="upload-flist"', text)
            got = self.oops(text)
            self.assertIsNotNone(got, text)
            if msg:
                self.assertEqual(got, "Oops: " + msg)
            else:
                self.assertTrue(got.startswith("Oops: ") and len(got) > 6, got)
        self.assertFalse(os.path.exists(self.published("broken.flist")))
        self.assertEqual(os.listdir(self.api.upload_dir), [])

    def test_merge(self):
        for name, entries in [("mone.tar.gz", [("one", b"1")]), ("mtwo.tar.gz", [("two", b"22")])]:
            st, _, reply = self.web_upload(name, make_tar(entries))
            self.assertEqual(st, 200, reply)
            self.assertEqual(self.wait_job(json.loads(reply)["jobid"])["state"], "done")
        # the original's merge form: urlencoded, flists[] repeated, name
        body = urlencode([("flists[]", USER + "/mone.flist"), ("flists[]", USER + "/mtwo"), ("name", "both")])
        st, _, reply = self.post("/merge", "application/x-www-form-urlencoded", body,
                                 {"Origin": "http://hub.test", "Referer": "http://hub.test/merge"})
        self.assertEqual(st, 200, reply[:300])
        text = reply.decode()
        self.assertIn("Well done", text)
        self.assertIn(">both.flist</a> is available.", text)
        tree = self.fetch(self.published("both.flist"))
        self.assertEqual((tree["/one"], tree["/two"]), (b"1", b"22"))
        # multipart, as a form with enctype="multipart/form-data" sends it
        ctype, mbody = multipart({"flists[]": USER + "/mtwo.flist", "name": "justtwo"}, [])
        st, _, reply = self.post("/merge", ctype, mbody)
        self.assertEqual(st, 200, reply[:300])
        self.assertIn(">justtwo.flist</a> is available.", reply.decode())
        self.assertTrue(os.path.isfile(self.published("justtwo.flist")))
        # errors: the merge form with "Oops: <message>", 200
        for pairs, msg in [
            ([("flists[]", USER + "/mone.flist"), ("name", "")], "missing build (target) name"),
            ([("flists[]", USER + "/mone.flist"), ("name", "a/b")], "build name not allowed"),
            ([("name", "x")], "no source found"),
            ([("flists[]", "mone.flist"), ("name", "x")], "malformed source filename"),
            ([("flists[]", USER + "/nothere"), ("name", "x")], USER + "/nothere.flist does not exists"),
        ]:
            st, _, reply = self.post("/merge", "application/x-www-form-urlencoded", urlencode(pairs))
            self.assertEqual(st, 200, (pairs, reply[:300]))
            text = reply.decode()
            self.assertIn('data-page="merge"', text)
            self.assertEqual(self.oops(text), "Oops: " + msg)
        self.assertFalse(os.path.exists(self.published("x.flist")))
        # no name field at all: the 400 page
        st, _, _ = self.post("/merge", "application/x-www-form-urlencoded", urlencode([("flists[]", "a/b")]))
        self.assertEqual(st, 400)

    def test_docker_convert(self):
        for body, msg in [(b"docker-input=", "missing docker image name"), (b"", "missing docker image name")]:
            st, _, reply = self.post("/docker-convert", "application/x-www-form-urlencoded", body)
            self.assertEqual(st, 200, reply[:300])
            text = reply.decode()
            self.assertIn('data-page="docker"', text)
            self.assertEqual(self.oops(text), "Oops: " + msg)
        ctype, body = multipart({"docker-input": ""}, [])
        st, _, reply = self.post("/docker-convert", ctype, body)
        self.assertEqual((st, self.oops(reply.decode())), (200, "Oops: missing docker image name"))
        # an image: the progress page with its job id when the converter is
        # enabled, else the form with the route's own message
        st, _, reply = self.post("/docker-convert", "application/x-www-form-urlencoded",
                                 b"docker-input=" + urllib.parse.quote("alpine:3.19").encode())
        text = reply.decode()
        m = re.search(r'data-job="([0-9a-f-]{36})"', text)
        if m:
            self.assertEqual(st, 200)
            self.assertIn("Job ID: " + m.group(1), text)
            st, job = self.api.json("GET", "/api/jobs/" + m.group(1))
            self.assertEqual(st, 200, job)
        else:
            self.assertEqual(self.oops(text), "Oops: docker conversion is not enabled")
            self.assertEqual(st, 503)
        st, _, reply = self.post("/docker-convert", "application/x-www-form-urlencoded",
                                 b"docker-input=" + urllib.parse.quote("-bad name").encode())
        self.assertEqual(st, 200)
        self.assertEqual(self.oops(reply.decode()),
                         "Oops: invalid docker image name: expected [registry/]name[:tag|@digest]")

    def test_cross_site_refused(self):
        before = self.queued_jobs()
        data = make_tar([("x", b"x")])
        ctype, up = multipart({}, [("file", "evil.tar.gz", data)])
        form = ("application/x-www-form-urlencoded",
                urlencode([("flists[]", USER + "/evil.flist"), ("name", "evil")]))
        refused = [
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://hub.test.evil.example"},
            {"Sec-Fetch-Site": "cross-site", "Origin": self.base},
            {"Sec-Fetch-Site": "same-site"},
            {"Referer": "http://evil.example/page"},
            {"Referer": "http://hub.test@evil.example/"},
        ]
        for hdrs in refused:
            for route, ct, body in [("/upload", ctype, up), ("/upload-flist", ctype, up), ("/merge",) + form,
                                    ("/docker-convert", "application/x-www-form-urlencoded", b"docker-input=a")]:
                st, _, reply = self.post(route, ct, body, hdrs)
                self.assertEqual(st, 403, (route, hdrs, reply[:200]))
                self.assertEqual(json.loads(reply)["message"],
                                 "cross-site form post refused: post the form from this hub's own pages")
        self.assertEqual(os.listdir(self.api.upload_dir), [])
        self.assertFalse(os.path.exists(self.published("evil.flist")))
        self.assertEqual(self.queued_jobs(), before)
        # what is served: the hub's own origin (public-website or Host),
        # Sec-Fetch-Site same-origin or none, a same-origin Referer, no
        # browser signal at all
        for hdrs in [{"Origin": self.base}, {"Origin": "http://hub.test"}, {"Sec-Fetch-Site": "same-origin"},
                     {"Sec-Fetch-Site": "none"}, {"Referer": self.base + "/merge"}, {}]:
            st, _, reply = self.post("/docker-convert", "application/x-www-form-urlencoded", b"docker-input=",
                                     hdrs)
            self.assertEqual(st, 200, (hdrs, reply[:200]))
            self.assertEqual(self.oops(reply.decode()), "Oops: missing docker image name")

    def test_our_pages_keep_their_contract(self):
        """Our own pages' posts (X-CSRF-Token) stay async JSON; the
        original's field names are understood there too."""
        st, h, text = self.api.request("GET", "/merge", {"Cookie": self.session})
        self.assertEqual(st, 200)
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', text.decode()).group(1)
        hdrs = {"Cookie": "%s; hub-csrf=%s" % (self.session, token), "X-CSRF-Token": token}
        st, _, reply = self.api.request("POST", "/docker-convert",
                                        dict(hdrs, **{"Content-Type": "application/x-www-form-urlencoded"}),
                                        b"docker-input=")
        self.assertEqual((st, json.loads(reply)["message"]), (400, "missing docker image name"))
        st, _, reply = self.api.request("POST", "/merge",
                                        dict(hdrs, **{"Content-Type": "application/x-www-form-urlencoded"}),
                                        urlencode([("flists[]", USER + "/nothere"), ("name", "y")]))
        self.assertEqual((st, json.loads(reply)["message"]), (500, USER + "/nothere.flist does not exists"))
        # a wrong token is refused even from the hub's own origin
        st, _, reply = self.api.request("POST", "/merge", dict(hdrs, **{"X-CSRF-Token": "0" * 64,
                                                                        "Origin": self.base}), b"{}")
        self.assertEqual(st, 403, reply)


if __name__ == "__main__":
    run_tests()
