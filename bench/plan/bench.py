#!/usr/bin/env python3
"""`playtrace plan check` vs `playtrace monitor` on the 1 GiB bench log (issue 20's target:
plan check reads it at >= 50% of monitor's speed).

Both read the same file (bench/monitor/gen.py's log, shared with bench/monitor) with the same
binary, in alternating order, after one untimed read warmed the page cache. `plan check` checks
every event against a plan (default: examples/plan/, PlayTrace's own events, which governs every
event of the log) and builds the coverage report; `monitor` correlates contests and judges
budgets. Reported: the median wall time and MB/s of each, the ratio (plan check's throughput /
monitor's), and the load average during the runs (a loaded machine slows both; the ratio is what
counts).

    python3 bench/plan/bench.py [--size-mb 1024] [--runs 3] [--data-dir DIR] [--plan DIR]
                                [--playtrace PATH] [--baseline PATH] [--format text|json]
                                [--require-target]

Use bench/plan/run to build the release binary first. Exit status: 0 ok, 2 setup/tool error,
3 target missed (only with --require-target), 4 the baseline's report differs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(REPO, "bench", "monitor", "gen.py")
TARGET_RATIO = 0.5


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def ensure_data(data_dir, size_mb, seed):
    os.makedirs(data_dir, exist_ok=True)
    tag = str(int(size_mb)) if float(size_mb).is_integer() else str(size_mb)
    base = os.path.join(data_dir, f"monitor-{tag}mb-seed{seed}")
    path, stats = base + ".ndjson", base + ".stats.json"
    if os.path.exists(path) and os.path.exists(stats):
        log(f"data: reusing {path}")
        return path
    log(f"data: generating {path} ({size_mb} MiB, seed {seed}) ...")
    tmp = path + ".tmp"
    subprocess.run([sys.executable, GEN, "--size-mb", str(size_mb), "--seed", str(seed),
                    "--out", tmp, "--stats", stats], check=True)
    os.replace(tmp, path)
    return path


def warm_cache(path):
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass


def run_child(cmd):
    """(wall seconds, peak RSS KiB, exit code, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, ru.ru_maxrss, code, out.read().decode("utf-8", "replace"), \
            err.read().decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3)")
    ap.add_argument("--data-dir", default=os.path.join(REPO, "bench", "monitor", "data"),
                    help="where the log is (generated when missing; shared with bench/monitor)")
    ap.add_argument("--plan", default=os.path.join(REPO, "examples", "plan"))
    ap.add_argument("--playtrace", default=os.path.join(REPO, "target", "release", "playtrace"))
    ap.add_argument("--baseline", metavar="PATH",
                    help="another playtrace binary (say, main's, copied aside) timed in the same "
                         "run, alternating with --playtrace; its plan check report must equal "
                         "this one's (but generatedAt)")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    ap.add_argument("--require-target", action="store_true")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    if not os.access(args.playtrace, os.X_OK):
        log(f"ERROR: {args.playtrace} not found; run bench/plan/run or pass --playtrace PATH")
        sys.exit(2)

    path = ensure_data(args.data_dir, args.size_mb, args.seed)
    size = os.path.getsize(path)
    warm_cache(path)
    binaries = {"": args.playtrace}
    if args.baseline:
        if not os.access(args.baseline, os.X_OK):
            log(f"ERROR: --baseline {args.baseline} is not an executable")
            sys.exit(2)
        binaries = {"base ": args.baseline, "": args.playtrace}
    tools = {}
    for prefix, binary in binaries.items():
        tools[prefix + "monitor"] = [binary, "monitor", "--quiet", "--format", "json", path]
        tools[prefix + "plan check"] = [binary, "plan", "check", "--quiet", "--plan", args.plan,
                                        "--format", "json", path]
    reports = {}
    walls = {name: [] for name in tools}
    rss = {name: [] for name in tools}
    loads = []
    order = list(tools)
    for r in range(args.runs):
        for name in (order if r % 2 == 0 else order[::-1]):
            wall, maxrss, code, out, err = run_child(tools[name])
            # 0 pass, 1 a budget breached / a plan violation: both are complete reads.
            if code not in (0, 1):
                log(f"ERROR: {name} exited {code}: {err.strip()[:2000]}")
                sys.exit(2)
            if name.endswith("plan check"):
                report = json.loads(out)
                report.pop("generatedAt", None)
                reports[name] = report
            walls[name].append(wall)
            rss[name].append(maxrss / 1024)
            loads.append(os.getloadavg()[0])
            log(f"run {r + 1}: {name:<15} {wall:7.2f} s  {size / wall / 1e6:8.1f} MB/s  "
                f"rss {maxrss / 1024:6.1f} MiB  load {loads[-1]:.1f}")
    median = {name: statistics.median(w) for name, w in walls.items()}
    ratio = median["monitor"] / median["plan check"]
    base_ratio = median["base monitor"] / median["base plan check"] if args.baseline else None
    same = reports.get("base plan check", reports["plan check"]) == reports["plan check"]
    result = {
        "file": path,
        "bytes": size,
        "runs": args.runs,
        "plan": args.plan,
        "tools": {
            name: {
                "medianSeconds": round(median[name], 3),
                "mbPerSecond": round(size / median[name] / 1e6, 1),
                "walls": [round(w, 3) for w in walls[name]],
                "peakRssMiB": round(max(rss[name]), 1),
            }
            for name in tools
        },
        "ratio": round(ratio, 3),
        "baseline": args.baseline,
        "baselineRatio": round(base_ratio, 3) if base_ratio else None,
        "reportsEqual": same,
        "target": TARGET_RATIO,
        "targetMet": ratio >= TARGET_RATIO,
        "loadAverage": {"min": round(min(loads), 2), "max": round(max(loads), 2),
                        "cores": os.cpu_count()},
    }
    table = (
        f"{'tool':<16} {'median s':>9} {'MB/s':>9} {'peak RSS MiB':>13}\n"
        + "".join(
            f"{name:<16} {median[name]:9.2f} {size / median[name] / 1e6:9.1f} {max(rss[name]):13.1f}\n"
            for name in tools
        )
        + f"plan check / monitor throughput: {ratio:.2f} (target >= {TARGET_RATIO}: "
        + ("met" if ratio >= TARGET_RATIO else "MISSED") + ")\n"
        + (f"baseline plan check / monitor: {base_ratio:.2f}; plan check reports "
           + ("identical" if same else "DIFFER") + "\n" if args.baseline else "")
        + f"load average during the runs: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores\n"
    )
    if args.format == "json":
        log(table.rstrip("\n"))
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table)
    if not same:
        log("ERROR: the plan check reports of --baseline and --playtrace differ")
        sys.exit(4)
    if args.require_target and ratio < TARGET_RATIO:
        sys.exit(3)


if __name__ == "__main__":
    main()
