#!/usr/bin/env python3
"""Live budgets over millions of contests: what a collector costs once its 1h window is full.

    bench/budgets/bench.py --playtrace target/release/playtrace [--playtrace OTHER ...]

For each binary given (in order, one after the other, each with a fresh data directory):
starts `playtrace serve --listen 127.0.0.1:PORT` with the default configuration (windows 5m
and 1h), posts N resolved contests (default 2,000,000; one `telemetry.contest.resolved` event
each, with `armingDurationMs` and `resolutionDurationMs`, 40 rooms in 4 hubs) over C keep-alive
connections (default 4) in B-event NDJSON bodies (default 5,000), then, with no traffic at all:

- ingest CPU: the server's CPU seconds over the ingest, and those of its fold thread (live
  contests and budgets, the pace-setter here) and its writer thread;
- idle CPU: cores used by the server over ~10 s (utime + stime from /proc/PID/stat), after a
  2 s pause;
- `GET /v1/budgets` and `GET /v1/budgets?group_by=room`: median (and p90) latency of 21
  sequential requests each;
- RSS now and peak (VmRSS, VmHWM);
- that the 1h window reports every sample (resolution samples == N).

Prints one column per binary and, with two binaries, the ratio second/first. Python 3 standard
library only; never part of scripts/test. Everything listens on 127.0.0.1; the data goes to a
temporary directory that is removed afterwards (use a real disk: fsync is part of ingest).
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HUBS = ["hub-%d" % h for h in range(4)]
ROOMS = ["room-%02d" % r for r in range(40)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_field(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds (user + system) by thread name."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        secs = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        out[name] = out.get(name, 0.0) + secs
    return out


def body(run, start, count, rng):
    """`count` resolved contests numbered from `start`: integer durations (few distinct values,
    as real ones), lognormal like bench/ingest's."""
    lines = []
    for n in range(start, start + count):
        room = n % len(ROOMS)
        arming = int(min(12000, max(100, rng.lognormvariate(7.3, 0.6))))
        resolution = int(min(1500, max(100, rng.lognormvariate(6.0, 0.4))))
        lines.append(
            '{"event":"telemetry.contest.resolved","id":"e-%s-%d","game":"bench","env":"prod",'
            '"attrs":{"contestId":"c-%s-%d","hubId":"%s","roomId":"%s","armingDurationMs":%d,'
            '"resolutionDurationMs":%d,"outcome":"win"}}'
            % (run, n, run, n, HUBS[room % len(HUBS)], ROOMS[room], arming, resolution)
        )
    return ("\n".join(lines) + "\n").encode()


def get(port, path, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    conn.close()
    return resp.status, data, elapsed


def wait_ready(port, pid, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            status, _, _ = get(port, "/readyz", timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        if pid.poll() is not None:
            raise SystemExit("playtrace exited during start (rc %s)" % pid.returncode)
        time.sleep(0.2)
    raise SystemExit("playtrace not ready after %d s" % limit)


def ingest(port, args, run):
    batches = list(range(0, args.contests, args.batch))
    lock = threading.Lock()
    accepted = [0]
    errors = []

    def client(idx):
        rng = random.Random(idx)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        for i in range(idx, len(batches), args.clients):
            start = batches[i]
            data = body(run, start, min(args.batch, args.contests - start), rng)
            while True:
                conn.request("POST", "/v1/events", data, {"Content-Type": "application/x-ndjson"})
                resp = conn.getresponse()
                text = resp.read()
                if resp.status == 503:
                    time.sleep(0.02)
                    continue
                if resp.status != 200:
                    errors.append("%d %s" % (resp.status, text[:200]))
                    return
                with lock:
                    accepted[0] += json.loads(text).get("accepted", 0)
                break
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit("ingest failed: %s" % errors[0])
    return accepted[0], elapsed


def latency(port, path, n):
    times = []
    for _ in range(n):
        status, data, elapsed = get(port, path)
        if status != 200:
            raise SystemExit("GET %s: %d %s" % (path, status, data[:200]))
        times.append(elapsed * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))], data


def hour_samples(data):
    for w in json.loads(data)["windows"]:
        if w["windowMs"] == 3_600_000:
            return {b["metric"]: b["samples"] for b in w["budgets"]}
    return {}


def measure(binary, args):
    tmp = tempfile.mkdtemp(prefix="playtrace-budgets.")
    port = free_port()
    log = open(os.path.join(tmp, "serve.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir", os.path.join(tmp, "data")],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(port, proc)
        run = "%x" % random.getrandbits(32)
        before = cpu_seconds(proc.pid)
        accepted, secs = ingest(port, args, run)
        ingest_cpu = cpu_seconds(proc.pid) - before
        threads = thread_cpu(proc.pid)
        time.sleep(2)
        c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        time.sleep(args.idle)
        idle = (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - t0)
        plain = latency(port, "/v1/budgets", args.requests)
        grouped = latency(port, "/v1/budgets?group_by=room", args.requests)
        samples = hour_samples(plain[2])
        return {
            "binary": binary,
            "accepted": accepted,
            "ingest_s": secs,
            "contests_per_s": accepted / secs,
            "ingest_cpu_s": ingest_cpu,
            "fold_cpu_s": threads.get("playtrace-fold", 0.0),
            "writer_cpu_s": threads.get("playtrace-write", 0.0),
            "idle_cores": idle,
            "budgets_ms": plain[0],
            "budgets_p90_ms": plain[1],
            "by_room_ms": grouped[0],
            "by_room_p90_ms": grouped[1],
            "rss_mb": proc_field(proc.pid, "VmRSS") / 1e6,
            "peak_rss_mb": proc_field(proc.pid, "VmHWM") / 1e6,
            "resolution_samples_1h": samples.get("resolution"),
            "arming_samples_1h": samples.get("arming"),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


ROWS = [
    ("contests accepted", "accepted", "{:,.0f}"),
    ("ingest (s)", "ingest_s", "{:.1f}"),
    ("contests/s", "contests_per_s", "{:,.0f}"),
    ("ingest CPU (core-s)", "ingest_cpu_s", "{:.1f}"),
    ("  fold thread (s)", "fold_cpu_s", "{:.1f}"),
    ("  writer thread (s)", "writer_cpu_s", "{:.1f}"),
    ("idle CPU (cores)", "idle_cores", "{:.3f}"),
    ("GET /v1/budgets median (ms)", "budgets_ms", "{:.2f}"),
    ("  p90 (ms)", "budgets_p90_ms", "{:.2f}"),
    ("?group_by=room median (ms)", "by_room_ms", "{:.2f}"),
    ("  p90 (ms)", "by_room_p90_ms", "{:.2f}"),
    ("RSS (MB)", "rss_mb", "{:.0f}"),
    ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"),
    ("1h resolution samples", "resolution_samples_1h", "{:,}"),
    ("1h arming samples", "arming_samples_1h", "{:,}"),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--playtrace", action="append", required=True, help="binary (repeatable)")
    p.add_argument("--contests", type=int, default=2_000_000)
    p.add_argument("--batch", type=int, default=5_000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measurement")
    p.add_argument("--requests", type=int, default=21, help="GETs per budget query")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the data directories")
    args = p.parse_args()
    results = []
    for binary in args.playtrace:
        print("measuring %s ..." % binary, file=sys.stderr)
        results.append(measure(binary, args))
    head = "%-30s" % "" + "".join("%18s" % ("#%d" % (i + 1)) for i in range(len(results)))
    if len(results) == 2:
        head += "%12s" % "#2/#1"
    print(head)
    for label, key, spec in ROWS:
        vals = [r[key] for r in results]
        row = "%-30s" % label + "".join(
            "%18s" % ("-" if v is None else spec.format(v)) for v in vals
        )
        if len(vals) == 2 and all(isinstance(v, (int, float)) and v for v in vals):
            row += "%12s" % ("{:.3g}".format(vals[1] / vals[0]))
        print(row)
    for i, r in enumerate(results):
        print("#%d = %s" % (i + 1, r["binary"]))
    bad = [r for r in results if r["resolution_samples_1h"] != args.contests]
    for r in bad:
        print("CHECK FAILED: %s counts %s resolution samples in 1h, expected %d"
              % (r["binary"], r["resolution_samples_1h"], args.contests), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
