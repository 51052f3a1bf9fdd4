#!/usr/bin/env python3
"""Load and measurement helpers for bench/privacy/run (standard library only).

  load   post NDJSON batches of player events from N keep-alive clients for S seconds;
         prints {"events": acknowledged, "seconds": measured, "events_per_s": …}
  fill   post EVENTS events of PLAYERS players as fast as the collector takes them (every
         player named by the same number of events, give or take one)
  erase  time POST /v1/erasures for one player and read the server's /proc I/O counters
         (--cold first drops the store's files from the page cache: the reads are then real)
  wait   wait until URL answers 200
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

NAMES = ["chat.message", "match.end", "match.start", "store.purchase", "session.ping"]


def line(rng, i, players, p=None):
    p = rng.randrange(players) if p is None else p
    name = NAMES[i % len(NAMES)]
    attrs = {"playerId": f"player-{p}", "accountId": f"acct-{p}", "sessionId": f"s-{p}-{i % 7}",
             "level": rng.randrange(100), "latencyMs": round(rng.random() * 200, 2)}
    if name == "chat.message":
        attrs["text"] = f"hello from player {p}, gg wp {rng.randrange(1 << 30)}"
        if i % 20 == 0:
            attrs["text"] += f" mail me at player{p}@example.com"
    elif name == "match.end":
        attrs["note"] = "a long note about the match that goes on and on " * 2
        attrs["peer"] = f"10.{p % 250}.{i % 250}.7"
    elif name == "store.purchase":
        attrs["sku"] = f"sku-{rng.randrange(500)}"
    return json.dumps({"event": name, "id": "#ID#-%d" % i, "game": "bench", "env": "prod",
                       "session": f"s-{p}-{i % 7}", "ts": 1795700000000 + i, "attrs": attrs},
                      separators=(",", ":"))


def template(seed, batch, players):
    rng = random.Random(seed)
    return "\n".join(line(rng, i, players) for i in range(batch)) + "\n"


def pool(batch, players, copies=2):
    """Bodies naming every player `copies` times in a shuffled order; `fill` cycles through
    them with fresh ids (drawing a body per request in Python was slower than the collector)."""
    rng = random.Random(7)
    order = [p for p in range(players) for _ in range(copies)]
    rng.shuffle(order)
    bodies = []
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        bodies.append("\n".join(line(rng, start + i, players, p) for i, p in enumerate(chunk)) + "\n")
    return bodies


def post(conn, path, body, headers):
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


class Client(threading.Thread):
    def __init__(self, idx, url, batch, players, until, count_from, limit=None, bodies=None):
        super().__init__(daemon=True)
        self.idx, self.batch, self.until, self.count_from = idx, batch, until, count_from
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path
        self.batch_size, self.players = batch, players
        # `load` reuses 4 bodies (ids made unique per request); `fill` cycles through a pool
        # naming every player (shared by the clients, each starting elsewhere in it).
        self.templates = bodies or [template(idx * 100 + k, batch, players) for k in range(4)]
        self.offset = idx * len(self.templates) // 4 if bodies else 0
        self.acked = 0
        self.limit = limit
        self.error = None

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = {"Content-Type": "application/x-ndjson"}
        n = 0
        try:
            while time.monotonic() < self.until and (self.limit is None or n < self.limit):
                text = self.templates[(self.offset + n) % len(self.templates)]
                body = text.replace("#ID#", f"c{self.idx}-{n}").encode()
                status, data = post(conn, self.path, body, headers)
                n += 1
                if status == 503:
                    time.sleep(0.05)
                    continue
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
                if time.monotonic() >= self.count_from:
                    self.acked += json.loads(data)["accepted"]
        except Exception as e:  # reported by the caller
            self.error = e


def cmd_load(a):
    start = time.monotonic()
    count_from = start + a.warmup
    until = count_from + a.seconds
    clients = [Client(i, a.url, a.batch, a.players, until, count_from) for i in range(a.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    errors = [str(c.error) for c in clients if c.error]
    if errors:
        sys.exit(f"load: {errors[0]}")
    events = sum(c.acked for c in clients)
    print(json.dumps({"events": events, "seconds": a.seconds, "events_per_s": events / a.seconds}))


def cmd_fill(a):
    per_client = -(-a.events // (a.batch * a.clients))
    bodies = pool(a.batch, a.players)
    start = time.monotonic()
    clients = [Client(i, a.url, a.batch, a.players, float("inf"), 0, per_client, bodies)
               for i in range(a.clients)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    errors = [str(c.error) for c in clients if c.error]
    if errors:
        sys.exit(f"fill: {errors[0]}")
    took = time.monotonic() - start
    events = sum(c.acked for c in clients)
    print(json.dumps({"events": events, "seconds": round(took, 1), "events_per_s": round(events / took)}))


def proc_io(pid):
    out = {}
    with open(f"/proc/{pid}/io") as f:
        for l in f:
            k, v = l.split(":")
            out[k.strip()] = int(v)
    return out


def drop_cache(data_dir):
    """Writes the store's files back and drops them from the page cache (clean pages only)."""
    for name in os.listdir(data_dir):
        path = os.path.join(data_dir, name)
        if not os.path.isfile(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cmd_erase(a):
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    if a.cold:
        drop_cache(a.data_dir)
    before = proc_io(a.pid)
    t0 = time.monotonic()
    status, data = post(conn, "/v1/erasures", json.dumps({"player": a.player}),
                        {"Content-Type": "application/json"})
    took = time.monotonic() - t0
    after = proc_io(a.pid)
    if status != 200:
        sys.exit(f"erase: HTTP {status}: {data[:300]!r}")
    answer = json.loads(data)
    # read_bytes/write_bytes: what reached the disk; rchar/wchar: every byte the collector read
    # or wrote through system calls, page cache hits included.
    print(json.dumps({"player": a.player, "cold": a.cold, "seconds": round(took, 3),
                      "removed": answer["removed"], "walTruncated": answer["walTruncated"],
                      **{k: after[k] - before[k]
                         for k in ("read_bytes", "write_bytes", "rchar", "wchar")}}))


def cmd_wait(a):
    deadline = time.monotonic() + a.timeout
    u = urllib.parse.urlparse(a.url)
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
            conn.request("GET", u.path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"wait: {a.url} not ready after {a.timeout}s")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    load = sub.add_parser("load")
    fill = sub.add_parser("fill")
    for s in (load, fill):
        s.add_argument("--url", required=True)
        s.add_argument("--clients", type=int, default=4)
        s.add_argument("--batch", type=int, default=1000)
        s.add_argument("--players", type=int, default=100_000)
    load.add_argument("--seconds", type=float, default=15)
    load.add_argument("--warmup", type=float, default=3)
    fill.add_argument("--events", type=int, required=True)
    erase = sub.add_parser("erase")
    erase.add_argument("--url", required=True)
    erase.add_argument("--player", required=True)
    erase.add_argument("--pid", type=int, required=True)
    erase.add_argument("--cold", action="store_true")
    erase.add_argument("--data-dir")
    wait = sub.add_parser("wait")
    wait.add_argument("url")
    wait.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    {"load": cmd_load, "fill": cmd_fill, "erase": cmd_erase, "wait": cmd_wait}[a.cmd](a)


if __name__ == "__main__":
    main()
