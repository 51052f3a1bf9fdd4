#!/usr/bin/env python3
"""Abuse benchmark for `playtrace serve` (bench/abuse/run drives it). Python 3 stdlib only.

Subcommands:

  honest   4 keep-alive clients post NDJSON batches back to back for --seconds; meanwhile a
           prober opens a new connection for GET /healthz every 100 ms and the server's RSS is
           sampled from /proc every 100 ms. Writes one JSON result file.
  attack   for --seconds: --idle connections that send nothing, --slowloris connections that
           trickle a request head one byte a second, --sse stream subscribers that read 1 KiB
           a second through a 4 KiB receive buffer, and --hammer clients looping over /metrics
           and filtered queries that match nothing. Closed connections are reopened (an
           attacker would), at most one attempt per connection slot every 200 ms.
  report   the clean and the abused result side by side, with the targets.

Everything talks to 127.0.0.1 only; every loop ends at its deadline.
"""

import argparse
import asyncio
import http.client
import json
import os
import resource
import socket
import sys
import threading
import time
import urllib.parse


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# --- honest clients --------------------------------------------------------------------------

def batch_body(client, n, size):
    lines = []
    for i in range(size):
        lines.append(
            '{"event":"bench.honest","id":"h%d-%d-%d","game":"bench","env":"abuse",'
            '"attrs":{"n":%d,"text":"honest client payload of a typical size"}}' % (client, n, i, i)
        )
    return ("\n".join(lines) + "\n").encode()


def honest_client(host, port, client, deadline, batch, out):
    latencies, events, errors = [], 0, 0
    conn = http.client.HTTPConnection(host, port, timeout=30)
    n = 0
    while time.monotonic() < deadline:
        body = batch_body(client, n, batch)
        n += 1
        started = time.monotonic()
        try:
            conn.request("POST", "/v1/events", body=body,
                          headers={"Content-Type": "application/x-ndjson"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                latencies.append(time.monotonic() - started)
                events += batch
            else:
                errors += 1
                time.sleep(0.05)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.close()
    out.append({"latencies": latencies, "events": events, "errors": errors})


def healthz_prober(host, port, deadline, out):
    latencies, failures = [], 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            conn.close()
            if r.status == 200:
                latencies.append(time.monotonic() - started)
            else:
                failures += 1
        except (OSError, http.client.HTTPException):
            failures += 1
        time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))
    out.append({"latencies": latencies, "failures": failures})


def rss_sampler(pid, deadline, out):
    peak = 0
    while time.monotonic() < deadline:
        v = rss_kib(pid)
        if v:
            peak = max(peak, v)
        time.sleep(0.1)
    out.append(peak)


def thread_cpu(pid):
    """CPU seconds per thread name of process `pid` (from /proc; empty where unreadable)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        name = name.rstrip("0123456789-")  # tokio-runtime-w, playtrace-write, ...
        fields = stat[stat.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cmd_honest(a):
    raise_fd_limit()
    u = urllib.parse.urlparse(a.url)
    deadline = time.monotonic() + a.seconds
    cpu0, own0, t0 = thread_cpu(a.pid), os.times(), time.monotonic()
    results, probes, rss = [], [], []
    threads = [threading.Thread(target=honest_client,
                                args=(u.hostname, u.port, c, deadline, a.batch, results))
               for c in range(a.clients)]
    threads.append(threading.Thread(target=healthz_prober, args=(u.hostname, u.port, deadline, probes)))
    threads.append(threading.Thread(target=rss_sampler, args=(a.pid, deadline, rss)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu1, own1, t1 = thread_cpu(a.pid), os.times(), time.monotonic()
    server_threads = {k: round((v - cpu0.get(k, 0)) / (t1 - t0), 3) for k, v in cpu1.items()
                      if v - cpu0.get(k, 0) > 0.01 * (t1 - t0)}
    latencies = [x for r in results for x in r["latencies"]]
    probe = probes[0] if probes else {"latencies": [], "failures": 0}
    result = {
        "name": a.name,
        "seconds": a.seconds,
        "events_per_s": sum(r["events"] for r in results) / a.seconds,
        "errors": sum(r["errors"] for r in results),
        "p50_ms": (percentile(latencies, 50) or 0) * 1000,
        "p99_ms": (percentile(latencies, 99) or 0) * 1000,
        "healthz_max_ms": max(probe["latencies"], default=0) * 1000,
        "healthz_failures": probe["failures"],
        "healthz_probes": len(probe["latencies"]),
        "peak_rss_mib": (rss[0] if rss else 0) / 1024,
        "server_cores_by_thread": server_threads,
        "client_cores": round((own1.user + own1.system - own0.user - own0.system) / (t1 - t0), 3),
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


# --- attackers -------------------------------------------------------------------------------

class Counters:
    def __init__(self):
        self.opened = 0
        self.closed_by_server = 0
        self.refused = 0
        self.requests = 0
        self.sse_bytes = 0


async def open_conn(host, port, rcvbuf=None):
    if rcvbuf:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, (host, port))
        return await asyncio.open_connection(sock=s)
    return await asyncio.open_connection(host, port)


async def idle_slot(host, port, deadline, c):
    while time.monotonic() < deadline:
        try:
            r, w = await open_conn(host, port)
            c.opened += 1
            left = deadline - time.monotonic()
            try:
                # Returns only when the server closes it (or answers, which it never should).
                await asyncio.wait_for(r.read(1), timeout=max(0.01, left))
                c.closed_by_server += 1
            except asyncio.TimeoutError:
                pass
            w.close()
        except OSError:
            c.refused += 1
        await asyncio.sleep(0.2)


async def slowloris_slot(host, port, deadline, c):
    head = b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\nX-Pad: " + b"a" * 4000
    while time.monotonic() < deadline:
        try:
            r, w = await open_conn(host, port)
            c.opened += 1
            for i in range(len(head)):
                if time.monotonic() >= deadline:
                    break
                w.write(head[i:i + 1])
                await w.drain()
                try:
                    if await asyncio.wait_for(r.read(1), timeout=1.0) == b"":
                        c.closed_by_server += 1
                        break
                except asyncio.TimeoutError:
                    pass
            w.close()
        except OSError:
            c.refused += 1
        await asyncio.sleep(0.2)


async def slow_sse_slot(host, port, deadline, c):
    while time.monotonic() < deadline:
        try:
            r, w = await open_conn(host, port, rcvbuf=4096)
            c.opened += 1
            w.write(b"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await w.drain()
            while time.monotonic() < deadline:
                chunk = await asyncio.wait_for(r.read(1024), timeout=max(0.01, deadline - time.monotonic()))
                if not chunk:
                    c.closed_by_server += 1
                    break
                c.sse_bytes += len(chunk)
                await asyncio.sleep(1.0)
            w.close()
        except (OSError, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.2)


HAMMER_PATHS = [
    "/metrics",
    "/v1/events?name=zzz&limit=100",
    "/v1/events?game=nogame&limit=100",
    "/v1/budgets?window=5m",
    "/v1/contests?state=resolving",
]


def hammer(host, port, deadline, c, paths):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    i = 0
    while time.monotonic() < deadline:
        try:
            conn.request("GET", paths[i % len(paths)])
            conn.getresponse().read()
            c.requests += 1
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            time.sleep(0.05)
        i += 1
    conn.close()


async def attack(a, c):
    u = urllib.parse.urlparse(a.url)
    deadline = time.monotonic() + a.seconds
    tasks = []
    for _ in range(a.idle):
        tasks.append(idle_slot(u.hostname, u.port, deadline, c))
    for _ in range(a.slowloris):
        tasks.append(slowloris_slot(u.hostname, u.port, deadline, c))
    for _ in range(a.sse):
        tasks.append(slow_sse_slot(u.hostname, u.port, deadline, c))
    await asyncio.gather(*tasks, return_exceptions=True)


def cmd_attack(a):
    raise_fd_limit()
    c = Counters()
    u = urllib.parse.urlparse(a.url)
    deadline = time.monotonic() + a.seconds
    paths = a.hammer_paths.split(",") if a.hammer_paths else HAMMER_PATHS
    hammers = [threading.Thread(target=hammer, args=(u.hostname, u.port, deadline, c, paths))
               for _ in range(a.hammer)]
    for t in hammers:
        t.start()
    asyncio.run(attack(a, c))
    for t in hammers:
        t.join()
    result = dict(vars(c))
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


# --- report ----------------------------------------------------------------------------------

def cmd_report(a):
    clean = json.load(open(a.clean))
    abused = json.load(open(a.abused))
    attack = json.load(open(a.attack)) if a.attack else {}
    tput = abused["events_per_s"] / clean["events_per_s"] if clean["events_per_s"] else 0
    p99 = abused["p99_ms"] / clean["p99_ms"] if clean["p99_ms"] else 0
    checks = [
        ("honest throughput >= 80% of clean", tput >= 0.8, f"{tput:.0%}"),
        ("honest p99 < 2x clean", p99 < 2.0, f"{p99:.2f}x"),
        ("peak RSS < 500 MB", abused["peak_rss_mib"] * 1.048576 < 500, f"{abused['peak_rss_mib']:.0f} MiB"),
        ("/healthz always < 100 ms", abused["healthz_max_ms"] < 100 and abused["healthz_failures"] == 0,
         f"max {abused['healthz_max_ms']:.1f} ms, {abused['healthz_failures']} failed of "
         f"{abused['healthz_probes'] + abused['healthz_failures']}"),
    ]
    rows = [("", "clean", "under abuse")]
    rows.append(("honest events/s", f"{clean['events_per_s']:.0f}", f"{abused['events_per_s']:.0f}"))
    rows.append(("honest p50 ms", f"{clean['p50_ms']:.1f}", f"{abused['p50_ms']:.1f}"))
    rows.append(("honest p99 ms", f"{clean['p99_ms']:.1f}", f"{abused['p99_ms']:.1f}"))
    rows.append(("honest errors", str(clean["errors"]), str(abused["errors"])))
    rows.append(("/healthz max ms", f"{clean['healthz_max_ms']:.1f}", f"{abused['healthz_max_ms']:.1f}"))
    rows.append(("peak RSS MiB", f"{clean['peak_rss_mib']:.0f}", f"{abused['peak_rss_mib']:.0f}"))
    rows.append(("load client cores", f"{clean.get('client_cores', 0):.2f}", f"{abused.get('client_cores', 0):.2f}"))
    for r in rows:
        print(f"{r[0]:<20}{r[1]:>12}{r[2]:>14}")
    for name, r in (("clean", clean), ("abused", abused)):
        top = sorted((r.get("server_cores_by_thread") or {}).items(), key=lambda kv: -kv[1])
        if top:
            print(f"server cores by thread ({name}): " + ", ".join(f"{k} {v:.2f}" for k, v in top[:8]))
    if attack:
        print(f"attackers: {attack['opened']} connections opened, {attack['closed_by_server']} closed "
              f"by the server, {attack['refused']} refused, {attack['requests']} hammer requests, "
              f"{attack['sse_bytes']} SSE bytes read")
    failed = 0
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
        failed += not ok
    return 1 if failed and a.require_target else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("honest")
    h.add_argument("--url", required=True)
    h.add_argument("--pid", type=int, required=True)
    h.add_argument("--seconds", type=float, default=60)
    h.add_argument("--clients", type=int, default=4)
    h.add_argument("--batch", type=int, default=100)
    h.add_argument("--name", default="clean")
    h.add_argument("--out", required=True)
    t = sub.add_parser("attack")
    t.add_argument("--url", required=True)
    t.add_argument("--seconds", type=float, default=60)
    t.add_argument("--idle", type=int, default=1000)
    t.add_argument("--slowloris", type=int, default=200)
    t.add_argument("--sse", type=int, default=50)
    t.add_argument("--hammer", type=int, default=4)
    t.add_argument("--hammer-paths", default="",
                   help="comma-separated paths the hammering clients loop over (default: the five above)")
    t.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--clean", required=True)
    r.add_argument("--abused", required=True)
    r.add_argument("--attack")
    r.add_argument("--require-target", action="store_true")
    a = p.parse_args()
    if not a.url.startswith("http://127.0.0.1:") if hasattr(a, "url") else False:
        sys.exit("abuse.py: --url must be http://127.0.0.1:PORT (this benchmark stays on loopback)")
    sys.exit({"honest": cmd_honest, "attack": cmd_attack, "report": cmd_report}[a.cmd](a) or 0)


if __name__ == "__main__":
    main()
