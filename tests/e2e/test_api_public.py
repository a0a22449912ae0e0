"""End-to-end: the public read API (HUB-API.md §5), downloads and text
routes (§8) and the global HTTP behaviour (§2: CORS, trailing slash, HEAD,
OPTIONS, 405, 404), against a repository directory laid out like the
original's (§11)."""
import hashlib
import json
import os
import time
import unittest

from hublib import HUB_TESTDATA, ApiServer, RedisServer, run_tests

SAMPLE = open(os.path.join(HUB_TESTDATA, "sample.flist"), "rb").read()
SAMPLE_MD5 = hashlib.md5(SAMPLE).hexdigest()
SAMPLE_FIND = json.load(open(os.path.join(HUB_TESTDATA, "sample.find.json")))["response"]


def mtime(path, follow=True):
    return int(os.stat(path).st_mtime if follow else os.lstat(path).st_mtime)


class Public(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer().__enter__()
        cls.api = ApiServer({"authentication": "true", "threebot-seed": "30" * 32,
                             "official-repositories": "official-apps, dockers",
                             "backend-public-host": "zdb.hub.test", "backend-public-port": "9900",
                             "listing-cache-ms": "0"}, redis=cls.redis).__enter__()
        pub = cls.api.public
        cls.pub = pub
        a = os.path.join(pub, "Administrator")
        os.makedirs(os.path.join(a, ".tag-v1"))
        os.makedirs(os.path.join(pub, "official-apps"))
        os.makedirs(os.path.join(pub, ".hidden"))
        with open(os.path.join(a, "my_archive.flist"), "wb") as f:
            f.write(SAMPLE)
        with open(os.path.join(pub, "official-apps", "ubuntu.flist"), "wb") as f:
            f.write(SAMPLE)
        open(os.path.join(a, ".keep"), "w").close()
        os.symlink("my_archive.flist", os.path.join(a, "latest.flist"))
        os.symlink("nothere.flist", os.path.join(a, "dangling.flist"))
        os.symlink("../official-apps/ubuntu.flist", os.path.join(a, "xlink.flist"))
        os.symlink("../Administrator/.tag-v1", os.path.join(a, "ctag"))
        os.symlink("../../official-apps/ubuntu.flist", os.path.join(a, ".tag-v1", "u.flist"))
        with open(os.path.join(pub, "..", "secret.flist"), "wb") as f:
            f.write(b"secret")
        cls.a = a

    @classmethod
    def tearDownClass(cls):
        cls.api.__exit__(None, None, None)
        cls.redis.__exit__(None, None, None)

    def get(self, path, headers=None, method="GET"):
        return self.api.request(method, path, headers)

    def getj(self, path):
        st, h, body = self.get(path)
        self.assertEqual(h.get("access-control-allow-origin"), "*", path)
        return st, h, json.loads(body) if h.get("content-type") == "application/json" else body

    def test_repositories(self):
        st, h, v = self.getj("/api/repositories")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        # hidden directories are not repositories (D39)
        self.assertEqual(v, [
            {"name": "Administrator", "official": False, "updated": mtime(self.a, False)},
            {"name": "official-apps", "official": True,
             "updated": mtime(os.path.join(self.pub, "official-apps"), False)}])
        st, h, body = self.get("/api/repositories/")  # trailing slash
        self.assertEqual(json.loads(body), v)

    def test_repository_listing(self):
        a = self.a
        st, h, v = self.getj("/api/flist/Administrator")
        self.assertEqual(st, 200)
        size = "%.2f KB" % (len(SAMPLE) / 1024)
        self.assertEqual(v, [
            {"name": "v1", "size": "0 KB", "updated": mtime(os.path.join(a, ".tag-v1")), "type": "tag"},
            {"name": "ctag", "size": "%.2f KB" % (os.stat(os.path.join(a, ".tag-v1")).st_size / 1024),
             "updated": mtime(os.path.join(a, ".tag-v1")), "linktime": mtime(os.path.join(a, "ctag"), False),
             "type": "taglink", "target": "Administrator/tags/v1"},
            {"name": "dangling.flist", "size": "0.01 KB", "updated": mtime(os.path.join(a, "dangling.flist"), False),
             "linktime": mtime(os.path.join(a, "dangling.flist"), False), "type": "symlink",
             "target": "nothere.flist"},
            {"name": "latest.flist", "size": size, "updated": mtime(os.path.join(a, "my_archive.flist")),
             "linktime": mtime(os.path.join(a, "latest.flist"), False), "type": "symlink",
             "target": "my_archive.flist"},
            {"name": "my_archive.flist", "size": size, "updated": mtime(os.path.join(a, "my_archive.flist")),
             "type": "regular"},
            {"name": "xlink.flist", "size": size,
             "updated": mtime(os.path.join(self.pub, "official-apps", "ubuntu.flist")),
             "linktime": mtime(os.path.join(a, "xlink.flist"), False), "type": "symlink",
             "target": "official-apps/ubuntu.flist"}])
        # a missing repository: framework 404 page
        st, h, body = self.get("/api/flist/nobody")
        self.assertEqual(st, 404)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"<title>404 Not Found</title>", body)
        # '..' is not a repository (D4)
        st, h, body = self.get("/api/flist/..")
        self.assertEqual(st, 400)
        st, h, body = self.get("/api/flist/%2e%2e")
        self.assertEqual(st, 400)

    def test_listing_sees_changes(self):
        p = os.path.join(self.pub, "official-apps", "new.flist")
        st, _, v1 = self.getj("/api/flist/official-apps")
        with open(p, "wb") as f:
            f.write(b"x")
        try:
            st, _, v2 = self.getj("/api/flist/official-apps")
            self.assertEqual([e["name"] for e in v2], sorted([e["name"] for e in v1] + ["new.flist"]))
        finally:
            os.unlink(p)

    def test_tag_listing(self):
        st, h, v = self.getj("/api/flist/Administrator/tags/v1")
        self.assertEqual(st, 200)
        self.assertEqual(v, [{"name": "u.flist", "size": "%.2f KB" % (len(SAMPLE) / 1024),
                              "updated": mtime(os.path.join(self.pub, "official-apps", "ubuntu.flist")),
                              "linktime": mtime(os.path.join(self.a, ".tag-v1", "u.flist"), False),
                              "type": "symlink", "target": "official-apps/ubuntu.flist"}])
        self.assertEqual(self.get("/api/flist/Administrator/tags/nope")[0], 404)
        self.assertEqual(self.get("/api/flist/nobody/tags/v1")[0], 404)

    def test_flist_and_fileslist(self):
        st, h, v = self.getj("/api/flist")
        self.assertEqual(v, ["Administrator/.tag-v1", "Administrator/ctag", "Administrator/dangling.flist",
                             "Administrator/latest.flist", "Administrator/my_archive.flist",
                             "Administrator/xlink.flist", "official-apps/ubuntu.flist"])
        st, h, v = self.getj("/api/fileslist")
        self.assertEqual(list(v.keys()), ["Administrator", "official-apps"])
        self.assertEqual(v["Administrator"], self.getj("/api/flist/Administrator")[2])

    def test_light(self):
        a = self.a
        st, h, v = self.getj("/api/flist/Administrator/my_archive/light")
        self.assertEqual(v, {"name": "my_archive.flist", "size": len(SAMPLE),
                             "updated": mtime(os.path.join(a, "my_archive.flist")), "type": "regular",
                             "md5": SAMPLE_MD5})
        st, h, v = self.getj("/api/flist/Administrator/latest.flist/light")
        self.assertEqual(v, {"name": "latest.flist", "size": len(SAMPLE),
                             "updated": mtime(os.path.join(a, "my_archive.flist")), "type": "symlink",
                             "md5": SAMPLE_MD5, "linktime": mtime(os.path.join(a, "latest.flist"), False),
                             "target": "my_archive.flist"})
        st, h, v = self.getj("/api/flist/Administrator/xlink/light")
        self.assertEqual(v["target"], "../official-apps/ubuntu.flist")  # raw, not cleaned
        st, h, v = self.getj("/api/flist/Administrator/dangling/light")
        self.assertEqual(v, {"name": "dangling.flist", "size": len("nothere.flist"),
                             "updated": mtime(os.path.join(a, "dangling.flist"), False), "type": "symlink",
                             "md5": None, "linktime": mtime(os.path.join(a, "dangling.flist"), False),
                             "target": "nothere.flist"})
        # INFO is the same as /light
        st, h, body = self.get("/api/flist/Administrator/latest", method="INFO")
        self.assertEqual(json.loads(body), self.getj("/api/flist/Administrator/latest/light")[2])
        st, h, v = self.getj("/api/flist/nobody/x/light")
        self.assertEqual((st, v), (404, {"status": "error", "message": "user not found"}))
        st, h, v = self.getj("/api/flist/Administrator/nothere/light")
        self.assertEqual((st, v), (404, {"status": "error", "message": "source not found"}))

    def test_contents(self):
        st, h, v = self.getj("/api/flist/Administrator/my_archive")
        self.assertEqual(st, 200)
        self.assertEqual(v, SAMPLE_FIND)
        st, h, v = self.getj("/api/flist/Administrator/xlink.flist")  # through a cross-link
        self.assertEqual(v, SAMPLE_FIND)
        # HEAD behaves as GET without a body (D22)
        st, h, body = self.get("/api/flist/Administrator/my_archive", method="HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(h["content-type"], "application/json")
        st, h, v = self.getj("/api/flist/Administrator/nothere")
        self.assertEqual((st, v), (404, {"status": "error", "message": "source not found"}))
        st, h, v = self.getj("/api/flist/nobody/x")
        self.assertEqual((st, v), (404, {"status": "error", "message": "user not found"}))
        st, h, v = self.getj("/api/flist/Administrator/.keep")
        self.assertEqual(st, 400)

    def test_taglink(self):
        st, h, v = self.getj("/api/flist/Administrator/ctag/taglink")
        self.assertEqual((st, v), (200, {"target": "Administrator/tags/v1"}))
        st, h, v = self.getj("/api/flist/Administrator/ctag.flist/taglink")
        self.assertEqual((st, v), (200, {"target": "Administrator/tags/v1"}))
        st, h, v = self.getj("/api/flist/Administrator/my_archive/taglink")
        self.assertEqual((st, v), (404, {"status": "error", "message": "source not found"}))
        st, h, v = self.getj("/api/flist/nobody/ctag/taglink")
        self.assertEqual((st, v), (404, {"status": "error", "message": "user not found"}))

    def test_metadata(self):
        st, h, v = self.getj("/api/flist/Administrator/my_archive/metadata")
        self.assertEqual(st, 200)
        expected = {}
        with open(os.path.join(HUB_TESTDATA, "sample.metadata.jsonl")) as f:
            for line in f:
                r = json.loads(line)["response"]
                expected[r["metadata"]] = r["value"]
        self.assertEqual(list(v.keys()), list(expected.keys()))
        self.assertEqual(v, expected)

    def test_download(self):
        st, h, body = self.get("/Administrator/latest.flist")
        self.assertEqual(st, 200)
        self.assertEqual(body, SAMPLE)
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertEqual(h["content-disposition"], "inline; filename=latest.flist")
        self.assertEqual(h["content-length"], str(len(SAMPLE)))
        self.assertEqual(h["etag"], '"%s"' % SAMPLE_MD5)
        self.assertEqual(h["cache-control"], "no-cache")
        # the same through .flist.flist, a cross-link and a tag
        self.assertEqual(self.get("/Administrator/latest.flist.flist")[2], SAMPLE)
        self.assertEqual(self.get("/Administrator/xlink.flist")[2], SAMPLE)
        self.assertEqual(self.get("/Administrator/tags/v1/u.flist")[2], SAMPLE)
        # conditional and range requests
        st, h2, body = self.get("/Administrator/latest.flist", {"If-None-Match": h["etag"]})
        self.assertEqual((st, body), (304, b""))
        st, h2, body = self.get("/Administrator/latest.flist", {"If-Modified-Since": h["last-modified"]})
        self.assertEqual(st, 304)
        st, h2, body = self.get("/Administrator/latest.flist", {"Range": "bytes=10-19"})
        self.assertEqual((st, body), (206, SAMPLE[10:20]))
        self.assertEqual(h2["content-range"], "bytes 10-19/%d" % len(SAMPLE))
        st, h2, body = self.get("/Administrator/latest.flist", {"Range": "bytes=-5"})
        self.assertEqual((st, body), (206, SAMPLE[-5:]))
        st, h2, body = self.get("/Administrator/latest.flist", {"Range": "bytes=%d-" % len(SAMPLE)})
        self.assertEqual(st, 416)
        self.assertEqual(h2["content-range"], "bytes */%d" % len(SAMPLE))
        # missing, dangling, not a file, escaping
        self.assertEqual(self.get("/Administrator/nothere.flist")[0], 404)
        self.assertEqual(self.get("/Administrator/dangling.flist")[0], 404)
        self.assertEqual(self.get("/nobody/x.flist")[0], 404)
        self.assertEqual(self.get("/%2e%2e/secret.flist")[0], 400)

    def test_download_link_escape(self):
        # a link planted in a repository that points outside the public
        # directory is never followed (RESOLVE_BENEATH)
        p = os.path.join(self.pub, "official-apps", "evil.flist")
        os.symlink("../../secret.flist", p)
        try:
            self.assertEqual(self.get("/official-apps/evil.flist")[0], 404)
            self.assertEqual(self.get("/official-apps/evil.flist.md5")[0], 404)
            st, h, v = self.getj("/api/flist/official-apps/evil/light")
            self.assertEqual(v["md5"], None)
        finally:
            os.unlink(p)

    def test_md5_txt_json(self):
        st, h, body = self.get("/Administrator/latest.flist.md5")
        self.assertEqual((st, body), (200, (SAMPLE_MD5 + "\n").encode()))
        self.assertEqual(h["content-type"], "text/plain")
        self.assertEqual(self.get("/Administrator/dangling.flist.md5")[0], 404)
        st, h, body = self.get("/Administrator/latest.txt")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/plain")
        self.assertEqual(body.decode(), "File:     latest.flist\nUploader: Administrator\n"
                                       "Source:   http://hub.test/Administrator/latest.flist\n"
                                       "Storage:  zdb://zdb.hub.test:9900\nChecksum: %s\n" % SAMPLE_MD5)
        st, h, body = self.get("/Administrator/dangling.flist.txt")
        self.assertTrue(body.decode().endswith("Checksum: None\n"))
        self.assertEqual(self.get("/Administrator/nothere.txt")[0], 404)
        st, h, v = self.getj("/Administrator/latest.json")  # D21 fixed
        self.assertEqual(v, {"flist": "latest.flist", "uploader": "Administrator",
                             "source": "http://hub.test/Administrator/latest.flist",
                             "storage": "zdb://zdb.hub.test:9900", "checksum": SAMPLE_MD5})
        st, h, v = self.getj("/Administrator/dangling.json")
        self.assertEqual(v["checksum"], None)

    def test_http_behaviour(self):
        st, h, body = self.get("/api/flist/me/foo", method="OPTIONS")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(h["allow"], "INFO, DELETE, GET, HEAD, OPTIONS")
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertEqual(h["access-control-allow-origin"], "*")
        st, h, body = self.get("/api/flist/me/foo", method="POST")
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "INFO, DELETE, GET, HEAD, OPTIONS")
        self.assertIn(b"<title>405 Method Not Allowed</title>", body)
        st, h, body = self.get("/api/repositories", method="DELETE")
        self.assertEqual((st, h["allow"]), (405, "GET, HEAD, OPTIONS"))
        st, h, body = self.get("/no/such/route/at/all")
        self.assertEqual(st, 404)
        self.assertEqual(h["access-control-allow-origin"], "*")
        # /api/flist/<repo>/tags/light is the tag listing (precedence)
        self.assertEqual(self.get("/api/flist/Administrator/tags/light")[0], 404)
        # login routes exist only with authentication on (here: on)
        self.assertEqual(self.get("/login", method="OPTIONS")[0], 200)


if __name__ == "__main__":
    run_tests()
