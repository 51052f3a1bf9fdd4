#!/usr/bin/env python3
"""Console benchmark (never part of scripts/test): the collector's maximum ingest throughput
with the console open in headless Chromium against without it, and the console's
responsiveness under that load.

  bench/console/bench.py [--runs 3] [--seconds 20] [--warmup 3] [--playtrace PATH]
                         [--before-js FILE]

Each run starts a fresh `playtrace serve`, then (alternating which goes first) measures
bench/ingest/load.py's acknowledged events/s for --seconds without a browser and with the
console's Alerts view open in Debian's Chromium (Playwright from the repository's .venv, as
scripts/test installs it) while 100 alerts/s are posted. With the console open it also
measures input-to-paint: a filter change, until two animation frames later (p95 over one
change every 200 ms). Prints medians of the runs and the ratio; exits 3 when the ratio is under
85 % or the p95 over 100 ms.

--before-js FILE adds a third mode, the console served with FILE as its /console/app.js (an
earlier version of the page, e.g. `git show REV:crates/playtrace-server/src/console/assets/app.js`),
so a change to the page is measured against its predecessor in the same build and the same run.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
LOAD = os.path.join(REPO, "bench", "ingest", "load.py")
APP_JS = os.path.join(REPO, "crates", "playtrace-server", "src", "console", "assets", "app.js")


def browser_cpu():
    """CPU seconds (user + system) used so far by this process's Chromium descendants."""
    parents, total = {}, 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        parents[int(pid)] = (int(rest[1]), name, int(rest[11]) + int(rest[12]))
    me = os.getpid()
    for pid, (ppid, name, ticks) in parents.items():
        if not name.startswith("chrom"):
            continue
        p = ppid
        while p and p != me and p in parents:
            p = parents[p][0]
        if p == me:
            total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, data):
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the collector did not become ready")


def alerts(url, stop):
    """About 100 admin alerts a second, each a new one (distinct check ids)."""
    n = 0
    while not stop.is_set():
        t = time.monotonic()
        for _ in range(10):
            n += 1
            body = json.dumps({"sessionId": f"s-{n % 50}", "severity": "high", "reason": "bench",
                               "data": {"checkId": f"chk-{n}", "roomId": f"room-{n % 7}"}}).encode()
            req = urllib.request.Request(url + "/v1/alerts", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=5).close()
            except OSError:
                pass
        stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))


PAINT = """async (value) => {
  const s = document.getElementById('f-severity');
  const t0 = performance.now();
  s.value = value;
  s.dispatchEvent(new Event('change'));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def one(binary, mode, args, tmp, run):
    data = os.path.join(tmp, f"data-{run}-{mode}")
    proc, url = start(binary, data)
    out = os.path.join(tmp, f"{run}-{mode}.json")
    stop = threading.Event()
    paints = []
    pw = browser = None
    try:
        if mode != "plain":
            from playwright.sync_api import sync_playwright
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=args.chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            if args.before_js:
                # Both console modes are served through the same interception, so it costs
                # them alike: `before` the given file, `console` this checkout's.
                with open(args.before_js if mode == "before" else APP_JS, "rb") as f:
                    script = f.read()
                page.route("**/console/app.js", lambda route: route.fulfill(
                    status=200, body=script, content_type="text/javascript; charset=utf-8"))
            page.goto(url + "/alerts")
            page.wait_for_selector("#f-severity")
        # The same alert load in both modes: only the console differs.
        threading.Thread(target=alerts, args=(url, stop), daemon=True).start()
        load = subprocess.Popen([sys.executable, LOAD, "load", "--url", url + "/v1/events",
                                 "--name", mode, "--out", out, "--pid", str(proc.pid),
                                 "--seconds", str(args.seconds), "--warmup", str(args.warmup),
                                 "--run", str(run)], stdout=subprocess.DEVNULL)
        values = ["", "high"]
        i = 0
        cpu0, t0 = browser_cpu(), time.monotonic()
        while load.poll() is None:
            if mode != "plain":
                paints.append(page.evaluate(PAINT, values[i % 2]))
                i += 1
            time.sleep(0.2)
        cpu = round((browser_cpu() - cpu0) / (time.monotonic() - t0), 3)
    finally:
        stop.set()
        if browser:
            browser.close()
        if pw:
            pw.stop()
        proc.terminate()
        proc.wait(timeout=60)
    with open(out) as f:
        result = json.load(f)
    rate = result["events_per_s"]
    return rate, paints, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--playtrace", default=os.path.join(REPO, "target", "release", "playtrace"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--before-js", help="also measure the console with this app.js (mode `before`)")
    args = ap.parse_args()
    if not os.path.exists(args.playtrace):
        sys.exit(f"{args.playtrace} not found: cargo build --release -p playtrace, or --playtrace PATH")
    modes = ["plain", "console"] + (["before"] if args.before_js else [])
    rates = {m: [] for m in modes}
    paints = {m: [] for m in modes}
    cpus = {m: [] for m in modes}
    load = []
    with tempfile.TemporaryDirectory(prefix="playtrace-console-bench.") as tmp:
        for run in range(1, args.runs + 1):
            # Each mode goes first in turn.
            order = modes[run % len(modes):] + modes[:run % len(modes)]
            for mode in order:
                rate, p, cpu = one(args.playtrace, mode, args, tmp, run)
                rates[mode].append(rate)
                paints[mode] += p
                cpus[mode].append(cpu)
                load.append(os.getloadavg()[0])
                print(f"run {run} {mode}: {rate} events/s, browser CPU {cpu}", file=sys.stderr)

    def p95(xs):
        return statistics.quantiles(xs, n=20)[18] if len(xs) >= 20 else (max(xs) if xs else None)

    plain = statistics.median(rates["plain"])
    out = {"plain_events_per_s": plain}
    for mode in modes[1:]:
        rate = statistics.median(rates[mode])
        out[mode] = {"events_per_s": rate, "ratio": round(rate / plain, 3) if plain else 0.0,
                     "input_to_paint_p95_ms": p95(paints[mode]), "paint_samples": len(paints[mode]),
                     "browser_cpu_s_per_s": statistics.median(cpus[mode])}
    out["runs"] = args.runs
    out["load_average_1m"] = [round(x, 1) for x in load]
    print(json.dumps(out, indent=2))
    ok = out["console"]["ratio"] >= 0.85 and (out["console"]["input_to_paint_p95_ms"] or 1e9) < 100
    sys.exit(0 if ok else 3)


if __name__ == "__main__":
    main()
