#!/usr/bin/env python3
"""Budget history over a week: how fast `GET /v1/budgets/history` answers a 7-day range over
40 rooms.

    bench/budgets/history.py --playtrace target/release/playtrace [--rate 5] [--days 7]

A week of traffic cannot be ingested in a bench (receive times are stamped at commit), so the
rows are seeded directly into the store the way the collector writes them: the script starts
`playtrace serve` once on a fresh data directory (which creates the tables), stops it, and
writes, for 40 rooms (in 4 hubs) × 2 metrics (arming, resolution) and for the scope's all-groups
series (the rooms' sum, as the collector writes it; `--groups-only` leaves it out, as collectors
before it did), one hour row per hour of the
last `--days` days and one minute row per minute of the last 2 hours, each holding the counts per
distinct duration of `--rate` contests per minute per room (integer milliseconds, lognormal as
in bench/budgets: arming ~1.5 s, resolution ~400 ms), in core's row format (varint deltas of
the order key, varint counts). It then starts the collector again (retention 30d, so nothing
is pruned) and times 21 sequential requests of each query after one warm-up (median and p90 of the wall
time, and the server's CPU time per answer, utime + stime from /proc, which a loaded machine
does not inflate the way it inflates wall time):

- `?from=7d&step=1h` (168 points, every room merged per point);
- `?from=7d&step=1h&group_by=room` (168 points × 40 rooms);
- `?from=7d` (the default step for a week: 3h, 56 points);
- `?from=1h&step=1m&group_by=room` (minute rows).

It checks that each 7-day point counts 40 × 60 × rate samples per metric. Python 3 standard
library only; never part of scripts/test; 127.0.0.1 only.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter

HUBS = ["hub-%d" % h for h in range(4)]
ROOMS = ["room-%02d" % r for r in range(40)]
MINUTE, HOUR = 60_000, 3_600_000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return resp.status, data, elapsed


def serve(binary, port, data, config):
    log = open(os.path.join(os.path.dirname(data), "serve.log"), "a")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir", data, "--config", config],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if get(port, "/readyz", timeout=2)[0] == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("playtrace exited during start (rc %s)" % proc.returncode)
        time.sleep(0.2)
    raise SystemExit("playtrace not ready")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def order_key(v):
    bits = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return (~bits) & 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)


def varint(out, v):
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def blob(samples):
    """Counts per distinct value in core's row format."""
    out = bytearray()
    prev = 0
    for k, n in sorted((order_key(v), n) for v, n in Counter(samples).items()):
        varint(out, (k - prev) & 0xFFFFFFFFFFFFFFFF)
        varint(out, n)
        prev = k
    return bytes(out)


def draw(rng, metric, n):
    if metric == 0:
        return [int(min(12000, max(100, rng.lognormvariate(7.3, 0.6)))) for _ in range(n)]
    return [int(min(1500, max(100, rng.lognormvariate(6.0, 0.4)))) for _ in range(n)]


def seed(db, days, rate, now_ms, groups_only=False):
    rng = random.Random(7)
    conn = sqlite3.connect(db)
    series = {}
    for r, room in enumerate(ROOMS):
        for metric in (0, 1):
            key = json.dumps({"game": "bench", "env": "prod", "hub": HUBS[r % 4], "room": room},
                             separators=(",", ":"))
            cur = conn.execute("INSERT INTO rollup_series (metric, key) VALUES (?, ?)", (metric, key))
            series[(r, metric)] = cur.lastrowid
    # The scope's all-groups series, as the collector writes it beside the groups' (the sum of
    # every room's counts): what a history without group_by reads.
    scope = {}
    for metric in (0, 1):
        key = json.dumps({"*": "all", "env": "prod", "game": "bench"}, separators=(",", ":"))
        cur = conn.execute("INSERT INTO rollup_series (metric, key) VALUES (?, ?)", (metric, key))
        scope[metric] = cur.lastrowid

    def rows_at(at, per_room):
        out, summed = [], {0: [], 1: []}
        for (r, metric), sid in series.items():
            samples = draw(rng, metric, per_room)
            summed[metric].extend(samples)
            out.append((at, sid, blob(samples)))
        if not groups_only:
            out.extend((at, scope[m], blob(summed[m])) for m in (0, 1))
        return out

    last_hour = now_ms // HOUR * HOUR
    hours = [last_hour - h * HOUR for h in range(days * 24)]
    rows = []
    for at in hours:
        rows.extend(rows_at(at, 60 * rate))
    conn.executemany("INSERT INTO rollup_hours (at_ms, series, counts) VALUES (?, ?, ?)", rows)
    minutes = []
    first_minute = now_ms // MINUTE * MINUTE - 2 * HOUR
    for at in range(first_minute, now_ms, MINUTE):
        minutes.extend(rows_at(at, rate))
    conn.executemany("INSERT INTO rollup_minutes (at_ms, series, counts) VALUES (?, ?, ?)", minutes)
    conn.commit()
    conn.close()
    return len(rows), len(minutes)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(port, path, n, pid):
    times, data = [], b""
    get(port, path)  # warm: the first request reads the rows from disk
    c0 = cpu_seconds(pid)
    for _ in range(n):
        status, data, elapsed = get(port, path)
        if status != 200:
            raise SystemExit("GET %s: %d %s" % (path, status, data[:300]))
        times.append(elapsed * 1000)
    cpu_ms = (cpu_seconds(pid) - c0) * 1000 / n
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))], cpu_ms, json.loads(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--playtrace", required=True)
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--rate", type=int, default=5, help="contests per minute per room")
    p.add_argument("--requests", type=int, default=21)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--groups-only", action="store_true",
                   help="seed only the rooms' rows, as collectors before the all-groups rows wrote "
                        "them: an ungrouped history then merges 40 rooms per point (the old cost)")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="playtrace-history.")
    data = os.path.join(tmp, "data")
    config = os.path.join(tmp, "serve.toml")
    with open(config, "w") as f:
        f.write('[retention]\nmax_age = "30d"\n')
    port = free_port()
    try:
        stop(serve(args.playtrace, port, data, config))
        t0 = time.time()
        hour_rows, minute_rows = seed(os.path.join(data, "playtrace.db"), args.days, args.rate,
                                      int(time.time() * 1000), args.groups_only)
        print("seeded %d hour rows and %d minute rows in %.0f s" % (hour_rows, minute_rows,
                                                                   time.time() - t0))
        proc = serve(args.playtrace, port, data, config)
        try:
            queries = [
                "/v1/budgets/history?from=%dd&step=1h" % args.days,
                "/v1/budgets/history?from=%dd&step=1h&group_by=room" % args.days,
                "/v1/budgets/history?from=%dd" % args.days,
                "/v1/budgets/history?from=1h&step=1m&group_by=room",
            ]
            print("load average before: %.2f %.2f %.2f" % os.getloadavg())
            for q in queries:
                median, p90, cpu_ms, answer = timed(port, q, args.requests, proc.pid)
                pts = answer["points"]
                full = [pt for pt in pts[1:-1]]
                want = 40 * 60 * args.rate * (answer["stepMs"] // HOUR) if answer["stepMs"] >= HOUR else None
                if want is not None:
                    for pt in full:
                        got = {b["metric"]: b["samples"] for b in pt["budgets"]}
                        if got.get("resolution") != want or got.get("arming") != want:
                            raise SystemExit("%s: point %s counts %s, want %d" % (q, pt["fromMs"], got, want))
                print("%-55s %4d points  median %7.1f ms  p90 %7.1f ms  server CPU %6.1f ms/answer"
                      % (q, len(pts), median, p90, cpu_ms))
            print("load average after: %.2f %.2f %.2f" % os.getloadavg())
        finally:
            stop(proc)
    finally:
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
