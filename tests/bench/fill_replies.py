#!/usr/bin/env python3
"""Reads the contents of every flist of the spread fixture once, so that
the api puts every reply into the shared reply store (as workers do when
they publish). usage: fill_replies.py BASE_URL REPOS FLISTS"""
import http.client
import sys
import urllib.parse

base, repos, flists = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
bad = 0
for r in range(repos):
    for f in range(flists):
        conn.request("GET", "/api/flist/repo%04d/flist%02d" % (r, f))
        resp = conn.getresponse()
        resp.read()
        bad += resp.status != 200
print("   reply store filled: %d flists read, %d errors" % (repos * flists, bad))
sys.exit(1 if bad else 0)
