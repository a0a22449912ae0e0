#!/usr/bin/env python3
"""End-to-end tests of the bounds of a job (issue 12, items 1 and 4) on a
whole hub: api, worker, queue Redis and a content backend.

* Expansion: a sparse tar declaring 100 GB, a nested gzip, a stream of pax
  headers, too many entries, too deep a tree: each job fails with 413 and a
  message naming the limit, within seconds, nothing is published, and the
  worker's other slot goes on with a normal upload meanwhile.
* Sparse archives under the limits (GNU and pax formats) build without
  reading their holes and read back byte for byte.
* Quotas: bytes stored per job and per user and day, and /metrics'
  hub_backend_stored_bytes_total per user.
* Time: a job whose content backend is down does not wait past
  job-max-duration.
"""
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_worker import fetch_tree, make_tar  # noqa: E402
from test_worker_api import ME, HubCase  # noqa: E402

MIB = 1 << 20


def gnu_tar(src_dir, names, out, fmt="gnu"):
    """A .tar.gz of src_dir/names made by GNU tar --sparse (holes stored as
    a sparse map, not as zeros)."""
    subprocess.run(["tar", "--sparse", "--format=" + fmt, "-czf", out, "-C", src_dir] + names,
                   check=True)
    with open(out, "rb") as f:
        return f.read()


def sparse_file(path, size, pieces):
    """A file of `size` bytes with data only at the given (offset, bytes)."""
    with open(path, "wb") as f:
        for off, data in pieces:
            f.seek(off)
            f.write(data)
        f.truncate(size)


def gzip_bytes(data, level=9):
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def pax_bomb(n, record_len=900 * 1024):
    """A tar stream of n empty files, each behind a pax header of
    record_len bytes (a "comment" record): it expands without any file
    content."""
    head = b"%d comment=" % record_len
    record = head + b"A" * (record_len - len(head) - 1) + b"\n"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for i in range(n):
            t.addfile(tarfile.TarInfo("f%d" % i))
    plain = out.getvalue()
    # splice a raw 'x' header + record before each member
    info = tarfile.TarInfo("pax")
    info.type, info.size = tarfile.XHDTYPE, len(record)
    x = info.tobuf(format=tarfile.USTAR_FORMAT) + record
    blocks, res = [plain[i:i + 512] for i in range(0, len(plain), 512)], []
    for b in blocks:
        if b[257:262] == b"ustar" and b[156:157] == b"0":
            res.append(x)
        res.append(b)
    return b"".join(res)


class Limits(HubCase):
    CONFIG = {"job-max-expanded-size": "64M", "job-max-entries": "1000",
              "job-max-depth": "20", "worker-jobs": "2"}

    def refused(self, filename, data, message, within=10):
        """The upload's job fails with 413 and `message` (after the file
        name) within `within` seconds; nothing is published."""
        t0 = time.time()
        job = self.upload_async(filename, data)
        took = time.time() - t0
        self.assertEqual((job["state"], job["error_code"], job["error_status"]),
                         ("failed", "too_large", 413), job)
        self.assertEqual(job["error"], f"{filename}: {message}")
        self.assertLess(took, within)
        name = filename.split(".")[0] + ".flist"
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, name)))
        print(f"  {filename}: {len(data)} bytes refused in {took:.2f} s", file=sys.stderr)

    def test_sparse_declaring_100_GB(self):
        d = os.path.join(self.api.root, "sparse100")
        os.makedirs(d)
        sparse_file(os.path.join(d, "big"), 100 << 30, [(5 << 30, b"x")])
        data = gnu_tar(d, ["big"], os.path.join(d, "big.tar.gz"))
        self.assertLess(len(data), 4096)
        self.refused("big.tar.gz", data,
                     "entry 'big': the files hold more than the limit of 67108864 bytes")

    def test_nested_gzip(self):
        inner = make_tar([("zeros", bytes(256 * MIB))])
        data = gzip_bytes(inner)   # a gzip of a tar.gz
        self.assertLess(len(data), 400 << 10)
        self.refused("nested.tar.gz", data,
                     "entry 'zeros': the files hold more than the limit of 67108864 bytes")

    def test_stream_of_headers(self):
        data = gzip_bytes(pax_bomb(100))      # 88 MiB of pax records, no content
        self.assertLess(len(data), 400 << 10)
        self.refused("headers.tar.gz", data,
                     "the archive expands to more than the limit of 67108864 bytes")

    def test_entries_and_depth(self):
        many = make_tar([("d/f%d" % i, b"") for i in range(1200)])
        self.refused("many.tar.gz", many, "more entries than the limit of 1000")
        deep = "/".join(["d"] * 25)
        self.refused("deep.tar.gz", make_tar([(deep, b"x")]),
                     "entry '%s': deeper than the limit of 20 levels" % deep)

    def test_other_slot_carries_on(self):
        """A refused job and a normal one run side by side on the worker's
        two slots; the normal one publishes, the worker lives on."""
        d = os.path.join(self.api.root, "side")
        os.makedirs(d)
        sparse_file(os.path.join(d, "big"), 100 << 30, [])
        bomb = gnu_tar(d, ["big"], os.path.join(d, "side.tar.gz"))
        jobs = []
        for name, data in (("side.tar.gz", bomb), ("normal.tar.gz", make_tar([("ok", b"fine")]))):
            status, _, body = self.post_file("/api/flist/me/upload?async=1", name, data)
            self.assertEqual(status, 202, body)
            jobs.append(json.loads(body)["payload"]["job"])
        bomb_job, normal_job = (self.wait_job(j) for j in jobs)
        self.assertEqual((bomb_job["state"], bomb_job["error_status"]), ("failed", 413))
        self.assertEqual(normal_job["state"], "done", normal_job)
        self.assertEqual(self.fetch(os.path.join(self.api.public, ME, "normal.flist")),
                         {"/ok": b"fine"})
        self.assertIsNone(self.worker.proc.poll())

    def test_sparse_under_the_limits_reads_back(self):
        """GNU and pax sparse archives: holes are never read (a 60 MiB file
        of holes builds in well under a second) and the content reads back
        byte for byte, trailing hole included."""
        d = os.path.join(self.api.root, "sparse")
        os.makedirs(d)
        pieces = [(1000, b"A" * 5000), (3 * 524288 + 17, os.urandom(700000)),
                  (10 * 524288, b"B"), (20 * 524288 - 3, b"xyz")]
        sparse_file(os.path.join(d, "mix"), 60 * MIB + 123, pieces)
        sparse_file(os.path.join(d, "holes"), 3 * MIB, [])
        want = {}
        for name in ("mix", "holes"):
            with open(os.path.join(d, name), "rb") as f:
                want["/" + name] = f.read()
        for fmt in ("gnu", "posix"):
            filename = f"sparse-{fmt}.tar.gz"
            data = gnu_tar(d, ["mix", "holes"], os.path.join(d, filename), fmt)
            t0 = time.time()
            job = self.upload_async(filename, data)
            took = time.time() - t0
            self.assertEqual(job["state"], "done", job)
            self.assertLess(took, 10)
            print(f"  {filename}: {len(data)} bytes -> 63 MiB of files in {took:.2f} s",
                  file=sys.stderr)
            got = self.fetch(os.path.join(self.api.public, ME, f"sparse-{fmt}.flist"))
            self.assertEqual(got.keys(), want.keys())
            for k in want:
                self.assertTrue(got[k] == want[k], f"{fmt}: {k} differs")


def random_tar(name, size):
    """A tar.gz of one file of `size` random (incompressible) bytes."""
    return make_tar([(name, os.urandom(size))])


class Quotas(HubCase):
    CONFIG = {"quota-job-stored": "1M", "quota-user-stored-per-day": "1536K"}
    DAY_QUOTA = 1536 * 1024

    def day_key(self):
        return "hub:usage:%s:%s" % (time.strftime("%Y%m%d", time.gmtime()), ME)

    def stored_total(self):
        """hub_backend_stored_bytes_total of ME in /metrics (0 when absent)."""
        _, _, text = self.api.request("GET", "/metrics")
        for line in text.decode().splitlines():
            if line.startswith('hub_backend_stored_bytes_total{user="%s"}' % ME):
                return int(line.split()[-1])
        return 0

    def test_quotas(self):
        # over the job quota (2 MiB of new chunks)
        job = self.upload_async("a.tar.gz", random_tar("a", 2 * MIB))
        self.assertEqual((job["state"], job["error_status"]), ("failed", 413), job)
        self.assertEqual(job["error"], "a.tar.gz: the job stores more than 1048576 bytes on the "
                         "backend (quota-job-stored)")
        total = self.stored_total()
        self.assertLessEqual(total, MIB)
        self.assertEqual(int(self.queue.cmd("HGET", "hub:usage:stored", ME) or 0), total)
        self.assertEqual(int(self.queue.cmd("GET", self.day_key()) or 0), total)

        # within the job quota: done, and counted
        job = self.upload_async("b.tar.gz", random_tar("b", 600 << 10))
        self.assertEqual(job["state"], "done", job)
        after_b = self.stored_total()
        self.assertGreaterEqual(after_b - total, 600 << 10)
        self.assertLess(after_b - total, (600 << 10) + 4096)

        # the day's rest is smaller than the job quota: it bounds the job
        self.queue.cmd("SET", self.day_key(), str(self.DAY_QUOTA - 300000))
        job = self.upload_async("c.tar.gz", random_tar("c", 600 << 10))
        self.assertEqual(job["error"], "c.tar.gz: the job stores more than 300000 bytes on the "
                         "backend (quota-user-stored-per-day)")

        # the day is spent: refused before reading the archive
        self.queue.cmd("SET", self.day_key(), str(self.DAY_QUOTA))
        job = self.upload_async("d.tar.gz", make_tar([("d", b"tiny")]))
        self.assertEqual(job["error"], f"d.tar.gz: {ME} stored {self.DAY_QUOTA} bytes today, its "
                         f"quota is {self.DAY_QUOTA} bytes a day (quota-user-stored-per-day)")
        self.assertEqual(job["error_status"], 413)
        self.assertFalse(os.path.exists(os.path.join(self.api.public, ME, "d.flist")))


class QuotasZdb(Quotas):
    """The same on 0-db, the production content backend."""
    KIND = "zdb"


class Duration(HubCase):
    """The content backend is down and the retry backoff is longer than
    job-max-duration: the job fails at once instead of waiting."""
    CONFIG = {"job-max-duration": "2", "worker-backend-retries": "5",
              "worker-backend-backoff-ms": "5000"}

    def test_backend_down_within_time(self):
        self.backend.stop()
        t0 = time.time()
        job = self.upload_async("t.tar.gz", make_tar([("t", b"time")]))
        took = time.time() - t0
        self.assertEqual(job["state"], "failed", job)
        self.assertTrue(job["error"].startswith(
            "t.tar.gz: content backend unavailable until the job's time limit of 2 s: "), job)
        self.assertLess(took, 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
