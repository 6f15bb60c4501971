#!/usr/bin/env python3
"""Fault-injecting HTTP peer for download_test.sh (Python 3 stdlib only).

usage: dl_fault.py PORTFILE LOGFILE relay HOST:PORT MIN MAX SEED
       dl_fault.py PORTFILE LOGFILE serve FILE FAULT [SEED]

relay: forward each connection to HOST:PORT (nginx; bytes as they come, so
       TLS passes through) and cut it after N bytes from the server, N drawn
       uniformly from [MIN, MAX] per connection.
serve: answer GETs for FILE itself (Range supported, ETag "v1"), with FAULT:
  spaces    Content-Range written "bytes = A - B / T"; every answer cut at random
  norange   Range ignored (200, whole file); the first 2 answers cut mid-body
  badrange  a Range request gets a 206 whose Content-Range starts one byte late
  truncate  the first 3 answers announce the full length and send half of it
  stall     headers and 1000 body bytes, then silence
Every connection appends "BYTES_SENT" (all bytes written to the client) to
LOGFILE.  The listening port (on 127.0.0.1) is written to PORTFILE.
"""
import os
import random
import re
import select
import socket
import socketserver
import sys
import threading
import time

PORTFILE, LOGFILE, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
ARGS = sys.argv[4:]
lock = threading.Lock()
state = {"conn": 0}
rng = random.Random(int(ARGS[3] if MODE == "relay" else (ARGS[2] if len(ARGS) > 2 else 1)))


def log_sent(n):
    with lock:
        with open(LOGFILE, "a") as f:
            f.write("%d\n" % n)


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data


class Relay(socketserver.BaseRequestHandler):
    def handle(self):
        host, port = ARGS[0].rsplit(":", 1)
        with lock:
            limit = rng.randint(int(ARGS[1]), int(ARGS[2]))
        up = socket.create_connection((host, int(port)))
        sent = 0
        # until either side closes or the cut: a keep-alive upstream would
        # otherwise hold the connection (and the count) open
        try:
            while sent < limit:
                ready, _, _ = select.select([up, self.request], [], [], 30)
                if not ready:
                    break
                if self.request in ready:
                    data = self.request.recv(65536)
                    if not data:
                        break
                    up.sendall(data)
                if up in ready:
                    chunk = up.recv(min(65536, limit - sent))
                    if not chunk:
                        break
                    self.request.sendall(chunk)
                    sent += len(chunk)
        except OSError:
            pass
        finally:
            up.close()
            log_sent(sent)


class Serve(socketserver.BaseRequestHandler):
    def handle(self):
        req = read_request(self.request)
        if req is None:
            return
        with lock:
            state["conn"] += 1
            conn = state["conn"]
            cut = rng.randint(1, 300000)
        body = open(ARGS[0], "rb").read()
        total, fault = len(body), ARGS[1]
        m = re.search(rb"\r\nRange:\s*bytes=(\d+)-", req, re.I)
        start = int(m.group(1)) if m and fault != "norange" else 0
        if start >= total and m and fault != "norange":
            head = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n"
            payload = b""
        elif m and fault != "norange":
            first = start + 1 if fault == "badrange" else start
            cr = ("bytes = %d - %d / %d" if fault == "spaces" else "bytes %d-%d/%d") % (
                first, total - 1, total)
            head = "HTTP/1.1 206 Partial Content\r\nContent-Range: %s\r\n" % cr
            payload = body[start:]
            head += "Content-Length: %d\r\n" % len(payload)
        else:
            head = "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % total
            payload = body
        head += 'ETag: "v1"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n'
        send = len(payload)
        if fault == "spaces" or (fault == "norange" and conn <= 2):
            send = min(send, cut)
        elif fault == "badrange" and not m:
            send = min(send, 100000)
        elif fault == "truncate" and conn <= 3:
            send //= 2
        elif fault == "stall":
            send = min(send, 1000)
        out = head.encode() + payload[:send]
        try:
            self.request.sendall(out)
            if fault == "stall":
                time.sleep(60)
        except OSError:
            pass
        log_sent(len(out))


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = Server(("127.0.0.1", 0), Relay if MODE == "relay" else Serve)
tmp = PORTFILE + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(tmp, PORTFILE)
srv.serve_forever()
