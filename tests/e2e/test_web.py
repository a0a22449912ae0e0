#!/usr/bin/env python3
"""End-to-end tests of the web pages at the HTTP level (issue 10,
HUB-API.md §8.6, §9, §12.8): status codes and redirects of every page, the
security headers, escaping of names and query parameters in the HTML the
server writes, the session gate, the CSRF check of the web forms, the
static files and GET /api/search. What the pages show in a browser is
tested by test_web_browser.py."""
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import HUB_BIN, HUB_TESTDATA, ApiServer, RedisServer, TempDir, free_port, run_tests  # noqa: E402

XSS_NAME = "<img src=x onerror=alert(1)>.flist"
SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


class TagCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse_tags(text):
    """(tag, {attribute: value}) of every element, as an HTML parser reads them."""
    p = TagCollector()
    p.feed(text)
    p.close()
    return p.tags


def cookie_of(headers, name):
    for part in headers.get("set-cookie", "").split(","):
        part = part.strip()
        if part.startswith(name + "="):
            return part
    return None


class WebPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "false"}, redis=cls.redis).__enter__()
        repo = os.path.join(cls.api.public, "Administrator")
        os.makedirs(os.path.join(repo, ".tag-v1"))
        shutil.copy(os.path.join(HUB_TESTDATA, "sample.flist"), os.path.join(repo, "sample.flist"))
        shutil.copy(os.path.join(HUB_TESTDATA, "sample.flist"), os.path.join(repo, XSS_NAME))
        os.symlink("../sample.flist", os.path.join(repo, ".tag-v1", "sample.flist"))
        for i in range(30):
            os.makedirs(os.path.join(cls.api.public, "user%02d" % i))
            with open(os.path.join(cls.api.public, "user%02d" % i, "tool-%d.flist" % i), "wb") as f:
                f.write(b"x" * i)

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def get(self, path, headers=None):
        return self.api.request("GET", path, headers)

    def assert_page(self, path, status=200, page=None):
        st, h, body = self.get(path)
        self.assertEqual(st, status, (path, body[:300]))
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        for k, v in SECURITY.items():
            self.assertEqual(h.get(k), v, (path, k))
        csp = h["content-security-policy"]
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        text = body.decode()
        # no inline script, style or event handler: everything comes from
        # /static (what a browser's parser sees, not a regex on the text)
        tags = parse_tags(text)
        for tag, attrs in tags:
            self.assertFalse(tag == "script" and "src" not in attrs, (path, tag, attrs))
            self.assertNotIn(tag, ("style", "img", "iframe", "object"), path)
            self.assertEqual([a for a in attrs if a.startswith("on") or a == "style"], [], (path, tag))
        if page:
            self.assertIn('data-page="%s"' % page, text)
        return h, text

    def test_pages_and_statuses(self):
        _, text = self.assert_page("/", page="home")
        self.assertIn('data-readonly="0" data-auth="0" data-debug="0"', text)
        self.assert_page("/search", page="search")
        self.assert_page("/Administrator", page="repo")
        self.assert_page("/Administrator/", page="repo")
        self.assert_page("/Administrator/tags/v1", page="tag")
        self.assert_page("/login-method", page="login-method")
        # real 404s for what does not exist, with the layout
        for path in ["/nobody", "/Administrator/tags/v2", "/nobody/tags/v1", "/Administrator/nothing.md",
                     "/%2e%2e", "/..%2fx/tags/a", "/Administrator/%2e%2e.md", "/.hidden"]:
            _, text = self.assert_page(path, 404, page="notfound")
        # /readonly is a redirect to / when the hub is writable
        st, h, _ = self.get("/readonly")
        self.assertEqual(st, 302)
        self.assertTrue(h["location"].endswith("/"), h["location"])

    def test_preview_page(self):
        for path in ["/Administrator/sample.md", "/Administrator/sample.flist.md"]:
            _, text = self.assert_page(path, page="preview")
            with open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb") as f:
                import hashlib
                md5 = hashlib.md5(f.read()).hexdigest()
            self.assertIn('<code id="md5">%s</code>' % md5, text)
            self.assertIn('value="http://hub.test/Administrator/sample.flist"', text)
            self.assertIn('href="/Administrator/sample.flist"', text)
            self.assertIn("zflist open sample.flist", text)
        # and the download and .md5 links it shows work
        st, _, body = self.get("/Administrator/sample.flist.md5")
        self.assertEqual((st, body.decode().strip()), (200, md5))

    def test_stored_names_are_escaped(self):
        path = "/Administrator/" + XSS_NAME.replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")[:-6] + ".md"
        _, text = self.assert_page(path, page="preview")
        self.assertNotIn("<img", text)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;.flist", text)

    def test_query_parameters_are_escaped(self):
        _, text = self.assert_page('/search?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E', page="search")
        self.assertNotIn("<script>alert", text)
        self.assertIn('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"', text)
        _, text = self.assert_page("/token/%3Cb%3Eabc%3C%2Fb%3E")
        self.assertNotIn("<b>abc", text)
        self.assertIn("&lt;b&gt;abc&lt;/b&gt;", text)

    def test_static_files(self):
        st, h, body = self.get("/static/hub.js")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertTrue(b"textContent" in body)
        self.assertFalse(b"innerHTML" in body or b"outerHTML" in body or b"insertAdjacentHTML" in body)
        st, h, _ = self.get("/static/hub.css")
        self.assertEqual((st, h["content-type"]), (200, "text/css; charset=utf-8"))
        for bad in ["/static/nope.js", "/static/..%2fweb.h", "/static/.hidden.js", "/static/layout.html",
                    "/static/%2e%2e"]:
            st, _, _ = self.get(bad)
            self.assertEqual(st, 404, bad)

    def test_csrf_on_web_forms(self):
        h, text = self.assert_page("/merge", page="merge")
        cookie = cookie_of(h, "hub-csrf")
        self.assertIsNotNone(cookie, h)
        self.assertIn("HttpOnly", h["set-cookie"])
        self.assertIn("SameSite=Strict", h["set-cookie"])
        self.assertNotIn("Secure", h["set-cookie"])  # plain http here
        st, h2, _ = self.get("/merge", {"X-Forwarded-Proto": "https"})
        self.assertIn("; Secure", cookie_of(h2, "hub-csrf") or h2.get("set-cookie", ""))
        token = cookie.split(";")[0].split("=", 1)[1]
        self.assertIn('<meta name="csrf-token" content="%s">' % token, text)
        body = json.dumps({"name": "m", "sources": ["Administrator/sample.flist"]}).encode()
        ctype = {"Content-Type": "application/json"}
        # without the token header a post is the original's form
        # (test_web_compat.py): refused when it comes from another site
        evil = {"Origin": "http://evil.example"}
        cases = [
            (evil, 403),                                                      # nothing
            (dict(evil, Cookie="hub-csrf=" + token), 403),                    # cookie only
            ({"X-CSRF-Token": token}, 403),                                   # header only
            ({"Cookie": "hub-csrf=" + token, "X-CSRF-Token": "0" * 64}, 403),  # mismatch
            ({"Cookie": "hub-csrf=" + token, "X-CSRF-Token": token}, 202),     # the page's token
        ]
        for hdrs, want in cases:
            st, _, reply = self.api.request("POST", "/merge", dict(ctype, **hdrs), body)
            self.assertEqual(st, want, (hdrs, reply))
            v = json.loads(reply)
            if want == 403:
                self.assertTrue("CSRF" in v["message"] or "cross-site" in v["message"], v)
            else:
                self.assertTrue(v["payload"]["events_url"].startswith("/listen/"), v)
        # the same on the upload forms, before any byte is kept
        for route in ["/upload", "/upload-flist", "/docker-convert"]:
            st, _, reply = self.api.request("POST", route, {"Content-Type": "multipart/form-data; boundary=x",
                                                            "Sec-Fetch-Site": "cross-site"}, b"--x--\r\n")
            self.assertEqual(st, 403, (route, reply))
        self.assertEqual(os.listdir(self.api.upload_dir), [])
        # a page reached with the cookie keeps its token
        h, text = self.assert_page("/upload") if False else (None, None)
        st, h, body = self.get("/upload", {"Cookie": "hub-csrf=" + token})
        self.assertEqual(st, 200)
        self.assertIsNone(cookie_of(h, "hub-csrf"))
        self.assertIn(token, body.decode())

    def test_merge_form_errors(self):
        _, text = self.assert_page("/merge")
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', text).group(1)
        hdrs = {"Cookie": "hub-csrf=" + token, "X-CSRF-Token": token, "Content-Type": "application/json"}
        for body, status, msg in [
            (b"not json", 400, "malformed request: expected {\"name\": ..., \"sources\": [...]}"),
            (json.dumps({"name": "", "sources": ["Administrator/sample"]}).encode(), 400,
             "missing build (target) name"),
            (json.dumps({"name": "x", "sources": []}).encode(), 500, "no source found"),
            (json.dumps({"name": "x", "sources": ["nobody/a"]}).encode(), 500, "nobody/a.flist does not exists"),
        ]:
            st, _, reply = self.api.request("POST", "/merge", hdrs, body)
            self.assertEqual(st, status, reply)
            self.assertEqual(json.loads(reply)["message"], msg)

    def test_logout(self):
        st, h, body = self.get("/logout")
        self.assertEqual(st, 200)
        self.assertIn('data-page="home"', body.decode())
        self.assertRegex(h["set-cookie"], r"hub-session=; HttpOnly; Path=/; Max-Age=0")

    def search(self, query, want_total, timeout=5):
        """The search's reply once it has want_total matches: the index
        looks at the directory again at most every second."""
        deadline = time.time() + timeout
        while True:
            st, v = self.api.json("GET", "/api/search?" + query)
            self.assertEqual(st, 200, v)
            if v["payload"]["total"] == want_total or time.time() > deadline:
                return v
            time.sleep(0.1)

    def test_search_api(self):
        v = self.search("q=TOOL-1", 11)
        p = v["payload"]
        names = sorted(r["name"] for r in p["results"])
        self.assertEqual(names, ["tool-1.flist"] + ["tool-%d.flist" % i for i in range(10, 20)])
        self.assertEqual(p["total"], 11)
        r = [x for x in p["results"] if x["name"] == "tool-12.flist"][0]
        self.assertEqual(r, {"repository": "user12", "name": "tool-12.flist", "type": "regular", "size": 12,
                             "updated": r["updated"]})
        st, v = self.api.json("GET", "/api/search?q=user0&limit=3")
        self.assertEqual((len(v["payload"]["results"]), v["payload"]["total"]), (3, 10))
        st, v = self.api.json("GET", "/api/search?q=zzz")
        self.assertEqual((v["payload"]["total"], v["payload"]["results"]), (0, []))
        for bad in ["/api/search", "/api/search?q=a&limit=0", "/api/search?q=a&limit=x",
                    "/api/search?q=a&limit=501"]:
            st, v = self.api.json("GET", bad)
            self.assertEqual(st, 400, bad)
        # a new flist is found after the next check of the directory
        with open(os.path.join(self.api.public, "user03", "fresh.flist"), "wb") as f:
            f.write(b"1")
        v = self.search("q=fresh", 1)
        self.assertEqual(v["payload"]["results"][0]["repository"], "user03")


class Gates(unittest.TestCase):
    """The session gate (§12.8) with authentication on, and readonly."""

    def test_session_gate(self):
        cfg = {"authentication": "true", "threebot-seed": "ab" * 32, "session-key": "cd" * 32}
        with RedisServer() as redis, ApiServer(cfg, redis=redis) as api:
            for path in ["/upload", "/upload-flist", "/merge", "/docker-convert"]:
                st, h, _ = api.request("GET", path)
                self.assertEqual(st, 302, path)
                self.assertTrue(h["location"].endswith("/login-method"), h["location"])
                st, h, _ = api.request("POST", path, {"Content-Type": "application/x-www-form-urlencoded"},
                                       b"image=x")
                self.assertEqual(st, 302, path)
                self.assertTrue(h["location"].endswith("/login-method"), h["location"])
            # an upload that asks first is refused before it sends its body
            raw = api.raw(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                          b"Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n", timeout=5)
            self.assertTrue(raw.startswith(b"HTTP/1.1 302 "), raw[:200])
            self.assertIn(b"/login-method\r\n", raw)
            self.assertEqual(os.listdir(api.upload_dir), [])
            # a forged session cookie is no session
            st, h, _ = api.request("GET", "/upload", {"Cookie": "hub-session=alice.3bot"})
            self.assertEqual(st, 302)
            st, h, body = api.request("GET", "/")
            self.assertIn('data-auth="1" data-debug="0" data-user=""', body.decode())

    def test_readonly(self):
        with RedisServer() as redis, ApiServer({"authentication": "false", "readonly": "true", "debug": "true"},
                                                 redis=redis) as api:
            for path in ["/upload", "/upload-flist", "/merge", "/docker-convert"]:
                st, h, _ = api.request("GET", path)
                self.assertEqual(st, 302, path)
                self.assertTrue(h["location"].endswith("/readonly"), h["location"])
            st, h, body = api.request("GET", "/readonly")
            self.assertEqual(st, 200)
            self.assertIn("Instance modification disabled", body.decode())
            st, h, body = api.request("GET", "/")
            self.assertIn('data-readonly="1"', body.decode())
            self.assertIn('data-debug="1"', body.decode())  # the staging banner


class WebRoot(unittest.TestCase):
    def test_bad_web_root_refuses_to_start(self):
        with TempDir() as d:
            conf = os.path.join(d, "hub.conf")
            with open(conf, "w") as f:
                f.write('listen-addr = "127.0.0.1"\nlisten-port = "%d"\nuserdata-root-path = "%s/public"\n'
                        'workdir-root-path = "%s/work"\nweb-root = "/nonexistent/web"\n' % (free_port(), d, d))
            p = subprocess.run([os.path.join(HUB_BIN, "flist-hub-api"), "-c", conf], capture_output=True,
                               timeout=30, text=True)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("web-root /nonexistent/web: no layout.html there", p.stderr)


if __name__ == "__main__":
    run_tests()
