#!/usr/bin/env python3
"""Replay benchmark (issue 25): N stored rejects replayed through ingest with a transform,
against live ingest throughput; and the p99 of a paced live client while the replay runs
against the same client on a quiet collector. Standard library only; see README.md."""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

TRANSFORM = '[[rename]]\nfrom = "msg"\nto = "message"\n'


def line(i, key):
    return ('{"level":"info","%s":"telemetry.contest.resolved","hubId":"hub","roomId":"r%d",'
            '"contestKey":"k%d","contestId":"c%d","outcomeTier":"success","armingDurationMs":%d,'
            '"resolutionDurationMs":%d}' % (key, i % 7, i, i, 100 + i % 900, 1000 + i % 4000))


def post(url, body, ctype="application/x-ndjson", timeout=60):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def start(binary, tmp):
    data = os.path.join(tmp, "data")
    cfg = os.path.join(tmp, "serve.toml")
    open(cfg, "w").close()
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
                          "--config", cfg], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         text=True)
    for l in p.stderr:
        m = re.search(r"listening on (\S+)", l)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            url = m.group(1)
            break
    else:
        sys.exit("serve did not start")
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/readyz", timeout=5)
            return p, url
        except Exception:
            time.sleep(0.05)
    sys.exit("serve never became ready")


def cpu_seconds(pid):
    """User + system CPU the process has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def perf_stat(pid, out):
    """`perf stat` counting the collector's user and kernel instructions until interrupted."""
    return subprocess.Popen(["perf", "stat", "-x", ",", "-e", "instructions:u,instructions:k",
                             "-p", str(pid), "-o", out])


def perf_counts(out):
    """{event: count} from a `perf stat -x ,` output file."""
    counts = {}
    for row in open(out):
        cols = row.strip().split(",")
        if len(cols) > 2 and cols[0].isdigit():
            counts[cols[2]] = int(cols[0])
    return counts


def run_queue_waits(pid):
    """{thread name: ns spent runnable but waiting for a CPU} over the threads of `pid`, from
    /proc/<pid>/task/*/schedstat (threads that ended are gone from it)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            name = re.sub(r"[0-9]+$", "", open(f"/proc/{pid}/task/{tid}/comm").read().strip())
            wait = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out[name] = out.get(name, 0) + wait
    return out


def renice_reader(pid, nice, stop):
    """Sets the replay's page reader thread (`replay-pages`) to `nice` once it appears, so one
    binary can be measured with its reader at background and at normal priority (lowering a
    niceness needs root or CAP_SYS_NICE)."""
    done = set()
    while not stop.is_set():
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                if tid in done:
                    continue
                try:
                    comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                except OSError:
                    continue
                if comm == "replay-pages":
                    subprocess.run(["renice", "-n", str(nice), "-p", tid],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    done.add(tid)
        except OSError:
            return
        time.sleep(0.005)


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else None


def paced(url, seconds, stop, out, start_id):
    """One request of 100 events every 50 ms; latencies in ms."""
    i = start_id
    end = time.time() + seconds if seconds else None
    while not stop.is_set() and (end is None or time.time() < end):
        body = "".join('{"event":"live.tick","id":"l%d","attrs":{"n":%d}}\n' % (i + k, k)
                       for k in range(100))
        i += 100
        t = time.perf_counter()
        post(url + "/v1/events", body)
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - t)))
    return i


def run_one(binary, a, reader_nice=None):
    """One fresh collector of `binary` through every phase; the figures as a dict."""
    tmp = tempfile.mkdtemp(prefix="playtrace-recovery-")
    proc, url = start(binary, tmp)
    load0 = os.getloadavg()[0]
    try:
        # Live ingest throughput: clients at full speed, 1,000 events per request; first small
        # plain events, then the very lines the replay will store (repaired, as a fixed client
        # would send them: contest records, which the live budgets fold), on contests of their own.
        def throughput(make):
            counts = [0] * a.clients
            def flood(c):
                end, n = time.time() + a.seconds, 0
                while time.time() < end:
                    body = "".join(make(c, n + k) + "\n" for k in range(1000))
                    n += 1000
                    post(url + "/v1/events", body)
                    counts[c] += 1000
            ts = [threading.Thread(target=flood, args=(c,)) for c in range(a.clients)]
            t0 = time.time(); [t.start() for t in ts]; [t.join() for t in ts]
            return sum(counts) / (time.time() - t0)
        live_eps = throughput(lambda c, n: '{"event":"live.flood","id":"f%d-%d","attrs":{}}' % (c, n))
        same_eps = throughput(lambda c, n: line(10**9 * (c + 1) + n, "message"))

        # The rejects: the same client bug on every line (`msg` for `message`).
        t0 = time.time()
        for s in range(0, a.rejects, 5000):
            body = "".join(line(i, "msg") + "\n" for i in range(s, min(a.rejects, s + 5000)))
            post(url + "/v1/events", body)
        fill_s = time.time() - t0

        quiet = []
        paced(url, a.seconds, threading.Event(), quiet, 10**9)

        during, stop, result = [], threading.Event(), {}
        def replay():
            t = time.time()
            result["answer"] = post(url + "/v1/rejects/replay",
                                    json.dumps({"transform": TRANSFORM}),
                                    "application/json", timeout=24 * 3600)
            result["seconds"] = time.time() - t
            stop.set()
        perf = perf_stat(proc.pid, os.path.join(tmp, "perf.txt")) if a.perf else None
        cpu0 = cpu_seconds(proc.pid)
        waits0 = run_queue_waits(proc.pid)
        rt = threading.Thread(target=replay); rt.start()
        if reader_nice is not None:
            threading.Thread(target=renice_reader, args=(proc.pid, reader_nice, stop),
                             daemon=True).start()
        paced(url, None, stop, during, 2 * 10**9)
        rt.join()
        waits = {k: v - waits0.get(k, 0) for k, v in run_queue_waits(proc.pid).items()}
        cpu_s = cpu_seconds(proc.pid) - cpu0
        ans = result["answer"]
        replay_eps = ans["events"] / result["seconds"]
        per_event = {}
        if perf:
            perf.send_signal(signal.SIGINT); perf.wait()
            for name, n in perf_counts(os.path.join(tmp, "perf.txt")).items():
                per_event[name.replace(":", "_") + "PerEvent"] = round(n / max(1, ans["events"]))
        return {
            "binary": binary,
            "rejects": a.rejects, "liveEventsPerSec": round(live_eps),
            "replayEventsPerSec": round(replay_eps), "replaySeconds": round(result["seconds"], 1),
            "replayVsLive": round(replay_eps / live_eps, 2),
            "liveSameLinesPerSec": round(same_eps),
            "replayVsLiveSameLines": round(replay_eps / same_eps, 2),
            "replayed": ans["replayed"], "events": ans["events"],
            "liveP99QuietMs": round(p99(quiet), 1), "liveP99DuringReplayMs": round(p99(during), 1),
            "p99Ratio": round(p99(during) / p99(quiet), 2), "fillSeconds": round(fill_s, 1),
            # The collector's CPU over the replay (the paced client's requests included) per
            # replayed event: steadier than the rate on a loaded machine.
            "cpuUsPerReplayedEvent": round(cpu_s / max(1, ans["events"]) * 1e6, 2),
            **per_event,
            "loadAverage": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count(),
            "liveP50DuringReplayMs": round(statistics.median(during), 1),
            # Share of the replay's wall time the store's writer (which commits live jobs;
            # `playtrace-write` is its name cut to 15 bytes) spent runnable but waiting for a
            # CPU: how much the replay's other threads and the machine's load crowded it out.
            "writerRunQueueWaitPct": round(100 * waits.get("playtrace-write", 0) / 1e9
                                           / result["seconds"], 1),
            "readerNice": reader_nice,
        }
    finally:
        proc.terminate(); proc.wait()
        # A million rejects and their events are about 1 GB.
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--playtrace", required=True)
    ap.add_argument("--baseline", help="another playtrace binary (e.g. main's), run alternately "
                    "with --playtrace in the same run so both see the same machine")
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of each binary (alternating when --baseline is given)")
    ap.add_argument("--rejects", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--format", default="table")
    ap.add_argument("--reader-nice", type=int, help="renice the replay's page reader thread "
                    "(`replay-pages`) to this niceness once it starts, in --playtrace's runs only "
                    "(0 needs root): with --baseline the same binary, its reader at normal "
                    "priority against its own default")
    ap.add_argument("--perf", action="store_true", help="count the collector's instructions "
                    "per replayed event with `perf stat` (user and kernel)")
    a = ap.parse_args()
    binaries = [("baseline", a.baseline)] if a.baseline else []
    binaries.append(("playtrace", a.playtrace))
    runs = []
    for r in range(a.rounds):
        for label, binary in binaries:
            out = run_one(binary, a, a.reader_nice if label == "playtrace" else None)
            out["run"], out["round"] = label, r + 1
            runs.append(out)
            if a.format == "json":
                print(json.dumps(out), flush=True)
            else:
                print(f"-- {label} (round {r + 1}): {binary}")
                for k, v in out.items():
                    print(f"{k:24} {v}")
                print(flush=True)
    summary = medians(runs, [label for label, _ in binaries])
    if a.format == "json":
        print(json.dumps({"medians": summary}), flush=True)
        return
    print(f"medians over {a.rounds} round(s); the issue's targets: replay events/s >= 0.5 x live "
          "ingest events/s, live p99 during the replay < 2 x quiet")
    print(f"{'build':10} {'replay/live':>12} {'p99 during/quiet':>17} {'replay/same lines':>18} "
          f"{'replay ev/s':>12} {'live ev/s':>10} {'CPU us/ev':>10} {'load':>11}")
    for label, m in summary.items():
        print(f"{label:10} {m['replayVsLive']:>12} {m['p99Ratio']:>16}x "
              f"{m['replayVsLiveSameLines']:>18} {m['replayEventsPerSec']:>12} "
              f"{m['liveEventsPerSec']:>10} {m['cpuUsPerReplayedEvent']:>10} "
              f"{m['loadAverage']:>11}")


def medians(runs, labels):
    """Per build, the median of each figure over its rounds (each ratio is taken per round, on
    one collector, then the median of those ratios), and the range of load averages seen."""
    out = {}
    for label in labels:
        mine = [r for r in runs if r["run"] == label]
        med = lambda k: round(statistics.median(r[k] for r in mine), 2)
        loads = [x for r in mine for x in r["loadAverage"]]
        out[label] = {
            "rounds": len(mine),
            "replayVsLive": med("replayVsLive"),
            "p99Ratio": med("p99Ratio"),
            "replayVsLiveSameLines": med("replayVsLiveSameLines"),
            "replayEventsPerSec": round(statistics.median(r["replayEventsPerSec"] for r in mine)),
            "liveEventsPerSec": round(statistics.median(r["liveEventsPerSec"] for r in mine)),
            "cpuUsPerReplayedEvent": med("cpuUsPerReplayedEvent"),
            "loadAverage": f"{min(loads):.1f}-{max(loads):.1f}",
        }
    return out


if __name__ == "__main__":
    main()
