#!/usr/bin/env python3
"""The web page of a Docker conversion in a real browser (chromium through
playwright-core, tests/browser/flows.mjs flow `dockerOk`): a real api and
worker (RegistryHubCase) and a docker-registry started here holding an image
the test pushed; the page posts the image, follows the job's events to
"is available" and draws one finished row per layer; the flist is then
published with the image's files.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hublib import HUB_BIN, run_tests  # noqa: E402
from test_docker_registry import RegistryHubCase, base_image  # noqa: E402
from test_web_browser import BROWSER_DIR, CHROMIUM, prerequisites  # noqa: E402
from test_worker_api import ME  # noqa: E402


class DockerBrowser(RegistryHubCase):
    @classmethod
    def missing(cls):
        return prerequisites() or super().missing()

    def test_conversion_from_the_page(self):
        self.reg.push_image("web/app", "v1", base_image())
        image = "%s/web/app:v1" % self.reg.host
        shots = os.path.join(os.path.dirname(os.path.abspath(HUB_BIN)), "web-screenshots-docker")
        cfg = {"chromium": CHROMIUM, "screenshots": shots,
               "base": "http://127.0.0.1:%d" % self.api.port,
               "dockerOkImage": image, "dockerOkLayers": 2}
        env = dict(os.environ, HUB_WEB_CONFIG=json.dumps(cfg), HUB_WEB_FLOWS="dockerOk")
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "flows.mjs")], env=env,
                           cwd=BROWSER_DIR, capture_output=True, text=True, timeout=300)
        sys.stderr.write(p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, "browser flow failed (screenshots in %s):\n%s%s" %
                         (shots, p.stdout[-4000:], p.stderr[-2000:]))
        self.assertIn("ok   dockerOk", p.stdout)
        name = "%s-web-app-v1.flist" % self.reg.host.replace(":", "-")
        tree = self.fetch(os.path.join(self.api.public, ME, name))
        self.assertEqual(tree["/bin/hello"], b"#!/bin/sh\necho hello\n")
        self.assertEqual(tree["/etc/motd"], b"welcome\n")


if __name__ == "__main__":
    run_tests()
