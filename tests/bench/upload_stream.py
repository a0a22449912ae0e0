#!/usr/bin/env python3
"""upload_stream.py - streams a multipart upload of SIZE zero bytes (a part
named "file") to URL without holding it in memory; prints status and time.
usage: upload_stream.py URL SIZE_BYTES [FILENAME]"""
import http.client
import sys
import time
import urllib.parse


def main():
    url, size = sys.argv[1], int(sys.argv[2])
    filename = sys.argv[3] if len(sys.argv) > 3 else "big.tar.gz"
    u = urllib.parse.urlsplit(url)
    b = "benchboundary7f3a"
    head = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (b, filename)).encode()
    tail = ("\r\n--%s--\r\n" % b).encode()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.time()
    conn.putrequest("POST", u.path + ("?" + u.query if u.query else ""))
    conn.putheader("Content-Type", "multipart/form-data; boundary=" + b)
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    block = b"\0" * (1 << 20)
    left = size
    while left:
        n = min(left, len(block))
        conn.send(block[:n])
        left -= n
    conn.send(tail)
    resp = conn.getresponse()
    body = resp.read()
    print("upload: HTTP %d in %.1f s (%.0f MiB/s): %s" % (resp.status, time.time() - t0,
          size / (1 << 20) / (time.time() - t0), body.decode()[:120].strip()))


if __name__ == "__main__":
    main()
