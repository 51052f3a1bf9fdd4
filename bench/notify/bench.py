#!/usr/bin/env python3
"""Notification benchmark (bench/notify/run drives it; never part of scripts/test).

Python 3 standard library only. One round = two phases on fresh data directories:

  baseline   `playtrace serve` without [notify]; bench/ingest/load.py posts at the collector's
             maximum rate for --seconds: events/s.
  notify     the same collector with three webhook receivers (healthy; slow: 500 ms per answer;
             flaky: 503 on every other request), every alert its own group (group_wait 0s), the
             same ingest load plus --alerts-per-s admin alerts posted to /v1/alerts. Measured:
             events/s, notification lag to the healthy receiver (arrival - the alert's post time,
             carried in its data as sentMs), and after the load, once the outbox drained, whether
             every alert reached every receiver (nothing lost) and nothing is dead.

Report: medians over the rounds; pass when lag p99 < 1 s, nothing lost, and notify events/s >=
0.9 x baseline events/s.
"""

import argparse
import http.client
import http.server
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
LOAD = os.path.join(HERE, "..", "ingest", "load.py")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Receiver:
    """A webhook receiver on 127.0.0.1 recording which alerts arrived, and when."""

    def __init__(self, name, delay=0.0, flaky=False):
        self.name, self.delay, self.flaky = name, delay, flaky
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0  # accepted TCP connections: the client reuses them when few
        self.seen = {}  # alert session -> first arrival lag, ms
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: no thread and connection per request

            def log_message(self, *a):
                pass

            def setup(self):
                # One handler per accepted connection (keep-alive requests loop inside it).
                super().setup()
                with recv.lock:
                    recv.connections += 1

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time() * 1000
                with recv.lock:
                    recv.requests += 1
                    n = recv.requests
                if recv.flaky and n % 2 == 1:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if recv.delay:
                    time.sleep(recv.delay)
                try:
                    payload = json.loads(body)
                    with recv.lock:
                        for a in payload.get("alerts", []):
                            if a.get("status") != "firing":
                                continue
                            session = a["labels"].get("session")
                            sent = float(a["annotations"].get("sentMs", "nan"))
                            recv.seen.setdefault(session, now - sent)
                except (ValueError, KeyError):
                    pass
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/hook" % self.port

    def stop(self):
        self.server.shutdown()


def config(receivers):
    text = '[notify]\nbackoff = "200ms"\nmax_backoff = "2s"\nmax_attempts = 1000\n'
    for r in receivers:
        concurrency = 128 if r.delay else 32
        text += ('[[notify.receivers]]\nname = "%s"\nkind = "webhook"\nurl = "%s"\n'
                 "concurrency = %d\n" % (r.name, r.url, concurrency))
        text += ('[[notify.routes]]\nreceiver = "%s"\ngroup_by = ["session"]\n'
                 'group_wait = "0s"\ncontinue = true\n' % r.name)
    return text


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def counter(url, name):
    """A counter from the collector's /metrics (None when this build has no such metric)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def start_collector(binary, tmp, name, conf):
    port = free_port()
    data = os.path.join(tmp, name)
    conf_path = data + ".toml"
    with open(conf_path, "w") as f:
        f.write(conf)
    log = open(data + ".log", "w")
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data-dir", data,
                          "--config", conf_path], stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return p, url
        except OSError:
            pass
        if p.poll() is not None or time.time() > deadline:
            sys.exit("the collector did not start; see %s.log" % data)
        time.sleep(0.1)


def perf_start(args, pid, name):
    """`perf record` attached to the collector for one phase (--perf DIR); None without it."""
    if not args.perf:
        return None
    os.makedirs(args.perf, exist_ok=True)
    return subprocess.Popen(["perf", "record", "-q", "-F", str(args.perf_freq), "--call-graph",
                             "dwarf,16384", "-p", str(pid), "-o",
                             os.path.join(args.perf, name + ".data")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stop(rec):
    if rec is not None:
        rec.send_signal(2)  # SIGINT: perf writes its file and exits
        rec.wait()


# Counted by --stat over each phase's measured window: figures per event that depend far less
# on the machine's load than rates do (instructions only where the machine has counters for
# them; task-clock is the collector's CPU time, reported in ns).
STAT_EVENTS = ["instructions:u", "instructions:k", "task-clock", "raw_syscalls:sys_enter",
               "syscalls:sys_enter_pwrite64", "syscalls:sys_enter_pread64",
               "syscalls:sys_enter_fdatasync", "syscalls:sys_enter_fsync",
               "context-switches", "page-faults"]


def stat_window(args, pid, into):
    """`perf stat` on the collector over the load's measured window (after its warmup)."""
    time.sleep(args.warmup)
    p = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(STAT_EVENTS), "-p", str(pid),
                        "--", "sleep", str(args.seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[2] in STAT_EVENTS:
            try:
                into[parts[2]] = float(parts[0]) * (1e6 if parts[2] == "task-clock" else 1)
            except ValueError:
                pass  # "<not counted>" or "<not supported>"


def ingest(url, out, args, run, pid, perf_name=None):
    """The load generator's result: events/s, and the collector's own CPU (cores) meanwhile."""
    rec = perf_start(args, pid, perf_name) if perf_name else None
    counted, stat = {}, None
    if args.stat:
        stat = threading.Thread(target=stat_window, args=(args, pid, counted))
        stat.start()
    try:
        result = _ingest(url, out, args, run, pid)
    finally:
        perf_stop(rec)
        if stat is not None:
            stat.join()
    if counted and result["events_per_s"]:
        events = result["events_per_s"] * args.seconds
        result["per_event"] = {k: v / events for k, v in counted.items()}
    if rec is not None:
        # perf ran through the warmup too: the events it saw, at the measured rate, for
        # bench/notify/profile.py's CPU per event.
        with open(os.path.join(args.perf, perf_name + ".events"), "w") as f:
            f.write("%d\n" % (result["events_per_s"] * (args.seconds + args.warmup)))
    return result


def _ingest(url, out, args, run, pid):
    subprocess.run([sys.executable, LOAD, "load", "--url", url + "/v1/events", "--name", "x",
                    "--pid", str(pid),
                    "--out", out, "--run", str(run), "--seconds", str(args.seconds),
                    "--warmup", str(args.warmup), "--clients", str(args.clients),
                    "--batch", str(args.batch)], check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def cpu_us_per_event(result):
    """The collector's CPU per acknowledged event: what notifications cost the collector itself,
    apart from the receivers, posters and load generator sharing this machine's cores."""
    cores, rate = result.get("server_cpu_cores"), result["events_per_s"]
    return cores / rate * 1e6 if cores and rate else None


# The notifier's own write transactions (each pauses the store's writer); newer builds only.
COMMITS = "playtrace_notify_outbox_commits_total"
POSTERS = 16  # each POST waits for a commit: enough connections to hold the rate under load


def post_alerts(url, rate, stop, sent):
    """Posts `rate` admin alerts a second in all (each its own session) until `stop` is set."""
    threads = [threading.Thread(target=_poster, args=(url, rate / POSTERS, k, stop, sent))
               for k in range(POSTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _poster(url, rate, k, stop, sent):
    host, port = url[len("http://"):].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    n, start = 0, time.time() + k / (rate * POSTERS)
    while not stop.is_set():
        due = start + n / rate
        if due > time.time():
            time.sleep(due - time.time())
        session = "bench-%d-%d" % (k, n)
        body = json.dumps({"id": session, "sessionId": session, "severity": "high",
                           "reason": "bench", "data": {"sentMs": time.time() * 1000}})
        conn.request("POST", "/v1/alerts", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status == 200:
            sent.append(session)  # list.append is atomic under the GIL
        n += 1
    conn.close()


def p99(values):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(0.99 * len(v) + 0.5)) - 1)]


def one_round(args, tmp, run, binary, label):
    # Baseline: the same alerts posted at the same rate, no receivers configured — so the ratio
    # is what notifications cost, not what 100 alerts a second cost.
    p, url = start_collector(binary, tmp, "%s-base-%d" % (label, run), "")
    base_stop, base_sent = threading.Event(), []
    base_poster = threading.Thread(target=post_alerts,
                                   args=(url, args.alerts_per_s, base_stop, base_sent))
    try:
        base_poster.start()
        base_run = ingest(url, os.path.join(tmp, "base-%d.json" % run), args, run, p.pid,
                          "%s-base-%d" % (label, run))
        base = base_run["events_per_s"]
    finally:
        base_stop.set()
        base_poster.join()
        p.terminate()
        p.wait()
    # With notifications.
    healthy, slow, flaky = Receiver("healthy"), Receiver("slow", delay=0.5), Receiver("flaky", flaky=True)
    receivers = [healthy, slow, flaky]
    p, url = start_collector(binary, tmp, "%s-notify-%d" % (label, run), config(receivers))
    stop, sent = threading.Event(), []
    poster = threading.Thread(target=post_alerts, args=(url, args.alerts_per_s, stop, sent))
    try:
        commits0 = counter(url, COMMITS)
        t0, harness0 = time.time(), time.process_time()
        poster.start()
        notify_run = ingest(url, os.path.join(tmp, "notify-%d.json" % run), args, run, p.pid,
                            "%s-notify-%d" % (label, run))
        with_notify = notify_run["events_per_s"]
        harness_cores = (time.process_time() - harness0) / (time.time() - t0)
        commits1 = counter(url, COMMITS)
        commits_per_s = (commits1 - commits0) / (time.time() - t0) \
            if commits0 is not None and commits1 is not None else None
        stop.set()
        poster.join()
        alert_rate = len(sent) / (time.time() - t0)
        deadline = time.time() + args.drain
        while time.time() < deadline:
            pending = get_json(url + "/v1/notifications?state=pending&limit=1")["notifications"]
            if not pending and all(len(r.seen) >= len(sent) for r in receivers):
                break
            time.sleep(0.5)
        dead = len(get_json(url + "/v1/notifications?state=dead&limit=1000")["notifications"])
    finally:
        p.terminate()
        p.wait()
        for r in receivers:
            r.stop()
    lost = {r.name: len(set(sent) - set(r.seen)) for r in receivers}
    lags = [healthy.seen[s] for s in sent if s in healthy.seen]
    result = {"run": run, "build": label, "baseline_events_per_s": base, "notify_events_per_s": with_notify,
              "ratio": with_notify / base if base else None, "alerts": len(sent),
              "baseline_cpu_us_per_event": cpu_us_per_event(base_run),
              "notify_cpu_us_per_event": cpu_us_per_event(notify_run),
              "baseline_server_cores": base_run.get("server_cpu_cores"),
              "notify_server_cores": notify_run.get("server_cpu_cores"),
              "harness_cores": harness_cores,
              "notifier_commits_per_s": commits_per_s,
              "alerts_per_s": alert_rate,
              "baseline_per_event": base_run.get("per_event"),
              "notify_per_event": notify_run.get("per_event"),
              "lag_p99_ms": p99(lags), "lag_p50_ms": statistics.median(lags) if lags else None,
              "lost": lost, "dead": dead,
              "requests": {r.name: r.requests for r in receivers},
              "connections": {r.name: r.connections for r in receivers}}
    print(json.dumps(result), file=sys.stderr)
    return result


def summarize(rounds):
    med = lambda k: statistics.median([r[k] for r in rounds if r[k] is not None])
    summary = {
        "runs": len(rounds),
        "baseline_events_per_s": med("baseline_events_per_s"),
        "notify_events_per_s": med("notify_events_per_s"),
        "lag_p99_ms": med("lag_p99_ms"),
        "lag_p50_ms": med("lag_p50_ms"),
        "alerts_per_s": med("alerts_per_s"),
        "baseline_cpu_us_per_event": med("baseline_cpu_us_per_event"),
        "notify_cpu_us_per_event": med("notify_cpu_us_per_event"),
        "harness_cores": med("harness_cores"),
        "notifier_commits_per_s": (med("notifier_commits_per_s")
                                   if any(r["notifier_commits_per_s"] is not None for r in rounds)
                                   else None),
        "connections": {name: statistics.median([r["connections"][name] for r in rounds])
                        for name in rounds[0]["connections"]},
        "requests": {name: statistics.median([r["requests"][name] for r in rounds])
                     for name in rounds[0]["requests"]},
        "per_event": {phase: {k: statistics.median([r[phase + "_per_event"][k] for r in rounds])
                              for k in STAT_EVENTS
                              if all(k in (r[phase + "_per_event"] or {}) for r in rounds)}
                      for phase in ("baseline", "notify")},
        "lost": sum(sum(r["lost"].values()) for r in rounds),
        "dead": sum(r["dead"] for r in rounds),
        "rounds": rounds,
    }
    summary["ratio"] = summary["notify_events_per_s"] / summary["baseline_events_per_s"]
    # Each round's two phases ran back to back: the median of the rounds' own ratios cancels
    # load that changes between rounds.
    summary["ratio_of_rounds"] = med("ratio")
    # Events per collector-CPU-second with notifications relative to without: the throughput
    # ratio a machine where the harness has its own cores would show.
    summary["cpu_ratio"] = (summary["baseline_cpu_us_per_event"] / summary["notify_cpu_us_per_event"]
                            if summary["notify_cpu_us_per_event"] else None)
    summary["pass"] = (summary["lag_p99_ms"] < 1000 and summary["lost"] == 0
                       and summary["ratio"] >= 0.9)
    return summary


def print_summary(title, summary):
    print("%s, medians of %d runs" % (title, summary["runs"]))
    print("  ingest without receivers   %10.0f events/s" % summary["baseline_events_per_s"])
    print("  ingest with receivers      %10.0f events/s  (%.2fx; rounds' own ratios: median %.2fx)"
          % (summary["notify_events_per_s"], summary["ratio"], summary["ratio_of_rounds"]))
    print("  collector CPU per event    %10.2f us without, %.2f us with  (%.2fx per core)"
          % (summary["baseline_cpu_us_per_event"] or 0, summary["notify_cpu_us_per_event"] or 0,
             summary["cpu_ratio"] or 0))
    for k in STAT_EVENTS:
        base, notify = (summary["per_event"][p].get(k) for p in ("baseline", "notify"))
        if base is not None and notify is not None:
            # What notifications add, per alert posted: the notifier's work is per alert, not
            # per event, so this part does not move with the ingest rate.
            per_alert = ((notify - base) * summary["notify_events_per_s"] / summary["alerts_per_s"]
                         if summary["alerts_per_s"] else 0)
            print("  %-28s %9.2f per event without, %.2f with  (+%.2f; %.1f per alert)"
                  % (k, base, notify, notify - base, per_alert))
    print("  harness (receivers, posters) %8.2f cores beside the collector"
          % summary["harness_cores"])
    print("  alerts posted              %10.0f /s" % summary["alerts_per_s"])
    if summary["notifier_commits_per_s"] is not None:
        print("  notifier write transactions %9.1f /s (each pauses the store's writer)"
              % summary["notifier_commits_per_s"])
    print("  connections / requests     %s" % ", ".join(
        "%s %d / %d" % (name, summary["connections"][name], summary["requests"][name])
        for name in summary["connections"]))
    print("  lag to healthy receiver    p50 %.0f ms, p99 %.0f ms"
          % (summary["lag_p50_ms"], summary["lag_p99_ms"]))
    print("  lost %d, dead %d  -> %s" % (summary["lost"], summary["dead"],
                                        "PASS" if summary["pass"] else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--playtrace", required=True)
    ap.add_argument("--baseline", help="another playtrace binary (e.g. main's) measured in the "
                    "same run, its rounds alternating with --playtrace's")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--alerts-per-s", type=float, default=100)
    ap.add_argument("--drain", type=float, default=120, help="seconds to wait for the outbox")
    ap.add_argument("--format", choices=["table", "json"], default="table")
    ap.add_argument("--perf", metavar="DIR", help="record each phase's collector with `perf "
                    "record --call-graph dwarf` into DIR/<build>-<phase>-<run>.data (slows "
                    "the collector: the figures of such a run are for the profile only)")
    ap.add_argument("--perf-freq", type=int, default=499, help="perf's samples per second")
    ap.add_argument("--stat", action="store_true", help="count the collector's instructions "
                    "(user, kernel), context switches and page faults per event over each "
                    "phase's measured window with `perf stat` (load-independent, unlike rates)")
    args = ap.parse_args()
    builds = [("build", args.playtrace)]
    if args.baseline:
        builds.append(("baseline", args.baseline))
    rounds = {label: [] for label, _ in builds}
    load = []
    with tempfile.TemporaryDirectory(prefix="playtrace-notify-bench-") as tmp:
        for run in range(1, args.runs + 1):
            # Alternate which build goes first, so neither always meets the warmer machine.
            order = builds if run % 2 else list(reversed(builds))
            for label, binary in order:
                rounds[label].append(one_round(args, tmp, run, binary, label))
                load.append(os.getloadavg()[0])
    summaries = {label: summarize(rounds[label]) for label, _ in builds}
    summary = dict(summaries["build"])
    summary["loadavg_1m"] = {"min": min(load), "max": max(load)}
    if args.baseline:
        summary["baseline_build"] = summaries["baseline"]
    if args.format == "json":
        print(json.dumps(summary, indent=1))
    else:
        print("notify bench (load average %.1f-%.1f after each round)" % (min(load), max(load)))
        print_summary("this build (%s)" % args.playtrace, summaries["build"])
        if args.baseline:
            print_summary("baseline build (%s)" % args.baseline, summaries["baseline"])
    sys.exit(0 if summary["pass"] else 3)


if __name__ == "__main__":
    main()
