#!/usr/bin/env python3
"""End-to-end tests of the engine path through the hub: a real api and
worker (HubCase) with docker-engine = per-request and docker-socket naming
a real dockerd started here (tests/e2e/dockerd.py), POST
/api/flist/me/docker with engine=1: an image the test loaded into the
daemon converted (compatibility reply and the async events), one the
daemon pulls from a docker-registry started here (events per layer, the
pulled image removed), the container always removed; a hub whose
docker-engine is off refuses the option (403), a daemon that is not there
fails the job with a clear message and publishes nothing.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dockerd import Dockerd, docker_archive, dockerd_missing  # noqa: E402
from hublib import TempDir, run_tests  # noqa: E402
from ocilayout import tar_bytes  # noqa: E402
from test_docker_engine import CONFIG as IMAGE_CONFIG, LAYER1, LAYER2  # noqa: E402
from test_docker_registry import RegistryHubCase  # noqa: E402
from test_worker_api import ME  # noqa: E402

IMAGE = "hubtest/hubengine:v1"
IMAGE_FLIST = "hubtest-hubengine-v1.flist"
LAYER_EVENT = re.compile(r"^Downloading layers \[.+ / .+\] \(layer (\d+)/(\d+): (\d+) / (\d+) bytes\)$")


def events_of(api, jid):
    status, _, stream = api.request("GET", "/listen/%s" % jid, timeout=120)
    assert status == 200, status
    return [json.loads(line[len("data: "):]) for line in stream.decode().split("\n")
            if line.startswith("data: ")]


class EngineHubCase(RegistryHubCase):
    """A hub whose worker reaches a private dockerd (cls.dockerd, holding
    IMAGE) and a docker-registry (cls.reg); ENGINE on top of the config."""
    ENGINE = {}

    @classmethod
    def missing(cls):
        return dockerd_missing() or super().missing()

    @classmethod
    def start_servers(cls):
        super().start_servers()
        cls.dockerd = cls.enter(Dockerd())
        cls.dockerd.load(docker_archive(IMAGE, [tar_bytes(LAYER1), tar_bytes(LAYER2)],
                                        IMAGE_CONFIG))
        cls.CONFIG = dict(cls.ENGINE, **{"docker-socket": cls.dockerd.socket})

    def published(self):
        d = os.path.join(self.api.public, ME)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


class EnginePerRequest(EngineHubCase):
    ENGINE = {"docker-engine": "per-request"}

    def test_engine_compat_async_events_and_cleanup(self):
        st, v = self.post({"image": IMAGE, "engine": "1"})
        self.assertEqual(st, 200, v)
        self.assertEqual(set(v["payload"]), {"name"})
        stats = v["payload"]["name"]
        self.assertEqual(stats["failure"], 0)
        path = os.path.join(self.api.public, ME, IMAGE_FLIST)
        tree = self.fetch(path)
        # the container's export: the layers as Docker applied them, and its init files
        self.assertEqual(tree["/bin/tool"], b"#!/bin/sh\necho tool v2\n")
        self.assertEqual(tree["/opq/new"], b"new")
        self.assertNotIn("/opq/old", tree)
        self.assertNotIn("/gone/x", tree)
        self.assertNotIn("/etc/removed.conf", tree)
        self.assertIn("/.dockerenv", tree)
        self.assertIn(b'name = "/bin/tool"', tree["/.startup.toml"])
        self.assertEqual(stats["regular"], sum(1 for v in tree.values() if isinstance(v, bytes)))
        self.assertEqual(self.dockerd.containers(), [])
        self.assertTrue(self.dockerd.has_image(IMAGE), "an image the hub did not pull stays")
        # async: the events and the job's result
        st, v = self.post({"image": IMAGE, "engine": "true"}, "?async=1")
        self.assertEqual(st, 202, v)
        jid = v["payload"]["job"]
        events = events_of(self.api, jid)
        msgs = [e.get("message", "") for e in events]
        self.assertEqual(msgs[0], "Initializing docker converter")
        self.assertTrue(any(m.startswith("Applying layers [") for m in msgs), msgs)
        self.assertIn("Uploading chunks", msgs)
        self.assertIn("Publishing", msgs)
        self.assertEqual(events[-2], {"status": "update", "message": "Image ready !",
                                      "progress": 100})
        self.assertEqual(events[-1], {"status": "info", "info": {
            "status": "success", "file": IMAGE_FLIST, "flist": stats, "timing": {}}})
        job = self.wait_job(jid, timeout=120)
        self.assertEqual(job["state"], "done", job)
        self.assertEqual(job["input"]["path"], "engine")
        self.assertEqual(job["result"]["file"], IMAGE_FLIST)
        self.assertEqual(job["result"]["image"], IMAGE)
        self.assertEqual(job["result"]["layers"], 0)   # present: nothing pulled
        self.assertEqual(self.fetch(path), tree)
        self.assertEqual(self.dockerd.containers(), [])

    def test_pull_events_per_layer_and_pulled_image_removed(self):
        from ocireg import Image
        reg = self.reg
        img = Image([(tar_bytes(LAYER1), "gzip"), (tar_bytes(LAYER2), "gzip")], IMAGE_CONFIG)
        reg.push_image("hub/pulled", "v1", img)
        ref = "%s/hub/pulled:v1" % reg.host
        st, v = self.post({"image": ref, "engine": "1"}, "?async=1")
        self.assertEqual(st, 202, v)
        jid = v["payload"]["job"]
        events = events_of(self.api, jid)
        job = self.wait_job(jid, timeout=120)
        self.assertEqual(job["state"], "done", (job, events))
        # every layer's end is an event: "(layer i/n: size / size bytes)"
        ends = {}
        for e in events:
            m = LAYER_EVENT.match(e.get("message", ""))
            if m and m.group(3) == m.group(4):
                ends[int(m.group(1))] = (int(m.group(2)), int(m.group(4)))
        self.assertEqual(sorted(ends), [1, 2], [e.get("message") for e in events])
        # the sizes the daemon told (it names none for a layer it fetched in one go)
        sizes = {d["size"] for d in img.layer_descs}
        told = [n for _, n in ends.values() if n]
        self.assertTrue(told, events)
        self.assertLessEqual(set(told), sizes)
        self.assertIn(max(sizes), told)
        self.assertEqual({n for n, _ in ends.values()}, {2})
        self.assertEqual(job["result"]["layers"], 2)
        name = "%s-hub-pulled-v1.flist" % reg.host.replace(":", "-")
        self.assertEqual(self.fetch(os.path.join(self.api.public, ME, name))["/run/app.pid"],
                         b"1\n")
        self.assertFalse(self.dockerd.has_image(ref), "the pulled image stays")
        self.assertEqual(self.dockerd.containers(), [])
        # an image the registry does not have: the daemon's message, nothing published
        st, v = self.post({"image": "%s/hub/pulled:nosuch" % reg.host, "engine": "1"})
        self.assertEqual(st, 500, v)
        self.assertIn("docker daemon: pull %s/hub/pulled:nosuch" % reg.host, v["message"])
        self.assertNotIn(name.replace("v1", "nosuch"), self.published())

    def test_option_checked_and_registry_path_by_default(self):
        st, v = self.post({"image": IMAGE, "engine": "maybe"})
        self.assertEqual(st, 400, v)
        self.assertIn("invalid engine option", v["message"])
        # without the option: the registry path (the worker itself reaches for localhost:1)
        st, v = self.post({"image": "localhost:1/nothing/here:v1"}, "?async=1")
        self.assertEqual(st, 202, v)
        job = self.wait_job(v["payload"]["job"], timeout=120)
        self.assertEqual(job["state"], "failed")
        self.assertNotIn("path", job["input"])
        self.assertNotIn("docker daemon", job["error"])


class EngineOff(EngineHubCase):
    ENGINE = {"docker-engine": "off"}

    def test_engine_refused(self):
        st, v = self.post({"image": IMAGE, "engine": "1"})
        self.assertEqual(st, 403, v)
        self.assertEqual(v["message"], "the docker engine path is not enabled on this hub "
                                       "(docker-engine = off)")
        self.assertEqual(self.published(), [])
        self.assertEqual(self.queue.cmd("KEYS", "hub:job:*"), [])
        # the registry path still runs (and fails on a registry that is not there)
        st, v = self.post({"image": "localhost:1/nothing/here:v1", "engine": "0"}, "?async=1")
        self.assertEqual(st, 202, v)
        job = self.wait_job(v["payload"]["job"], timeout=120)
        self.assertEqual(job["state"], "failed")
        self.assertNotIn("docker daemon", job["error"])


class EngineUnreachable(EngineHubCase):
    ENGINE = {"docker-engine": "default"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dockerd.stop()   # the socket the worker was given is gone

    def test_daemon_unreachable_fails_clearly(self):
        st, v = self.post({"image": IMAGE})   # docker-engine = default: no option needed
        self.assertEqual(st, 500, v)
        self.assertIn("docker daemon unreachable at %s" % self.api.config["docker-socket"],
                      v["message"])
        self.assertEqual([n for n in self.published() if "hubengine" in n or
                          n.startswith(".tmp-job-")], [])


class EngineLimit(EngineHubCase):
    """docker-max-image-size holds on the engine path too: the pull stops
    once the layers the daemon announced are over it."""
    ENGINE = {"docker-engine": "default", "docker-max-image-size": "1M"}

    def test_pull_over_the_image_size_limit(self):
        from ocireg import Image, make_tar
        img = Image([(make_tar([("big", os.urandom(3 << 20))]), "gzip")])
        self.reg.push_image("hub/big", "v1", img)
        ref = "%s/hub/big:v1" % self.reg.host
        st, v = self.post({"image": ref})
        self.assertEqual(st, 500, v)
        self.assertIn("image layers over the limit: ", v["message"])
        self.assertIn("bytes > docker-max-image-size 1048576", v["message"])
        self.assertFalse([n for n in self.published() if "big" in n])
        self.assertFalse(self.dockerd.has_image(ref))
        self.assertEqual(self.dockerd.containers(), [])


class EngineSlow(EngineHubCase):
    """The daemon pulls from a registry that sends its layer slowly: the
    job stops at job-max-duration, publishes nothing, leaves no container."""
    ENGINE = {"docker-engine": "default", "job-max-duration": "3"}

    def test_slow_pull_stops_at_job_max_duration(self):
        from ocireg import BlobServer, Image, Registry, make_tar
        with TempDir() as tmp, BlobServer(rate=64 * 1024) as blobs:
            reg = Registry(tmp, redirect="http://localhost:%d/" % blobs.port)
            blobs.root = reg.storage
            with reg:
                img = Image([(make_tar([("big", os.urandom(2 << 20))]), "gzip")])
                reg.push_image("slow/app", "v1", img)
                t = time.time()
                st, v = self.post({"image": "%s/slow/app:v1" % reg.host})
                self.assertEqual(st, 500, v)
                self.assertIn("the job ran longer than job-max-duration (3 s)", v["message"])
                self.assertLess(time.time() - t, 20)
                self.assertTrue(blobs.requests, "the daemon never reached the blobs")
                self.assertFalse([n for n in self.published() if "slow" in n])
                self.assertEqual(self.dockerd.containers(), [])


if __name__ == "__main__":
    run_tests()
