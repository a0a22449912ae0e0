#!/usr/bin/env python3
"""End-to-end tests of flist-hub-worker: delivery guarantees.

kill -9 of a worker in the middle of a large upload (another worker
finishes it, exactly one flist, no .tmp- left), SIGTERM (finish, or hand
back after the grace period), Redis restarted with AOF appendfsync always
(no job lost), content backend stopped then started again, long jobs kept
by their heartbeats (two at once in one worker), a full disk (RLIMIT_FSIZE),
job-ttl, dead-lettering after K deliveries (spool and staging removed), and
two workers running 20 uploads of 5 users at once; a 0-db content backend
killed, restarted and paused in the middle of a job.
Helpers (Hub, make_tar, ...) come from test_worker.py.
"""
import io
import json
import os
import random
import signal
import sys
import tarfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_worker import Hub, flist_cmd, flist_json, make_tar, wait_gone  # noqa: E402

BIG_FILES = 64
BIG_FILE_SIZE = 2 * 1024 * 1024      # 128 MiB in all: about 2 s to build


def big_tar():
    r = random.Random(11)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for i in range(BIG_FILES):
            ti = tarfile.TarInfo(f"data/f{i:03d}.bin")
            ti.size = BIG_FILE_SIZE
            t.addfile(ti, io.BytesIO(r.randbytes(BIG_FILE_SIZE)))
    return buf.getvalue()


def restart_redis(server):
    """kill -9 then start again on the same port and directory."""
    server.kill()
    server.start()


def wait_running(hub, jid, timeout=30):
    """Waits until the job runs with progress above 0; returns the hash."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = hub.job(jid)
        if j.get("state") == "running" and int(j.get("progress", "0")) > 0:
            return j
        if j.get("state") in ("done", "failed"):
            raise AssertionError(f"job ended before it was seen running: {j}")
        time.sleep(0.01)
    raise AssertionError(f"job {jid} never ran: {hub.job(jid)}")


def owner_pid(hub, jid):
    """pid of the worker whose consumer holds the job's entry."""
    for entry, consumer, idle, n in hub.redis(["XPENDING", "hub:jobs", "workers", "-", "+", "10"])[0]:
        return int(consumer.decode().split(":")[-2])
    raise AssertionError("no pending entry")


class Reliability(unittest.TestCase):
    def setUp(self):
        self.hub = None

    def tearDown(self):
        if self.hub:
            self.hub.close()

    def check_one_flist(self, repo, name, spool):
        hub = self.hub
        self.assertEqual(hub.repo_entries(repo), [name])     # exactly one, no .tmp-
        self.assertTrue(wait_gone(spool))
        path = hub.published(repo, name)
        chk = flist_json("check", "--backend", hub.backend_url(), "--json", path)
        self.assertEqual((chk["regular"], chk["failure"]), (BIG_FILES, 0))
        sizes = {e["path"]: e["size"] for e in chk["content"] if e["path"].endswith(".bin")}
        self.assertEqual(len(sizes), BIG_FILES)
        self.assertEqual(set(sizes.values()), {BIG_FILE_SIZE})

    def test_kill9_mid_job_other_worker_finishes(self):
        self.hub = hub = Hub(env={"HUB_WORKER_JOBS": "1", "HUB_WORKER_THREADS": "1"})
        w1 = hub.start_worker()
        w2 = hub.start_worker()
        jid, spool = hub.upload_job("alice", "big.flist", big_tar(), filename="big.tar")
        j = wait_running(hub, jid)
        victim = owner_pid(hub, jid)
        self.assertIn(victim, (w1.pid, w2.pid))
        (w1 if w1.pid == victim else w2).send_signal(signal.SIGKILL)
        survivor = w2 if w1.pid == victim else w1
        j = hub.wait_job(jid, timeout=120)
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["attempts"], "2", j)
        self.assertIsNone(survivor.poll())
        self.assertIn(f"job {jid}: reclaimed from an idle worker", hub.worker_log(survivor))
        self.check_one_flist("alice", "big.flist", spool)
        result = json.loads(j["result"])
        self.assertEqual(result["files"]["response"]["regular"], BIG_FILES)
        finals = [e for e, final in hub.events(jid) if final]
        self.assertEqual(len(finals), 1)

    def test_taken_over_job_is_abandoned_not_published(self):
        """A worker whose job was claimed by another consumer (its heartbeat
        lapsed) stops without publishing or recording anything; the job is
        finished once, later, by its new owner."""
        self.hub = hub = Hub(env={"HUB_WORKER_JOBS": "1", "HUB_WORKER_THREADS": "1"})
        w = hub.start_worker()
        jid, spool = hub.upload_job("gus", "big.flist", big_tar(), filename="big.tar")
        wait_running(hub, jid)
        entry = hub.redis(["XPENDING", "hub:jobs", "workers", "-", "+", "1"])[0][0][0]
        hub.redis(["XCLAIM", "hub:jobs", "workers", "ghost", "0", entry])
        deadline = time.time() + 30
        while "handed back" not in hub.worker_log(w) and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn(f"job {jid}: taken over by another worker; handed back", hub.worker_log(w))
        self.assertFalse(os.path.exists(hub.published("gus", "big.flist")))
        self.assertTrue(os.path.exists(spool))
        self.assertEqual(hub.job(jid)["state"], "running")
        # the ghost never heartbeats: the worker reclaims the job and ends it
        j = hub.wait_job(jid, timeout=120)
        self.assertEqual((j["state"], j["attempts"]), ("done", "2"))
        self.check_one_flist("gus", "big.flist", spool)
        self.assertEqual(len([e for e, final in hub.events(jid) if final]), 1)

    def test_sigterm_finishes_running_job(self):
        self.hub = hub = Hub(env={"HUB_WORKER_JOBS": "1", "HUB_WORKER_THREADS": "1"})
        w = hub.start_worker()
        jid, spool = hub.upload_job("bob", "big.flist", big_tar(), filename="big.tar")
        wait_running(hub, jid)
        w.send_signal(signal.SIGTERM)
        later, later_spool = hub.upload_job("bob", "later.flist", make_tar([("x", b"1")]))
        self.assertEqual(w.wait(timeout=60), 0)
        j = hub.job(jid)
        self.assertEqual((j["state"], j["attempts"]), ("done", "1"))
        self.check_one_flist("bob", "big.flist", spool)
        self.assertEqual(hub.job(later)["state"], "queued")   # no new job taken
        self.assertTrue(os.path.exists(later_spool))
        self.assertIn("taking no new job", hub.worker_log(w))

    def test_sigterm_hands_back_after_grace(self):
        self.hub = hub = Hub(env={"HUB_WORKER_JOBS": "1", "HUB_WORKER_THREADS": "1"})
        w = hub.start_worker(env={"HUB_SHUTDOWN_GRACE": "0"})
        jid, spool = hub.upload_job("carl", "big.flist", big_tar(), filename="big.tar")
        wait_running(hub, jid)
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(timeout=30), 0)
        self.assertIn("handed back", hub.worker_log(w))
        self.assertEqual(hub.job(jid)["state"], "running")
        self.assertFalse(os.path.exists(hub.published("carl", "big.flist")))
        hub.start_worker()
        j = hub.wait_job(jid, timeout=120)
        self.assertEqual((j["state"], j["attempts"]), ("done", "2"))
        self.check_one_flist("carl", "big.flist", spool)

    def test_redis_restart_loses_no_job(self):
        self.hub = hub = Hub(queue_args=["--appendonly", "yes", "--appendfsync", "always"])
        w = hub.start_worker()            # creates the consumer group
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(timeout=30), 0)
        jobs = [hub.upload_job("dora", f"j{i}.flist", make_tar([(f"f{i}", b"n%d" % i)]))
                for i in range(6)]
        restart_redis(hub.queue)          # queued jobs survive (AOF, fsync always)
        hub.start_worker()
        for i, (jid, spool) in enumerate(jobs):
            j = hub.wait_job(jid)
            self.assertEqual(j["state"], "done", j)
            self.assertEqual(hub.fetch_tree(hub.published("dora", f"j{i}.flist")),
                             {f"/f{i}": b"n%d" % i})
        # the running worker reconnects after another restart
        restart_redis(hub.queue)
        more = [hub.upload_job("dora", f"k{i}.flist", make_tar([("k", b"%d" % i)]))
                for i in range(3)]
        for jid, spool in more:
            self.assertEqual(hub.wait_job(jid)["state"], "done")
        self.assertEqual(len(hub.repo_entries("dora")), 9)
        self.assertEqual(hub.redis(["XPENDING", "hub:jobs", "workers"])[0][0], 0)

    def test_backend_down_then_up(self):
        self.hub = hub = Hub(env={"HUB_WORKER_BACKEND_RETRIES": "3",
                                  "HUB_WORKER_BACKEND_BACKOFF_MS": "200"})
        hub.start_worker()
        hub.backend.kill()
        jid, spool = hub.upload_job("eve", "a.flist", make_tar([("a", b"1")]))
        t0 = time.time()
        j = hub.wait_job(jid)
        self.assertEqual(j["state"], "failed")
        self.assertGreaterEqual(time.time() - t0, 0.55)    # 200 + 400 ms of backoff
        self.assertEqual(j["error"],
                         f"archive.tar.gz: content backend unavailable after 3 attempts: "
                         f"backend 127.0.0.1:{hub.backend.port}: connection refused")
        msgs = [e.get("message") for e, _ in hub.events(jid)]
        self.assertIn("Waiting for the content backend (attempt 2 of 3)", msgs)
        self.assertIn("Waiting for the content backend (attempt 3 of 3)", msgs)
        self.assertEqual(hub.repo_entries("eve"), [])
        self.assertTrue(wait_gone(spool))
        # upload-flist too
        spool2 = hub.spool(b"\x00" * 10, ".flist")
        j = hub.wait_job(hub.create_job("upload-flist", "eve", {"file": spool2, "name": "x.flist"}))
        self.assertEqual(j["state"], "failed")
        self.assertTrue(j["error"].startswith("invalid flist"), j["error"])
        # backend back: a new job succeeds
        hub.backend.start()
        jid, spool = hub.upload_job("eve", "b.flist", make_tar([("b", b"2")]))
        self.assertEqual(hub.wait_job(jid)["state"], "done")
        self.assertEqual(hub.fetch_tree(hub.published("eve", "b.flist")), {"/b": b"2"})

    def zdb_hub_with_running_upload(self, retries, backoff_ms):
        """A hub on 0-db with a 128 MiB upload running; returns (hub, jid, spool)."""
        self.hub = hub = Hub(backend_kind="zdb",
                             env={"HUB_WORKER_JOBS": "1", "HUB_WORKER_THREADS": "1",
                                  "HUB_WORKER_BACKEND_RETRIES": str(retries),
                                  "HUB_WORKER_BACKEND_BACKOFF_MS": str(backoff_ms)})
        hub.start_worker()
        jid, spool = hub.upload_job("zoe", "big.flist", big_tar(), filename="big.tar")
        wait_running(hub, jid)
        return hub, jid, spool

    def test_zdb_killed_mid_job_retries_then_fails(self):
        hub, jid, spool = self.zdb_hub_with_running_upload(3, 200)
        hub.backend.kill()
        j = hub.wait_job(jid, timeout=60)
        self.assertEqual(j["state"], "failed", j)
        self.assertEqual(j["error"], f"big.tar: content backend unavailable after 3 attempts: "
                                     f"backend 127.0.0.1:{hub.backend.port}: connection refused")
        msgs = [e.get("message") for e, _ in hub.events(jid)]
        self.assertIn("Waiting for the content backend (attempt 3 of 3)", msgs)
        self.assertEqual(hub.repo_entries("zoe"), [])
        self.assertTrue(wait_gone(spool))

    def test_zdb_restarted_mid_job_job_finishes(self):
        hub, jid, spool = self.zdb_hub_with_running_upload(5, 500)
        hub.backend.kill()
        time.sleep(0.3)
        hub.backend.start()               # same port, same data
        j = hub.wait_job(jid, timeout=120)
        self.assertEqual(j["state"], "done", j)
        msgs = [e.get("message") for e, _ in hub.events(jid)]
        self.assertIn("Waiting for the content backend (attempt 2 of 5)", msgs)
        self.check_one_flist("zoe", "big.flist", spool)
        chk = flist_json("check", "--backend", hub.backend_url(), "--json",
                         hub.published("zoe", "big.flist"))
        self.assertEqual(chk["missing"], [])

    def test_zdb_paused_mid_job_job_finishes(self):
        """SIGSTOP: connections are still accepted by the kernel but nothing
        answers; the client's timeout turns it into a retry, and the job
        finishes once 0-db runs again."""
        hub, jid, spool = self.zdb_hub_with_running_upload(5, 500)
        hub.backend.pause()
        waiting = "Waiting for the content backend (attempt 2 of 5)"
        deadline = time.time() + 30       # the backend client's 5 s timeout, then backoff
        try:
            while time.time() < deadline:
                if waiting in [e.get("message") for e, _ in hub.events(jid)]:
                    break
                time.sleep(0.1)
        finally:
            hub.backend.resume()
        self.assertIn(waiting, [e.get("message") for e, _ in hub.events(jid)])
        j = hub.wait_job(jid, timeout=120)
        self.assertEqual(j["state"], "done", j)
        self.check_one_flist("zoe", "big.flist", spool)

    def test_disk_full(self):
        """Writes of the flist fail (RLIMIT_FSIZE: EFBIG, as ENOSPC would):
        the job fails with the reason, nothing is published, nothing is
        left, the worker lives on and runs the next job."""
        self.hub = hub = Hub(env={"HUB_LOG_LEVEL": "info"})
        w = hub.start_worker(fsize_limit=64 * 1024)
        entries = [(f"d{i % 50:02d}/file-with-a-rather-long-name-{i:05d}.txt", b"%d" % i)
                   for i in range(4000)]                  # an flist of about 160 KiB
        jid, spool = hub.upload_job("hal", "many.flist", make_tar(entries), filename="many.tar.gz")
        j = hub.wait_job(jid)
        self.assertEqual(j["state"], "failed", j)
        self.assertTrue(j["error"].startswith("many.tar.gz: "), j["error"])
        self.assertIn("File too large", j["error"])
        self.assertNotIn(hub.root, j["error"])            # no server paths for users
        self.assertEqual(hub.events(jid)[-1], ({"status": "error", "message": j["error"]}, True))
        self.assertTrue(wait_gone(spool))
        self.assertEqual(hub.repo_entries("hal"), [])       # nothing partial, no .tmp-
        self.assertIsNone(w.poll())
        jid, spool = hub.upload_job("hal", "small.flist", make_tar([("a", b"1")]))
        self.assertEqual(hub.wait_job(jid)["state"], "done")
        self.assertEqual(hub.repo_entries("hal"), ["small.flist"])
        self.assertEqual(hub.fetch_tree(hub.published("hal", "small.flist")), {"/a": b"1"})

    def test_long_jobs_heartbeat_two_at_once(self):
        """One worker runs two jobs at once (worker-jobs 2); they last much
        longer than job-reclaim-idle (waiting for the content backend,
        heartbeats going on), and the idle second worker never takes them
        over; when the backend is back both finish on their first delivery."""
        self.hub = hub = Hub(env={"HUB_WORKER_BACKEND_RETRIES": "6",
                                  "HUB_WORKER_BACKEND_BACKOFF_MS": "500"})
        hub.backend.kill()
        w1 = hub.start_worker()
        jobs = [hub.upload_job("ida", f"l{i}.flist", make_tar([(f"f{i}", b"long %d" % i)]))
                for i in range(2)]
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(hub.job(jid)["state"] == "running" for jid, _ in jobs):
                break
            time.sleep(0.02)
        pending = hub.redis(["XPENDING", "hub:jobs", "workers", "-", "+", "10"])[0]
        self.assertEqual(len(pending), 2)
        self.assertEqual({int(c.decode().split(":")[-2]) for _, c, _, _ in pending}, {w1.pid})
        self.assertEqual(len({c for _, c, _, _ in pending}), 2)   # two slots
        w2 = hub.start_worker()
        time.sleep(5)                     # 2.5 x job-reclaim-idle
        for jid, _ in jobs:
            self.assertEqual(hub.job(jid)["state"], "running")
        hub.backend.start()
        for i, (jid, spool) in enumerate(jobs):
            j = hub.wait_job(jid, timeout=30)
            self.assertEqual((j["state"], j["attempts"]), ("done", "1"), j)
            self.assertGreaterEqual(int(j["finished"]) - int(j["started"]), 4)
            self.assertEqual(hub.fetch_tree(hub.published("ida", f"l{i}.flist")),
                             {f"/f{i}": b"long %d" % i})
            self.assertTrue(wait_gone(spool))
            msgs = [e["message"] for e, _ in hub.events(jid) if e["status"] == "update"]
            self.assertIn("Waiting for the content backend (attempt 4 of 6)", msgs)
        self.assertNotIn("reclaimed", hub.worker_log(w2))
        self.assertEqual(hub.worker_log(w1).count(": done in "), 2)

    def test_job_ttl_setting(self):
        """job-ttl: the hash and the events of an ended job (done or failed)
        expire that long after the end."""
        self.hub = hub = Hub(env={"HUB_JOB_TTL": "60"})
        hub.start_worker()
        ok, _ = hub.upload_job("jon", "ok.flist", make_tar([("a", b"1")]))
        bad, _ = hub.upload_job("jon", "bad.flist", b"not an archive" * 10)
        self.assertEqual(hub.wait_job(ok)["state"], "done")
        self.assertEqual(hub.wait_job(bad)["state"], "failed")
        for jid in (ok, bad):
            for key in (f"hub:job:{jid}", f"hub:job:{jid}:events"):
                ttl = hub.redis(["TTL", key])[0]
                self.assertTrue(55 <= ttl <= 60, (key, ttl))

    def test_dead_letter_after_max_deliveries(self):
        self.hub = hub = Hub()
        hub.redis(["XGROUP", "CREATE", "hub:jobs", "workers", "0", "MKSTREAM"])
        jid, spool = hub.upload_job("finn", "d.flist", make_tar([("a", b"1")]))
        got = hub.redis(["XREADGROUP", "GROUP", "workers", "ghost", "COUNT", "1",
                         "STREAMS", "hub:jobs", ">"])[0]
        entry = got[0][1][0][0]
        # a consumer that died three times with it, leaving a staging directory
        hub.redis(["XCLAIM", "hub:jobs", "workers", "ghost", "0", entry, "RETRYCOUNT", "3"])
        stale = os.path.join(hub.public, "finn", f".tmp-job-{jid}-99999-99999")
        os.makedirs(stale)
        with open(os.path.join(stale, "out.flist"), "wb") as f:
            f.write(b"half an flist")
        w = hub.start_worker()
        j = hub.wait_job(jid, timeout=30)
        self.assertEqual((j["state"], j["error"]), ("failed", "job abandoned after 3 deliveries"))
        self.assertNotIn("started", j)                     # never run again
        self.assertEqual(j["attempts"], "0")
        dead = hub.redis(["XRANGE", "hub:jobs:dead", "-", "+"])[0]
        self.assertEqual(len(dead), 1)
        self.assertEqual([s.decode() for s in dead[0][1]],
                         ["id", jid, "entry", entry.decode(), "deliveries", "4",
                          "reason", "job abandoned after 3 deliveries"])
        self.assertEqual(hub.events(jid), [({"status": "error",
                                             "message": "job abandoned after 3 deliveries"}, True)])
        self.assertEqual(hub.redis(["XPENDING", "hub:jobs", "workers"])[0][0], 0)
        # what the job left is removed: spool, staging directory
        self.assertTrue(wait_gone(spool), "spool of a dead-lettered job left behind")
        self.assertEqual(hub.repo_entries("finn"), [])
        self.assertIn(f"job {jid}: job abandoned after 3 deliveries: dead-lettered",
                      hub.worker_log(w))
        # one whose end was recorded (only the ack was lost) is acked, not dead-lettered
        w.send_signal(signal.SIGTERM)
        self.assertEqual(w.wait(timeout=30), 0)
        done, spool = hub.upload_job("finn", "e.flist", make_tar([("a", b"1")]))
        hub.redis(["HSET", "hub:job:" + done, "state", "done", "result", "{}"])
        got = hub.redis(["XREADGROUP", "GROUP", "workers", "ghost", "COUNT", "1",
                         "STREAMS", "hub:jobs", ">"])[0]
        entry = got[0][1][0][0]
        hub.redis(["XCLAIM", "hub:jobs", "workers", "ghost", "0", entry, "RETRYCOUNT", "3"])
        w = hub.start_worker()
        self.assertTrue(wait_gone(spool, timeout=20))
        deadline = time.time() + 10
        while hub.redis(["XPENDING", "hub:jobs", "workers"])[0][0] and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(hub.redis(["XPENDING", "hub:jobs", "workers"])[0][0], 0)
        self.assertEqual(len(hub.redis(["XRANGE", "hub:jobs:dead", "-", "+"])[0]), 1)
        self.assertEqual((hub.job(done)["state"], hub.job(done)["result"]), ("done", "{}"))
        self.assertEqual(hub.events(done), [])
        self.assertIn(f"job {done}: already ended; acknowledging", hub.worker_log(w))

    def test_two_workers_twenty_uploads_five_users(self):
        self.hub = hub = Hub()
        w1 = hub.start_worker()
        w2 = hub.start_worker()
        shared = random.Random(5).randbytes(700 * 1024)
        jobs = []
        for i in range(20):
            user = f"user{i % 5}"
            entries = [("shared.bin", shared), ("id.txt", f"{user} job {i}\n".encode()),
                       (f"only-{i}", random.Random(i).randbytes(1000 + i))]
            jid, spool = hub.upload_job(user, f"img{i}.flist", make_tar(entries))
            jobs.append((jid, spool, user, i, entries))
        for jid, spool, user, i, entries in jobs:
            j = hub.wait_job(jid)
            self.assertEqual(j["state"], "done", j)
            self.assertEqual(j["user"], user)
            self.assertEqual(json.loads(j["result"])["name"], f"img{i}.flist")
            got = hub.fetch_tree(hub.published(user, f"img{i}.flist"))
            self.assertEqual(got, {"/" + n: d for n, d in entries})
            self.assertTrue(wait_gone(spool))
        for u in range(5):
            self.assertEqual(hub.repo_entries(f"user{u}"),
                             sorted(f"img{i}.flist" for i in range(u, 20, 5)))
        ran = [hub.worker_log(w).count(": done in ") for w in (w1, w2)]
        self.assertEqual(sum(ran), 20)
        self.assertTrue(all(n > 0 for n in ran), ran)


if __name__ == "__main__":
    unittest.main(verbosity=2)
