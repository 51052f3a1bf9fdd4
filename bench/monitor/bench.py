#!/usr/bin/env python3
"""Benchmark `playtrace monitor` against DuckDB and jq on a synthetic NDJSON telemetry log.

For every tool and run: wall time (perf_counter around the child process) and the child's
peak RSS (os.wait4 ru_maxrss). Before any number is reported, the values every tool
computes (malformed-line count, contests observed, samples/p50/p95/p99/max of arming,
resolution and expired-arming durations) must be identical across tools, across runs, and
equal to the ground truth gen.py recorded while writing the file; otherwise the differences
are printed and the exit status is 1.

    python3 bench/monitor/bench.py [--shapes short,long,mixed] [--threads 2] [--size-mb 1024]
                                   [--runs 5] [--jq-runs 1] [--skip-jq]
                                   [--skip-playtrace] [--playtrace PATH]
                                   [--data-dir bench/monitor/data] [--format text|json]

Each shape (gen.py --shape) is generated, validated and timed in turn, playtrace and DuckDB
alternating within every round so the ratio of one shape is measured under one load; the load
average is printed before and after each shape. --threads N is given to both (playtrace
--threads N, DuckDB SET threads=N), so the same run compares them on a bigger machine.

Use bench/monitor/run to get the Python/jq dependencies and the release build set up first.
Exit status: 0 ok, 1 results differ between tools, 2 setup/tool error,
3 target missed (only with --require-target).
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SQL_FILE = os.path.join(HERE, "monitor.sql")
JQ_FILE = os.path.join(HERE, "monitor.jq")
GEN = os.path.join(HERE, "gen.py")

TARGET_SPEEDUP = 1.5        # playtrace throughput >= 1.5x DuckDB's
TARGET_RSS_MIB = 150.0      # playtrace peak RSS < 150 MiB (and below DuckDB's)

METRICS = ("arming", "resolution", "expiredArming")
STATS = ("samples", "p50", "p95", "p99", "max")

# Runs in a fresh python3 process so that DuckDB's memory is measured on its own.
DUCKDB_CHILD = r"""
import json, sys
import duckdb
sql_path, log_path = sys.argv[1], sys.argv[2]
with open(sql_path) as fh:
    sql = fh.read().replace("__FILE__", "'" + log_path.replace("'", "''") + "'")
con = duckdb.connect()
con.execute(f"SET threads={int(sys.argv[3])}")
# DuckDB draws a progress bar on stdout when it thinks it has a terminal; it would corrupt the
# JSON this process prints (and cost time).
con.execute("SET enable_progress_bar=false")
cur = con.execute(sql)
cols = [d[0] for d in cur.description]
row = cur.fetchone()
json.dump(dict(zip(cols, row)), sys.stdout)
sys.stdout.write("\n")
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def size_tag(size_mb):
    return str(int(size_mb)) if float(size_mb).is_integer() else str(size_mb)


def ensure_data(args, shape):
    os.makedirs(args.data_dir, exist_ok=True)
    # The long shape keeps the file name it had before shapes existed.
    tag = "" if shape == "long" else f"{shape}-"
    base = os.path.join(args.data_dir, f"monitor-{tag}{size_tag(args.size_mb)}mb-seed{args.seed}")
    path, stats = base + ".ndjson", base + ".stats.json"
    if os.path.exists(path) and os.path.exists(stats):
        log(f"data: reusing {path}")
    else:
        log(f"data: generating {path} ({shape}, {args.size_mb} MiB, seed {args.seed}) ...")
        tmp = path + ".tmp"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, GEN, "--shape", shape, "--size-mb", str(args.size_mb),
                        "--seed", str(args.seed), "--out", tmp, "--stats", stats], check=True)
        os.replace(tmp, path)
        log(f"data: generated in {time.perf_counter() - t0:.1f} s")
    with open(stats) as fh:
        return path, json.load(fh)


def warm_cache(path):
    """Read the file once so every tool (and the first timed run) sees a warm page cache."""
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass


def run_child(cmd):
    """Run cmd; return (wall seconds, peak RSS KiB, exit code, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, ru.ru_maxrss, code, out.read().decode("utf-8", "replace"), \
            err.read().decode("utf-8", "replace")


# --- result normalisation: every tool -> {malformed, contestsObserved, arming{...}, ...} --------

MISSING = "<missing>"


def dig(obj, *keys):
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return MISSING
        obj = obj[k]
    return obj


def normalize_playtrace(out):
    doc = json.loads(out)
    res = {"malformed": dig(doc, "rejects", "total"),
           "contestsObserved": dig(doc, "totals", "contestsObserved")}
    for m in METRICS:
        res[m] = {s: dig(doc, "durations", m, s) for s in STATS}
    return res


def normalize_reference(out):
    doc = json.loads(out)
    res = {"malformed": doc.get("malformed", MISSING),
           "contestsObserved": doc.get("contestsObserved", MISSING)}
    for m in METRICS:
        block = doc.get(m) or {}
        res[m] = {s: block.get(s, MISSING) for s in STATS}
    return res


def flatten(res):
    flat = {"malformed": res["malformed"], "contestsObserved": res["contestsObserved"]}
    for m in METRICS:
        for s in STATS:
            flat[f"{m}.{s}"] = res[m][s]
    return flat


def same(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b  # 1480 == 1480.0
    return a == b


def differences(named):
    """named: {source: normalized result}. Returns list of 'key: a=.. b=..' for disagreements."""
    flats = {k: flatten(v) for k, v in named.items()}
    keys = list(next(iter(flats.values())).keys())
    diffs = []
    for key in keys:
        vals = {src: f[key] for src, f in flats.items()}
        first = next(iter(vals.values()))
        if not all(same(first, v) for v in vals.values()):
            diffs.append(f"{key}: " + "  ".join(f"{src}={v!r}" for src, v in vals.items()))
    return diffs


# --- tools -----------------------------------------------------------------------------------

class Tool:
    def __init__(self, name, cmd, runs, normalize, ok_codes=(0,)):
        self.name, self.cmd, self.runs, self.normalize, self.ok_codes = name, cmd, runs, normalize, ok_codes
        self.walls, self.rss_kib, self.codes, self.results = [], [], [], []

    def run_once(self):
        wall, rss, code, out, err = run_child(self.cmd)
        if code not in self.ok_codes:
            log(f"\nERROR: {self.name} exited with {code}: {' '.join(self.cmd)}")
            log("stdout:", out[-4000:])
            log("stderr:", err[-4000:])
            sys.exit(2)
        try:
            res = self.normalize(out)
        except (ValueError, KeyError, TypeError) as e:
            log(f"\nERROR: cannot parse {self.name} output ({e}):\n{out[:4000]}\nstderr: {err[-2000:]}")
            sys.exit(2)
        self.walls.append(wall)
        self.rss_kib.append(rss)
        self.codes.append(code)
        self.results.append(res)
        return wall, rss, code

    def summary(self, size_bytes):
        med = statistics.median(self.walls)
        return {
            "runs": len(self.walls),
            "wall_s": [round(w, 4) for w in self.walls],
            "peak_rss_kib": self.rss_kib,
            "exit_codes": self.codes,
            "median_s": round(med, 4),
            "min_s": round(min(self.walls), 4),
            "max_s": round(max(self.walls), 4),
            "throughput_mib_s": round(size_bytes / 2**20 / med, 1),
            "median_peak_rss_mib": round(statistics.median(self.rss_kib) / 1024, 1),
        }


def tool_version(cmd):
    """First output line of cmd, or None if it fails."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (p.stdout or p.stderr).strip()
    return text.splitlines()[0] if p.returncode == 0 and text else None


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure_shape(args, shape, jq_bin, duckdb_version):
    """Generates (or reuses) one shape's log, times the tools in alternating rounds and validates
    them against each other and the generator. Returns the shape's result dict (exits 1 on a
    disagreement, 2 on a tool error)."""
    path, gen_stats = ensure_data(args, shape)
    size = os.path.getsize(path)
    if not args.no_warmup:
        log("warming the page cache ...")
        warm_cache(path)

    tools = []
    if not args.skip_playtrace:
        tools.append(Tool("playtrace", [args.playtrace, "monitor", "--format", "json",
                                        "--threads", str(args.threads), path],
                          args.runs, normalize_playtrace, ok_codes=(0, 1)))
    tools.append(Tool("duckdb", [args.duckdb_python, "-c", DUCKDB_CHILD, SQL_FILE, path, str(args.threads)],
                      args.runs, normalize_reference))
    if args.baseline:
        # Another playtrace binary (say, the previous commit's), timed in the same rounds.
        tools.append(Tool("baseline", [args.baseline, "monitor", "--format", "json",
                                       "--threads", str(args.threads), path],
                          args.runs, normalize_playtrace, ok_codes=(0, 1)))
    if not args.skip_jq:
        tools.append(Tool("jq", [jq_bin, "-n", "-R", "-c", "-f", JQ_FILE, path],
                          args.jq_runs, normalize_reference))

    log(f"\n=== shape {shape}: {path}  {size / 2**20:.1f} MiB, {gen_stats.get('lines')} lines "
        f"(avg {size / max(1, gen_stats.get('lines') or 1):.0f} B), {gen_stats.get('malformed')} malformed, "
        f"{gen_stats.get('nonContest', 0)} non-contest, {gen_stats.get('contestsObserved')} contests launched")
    log("tools: " + ", ".join(f"{t.name} x{t.runs}" for t in tools)
        + f"  (duckdb {duckdb_version}, SET threads={args.threads}; playtrace --threads {args.threads})")
    load_before = loadavg()

    def validate(final):
        named = {t.name: t.results[0] for t in tools}
        named["generator"] = gen_stats["expected"]
        diffs = differences(named)
        if final:
            for t in tools:
                for i, r in enumerate(t.results[1:], start=2):
                    for d in differences({f"{t.name}#1": t.results[0], f"{t.name}#{i}": r}):
                        diffs.append(f"run-to-run: {d}")
        return diffs

    # Timed rounds, tools alternating (a different tool starts each round).
    rounds = max(t.runs for t in tools)
    diffs = []
    for r in range(rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for t in order:
            if len(t.walls) < t.runs:
                wall, rss, code = t.run_once()
                log(f"{shape:<6} round {r + 1}/{rounds}  {t.name:<9} {wall:8.3f} s  {rss / 1024:8.1f} MiB peak RSS"
                    + (f"  (exit {code})" if t.name in ("playtrace", "baseline") else ""))
        if r == 0:
            diffs = validate(final=False)
            if diffs:
                break
    diffs = validate(final=True) if not diffs else diffs
    load_after = loadavg()

    if diffs:
        log(f"\nVALIDATION FAILED ({shape}): the tools do not compute the same values:")
        for d in diffs:
            log("  " + d)
        log("\nper-source results:")
        for t in tools:
            log(f"  {t.name}: {json.dumps(t.results[0])}")
        log(f"  generator: {json.dumps(gen_stats['expected'])}")
        if args.format == "json":
            print(json.dumps({"shape": shape, "validation": {"ok": False, "differences": diffs}}, indent=2))
        sys.exit(1)

    summ = {t.name: t.summary(size) for t in tools}
    pt, dk, jqs = summ.get("playtrace"), summ["duckdb"], summ.get("jq")
    ratios = {}
    target = {"speedup_vs_duckdb_min": TARGET_SPEEDUP, "peak_rss_mib_max": TARGET_RSS_MIB,
              "peak_rss_below_duckdb": True, "met": None}
    if pt:
        ratios["duckdb_time_over_playtrace_time"] = round(dk["median_s"] / pt["median_s"], 2)
        if jqs:
            ratios["jq_time_over_playtrace_time"] = round(jqs["median_s"] / pt["median_s"], 2)
        if "baseline" in summ:
            ratios["duckdb_time_over_baseline_time"] = round(dk["median_s"] / summ["baseline"]["median_s"], 2)
        ratios["playtrace_rss_over_duckdb_rss"] = round(pt["median_peak_rss_mib"] / dk["median_peak_rss_mib"], 3)
        speed_ok = ratios["duckdb_time_over_playtrace_time"] >= TARGET_SPEEDUP
        rss_ok = pt["median_peak_rss_mib"] < TARGET_RSS_MIB
        below_ok = pt["median_peak_rss_mib"] < dk["median_peak_rss_mib"]
        target.update(speed_ok=speed_ok, rss_ok=rss_ok, rss_below_duckdb_ok=below_ok,
                      met=speed_ok and rss_ok and below_ok)
    elif jqs:
        ratios["jq_time_over_duckdb_time"] = round(jqs["median_s"] / dk["median_s"], 2)
    return {"shape": shape, "file": path, "bytes": size, "lines": gen_stats.get("lines"),
            "generator": {k: v for k, v in gen_stats.items() if k != "file"},
            "tools": summ, "results": tools[0].results[0], "ratios": ratios, "target": target,
            "loadavg_before": load_before, "loadavg_after": load_after,
            "validation": {"ok": True, "differences": []}}


def report_shape(w, m):
    size, summ, ratios, target = m["bytes"], m["tools"], m["ratios"], m["target"]
    pt = summ.get("playtrace")
    w(f"--- {m['shape']}: {os.path.basename(m['file'])}  ({size / 2**20:.1f} MiB, {m['lines']} lines, "
      f"avg {size / max(1, m['lines'] or 1):.0f} B/line; load average {m['loadavg_before']} -> {m['loadavg_after']})")
    res = m["results"]
    w(f"validation: OK - {', '.join(summ)} and the generator's ground truth agree: "
      f"malformed={res['malformed']} contestsObserved={res['contestsObserved']}")
    w("  " + "  ".join(f"{k}: n={res[k]['samples']} p50={res[k]['p50']} p95={res[k]['p95']} "
                       f"p99={res[k]['p99']} max={res[k]['max']}" for k in METRICS))
    hdr = f"{'tool':<10} {'runs':>4} {'median s':>9} {'min s':>8} {'max s':>8} {'MiB/s':>8} {'peak RSS MiB':>13}"
    w(hdr)
    w("-" * len(hdr))
    for name, s in summ.items():
        w(f"{name:<10} {s['runs']:>4} {s['median_s']:>9.3f} {s['min_s']:>8.3f} {s['max_s']:>8.3f} "
          f"{s['throughput_mib_s']:>8.1f} {s['median_peak_rss_mib']:>13.1f}")
    if pt:
        w(f"DuckDB time / playtrace time : {ratios['duckdb_time_over_playtrace_time']:.2f}x"
          + (f"   jq time / playtrace time: {ratios['jq_time_over_playtrace_time']:.2f}x"
             if "jq_time_over_playtrace_time" in ratios else "")
          + (f"   DuckDB time / baseline time: {ratios['duckdb_time_over_baseline_time']:.2f}x"
             if "duckdb_time_over_baseline_time" in ratios else ""))
    w()


def main():
    ap = argparse.ArgumentParser(description="playtrace monitor vs DuckDB vs jq",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--shapes", default="short,long,mixed",
                    help="comma-separated log shapes to measure (gen.py --shape; default short,long,mixed)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads for playtrace (--threads) and DuckDB (SET threads) alike (default 2)")
    ap.add_argument("--size-mb", type=float, default=1024, help="generated log size in MiB (default 1024)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of playtrace and DuckDB (default 5)")
    ap.add_argument("--jq-runs", type=int, default=1, help="timed runs of jq (default 1; jq is slow)")
    ap.add_argument("--skip-jq", action="store_true")
    ap.add_argument("--skip-playtrace", action="store_true",
                    help="only run the references (for testing the harness without the binary)")
    ap.add_argument("--playtrace", default=os.path.join(REPO, "target", "release", "playtrace"))
    ap.add_argument("--baseline", metavar="PATH",
                    help="another playtrace binary (an earlier build) timed in the same rounds, for a "
                         "before/after ratio under the same load")
    ap.add_argument("--duckdb-python", default=sys.executable,
                    help="python interpreter with the duckdb module (default: this one)")
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--format", choices=("text", "json"), default="text",
                    help="json: print the results as JSON on stdout (the table goes to stderr)")
    ap.add_argument("--no-warmup", action="store_true", help="do not pre-read the file into the page cache")
    ap.add_argument("--require-target", action="store_true",
                    help="exit 3 if the target is not met on every shape")
    args = ap.parse_args()

    if args.runs < 1 or args.jq_runs < 1 or args.threads < 1:
        ap.error("--runs, --jq-runs and --threads must be >= 1")
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in ("short", "long", "mixed")]
    if not shapes or unknown:
        ap.error(f"--shapes takes short, long and mixed; got {args.shapes!r}")

    # --- preflight ---------------------------------------------------------------------------
    jq_bin = shutil.which("jq")
    if not args.skip_jq and not jq_bin:
        log("ERROR: jq not found (install it, use bench/monitor/run, or pass --skip-jq)")
        sys.exit(2)
    if args.baseline and not os.access(args.baseline, os.X_OK):
        log(f"ERROR: --baseline {args.baseline} is not an executable")
        sys.exit(2)
    if not args.skip_playtrace and not os.access(args.playtrace, os.X_OK):
        log(f"ERROR: {args.playtrace} not found; build it with `cargo build --release -p playtrace`, "
            "pass --playtrace PATH, or --skip-playtrace")
        sys.exit(2)
    duckdb_version = tool_version([args.duckdb_python, "-c", "import duckdb; print(duckdb.__version__)"])
    if duckdb_version is None:
        log(f"ERROR: `{args.duckdb_python}` cannot import duckdb (use bench/monitor/run, "
            "or pip install duckdb, or pass --duckdb-python)")
        sys.exit(2)
    env = {
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb_version,
        "jq": tool_version([jq_bin, "--version"]) if jq_bin and not args.skip_jq else None,
        "playtrace": None if args.skip_playtrace else tool_version([args.playtrace, "--version"]),
    }

    measured = [measure_shape(args, shape, jq_bin, duckdb_version) for shape in shapes]

    # --- report ----------------------------------------------------------------------------
    out = sys.stdout if args.format == "text" else sys.stderr
    w = lambda s="": print(s, file=out)
    w()
    w(f"playtrace monitor benchmark: {len(measured)} shape(s), {os.cpu_count()} CPUs, "
      f"{args.threads} thread(s) each, warm page cache, duckdb {duckdb_version}")
    w()
    for m in measured:
        report_shape(w, m)
    w("(wall time and peak RSS of the whole child process; DuckDB's include the python3 interpreter and")
    w(" module import, ~65 MiB / ~0.1 s; MiB = 2^20 bytes)")
    w()
    yn = lambda b: "yes" if b else "NO"
    any_pt = not args.skip_playtrace
    if any_pt:
        base = args.baseline is not None
        hdr = (f"{'shape':<7} {'B/line':>6} {'playtrace s':>11} {'DuckDB s':>9} {'DuckDB/pt':>9} "
               + (f"{'DuckDB/baseline':>15} " if base else "")
               + f"{'pt RSS MiB':>10} {'DuckDB RSS':>10}  {'load avg':>17}  target")
        w(hdr)
        w("-" * len(hdr))
        for m in measured:
            pt, dk = m["tools"]["playtrace"], m["tools"]["duckdb"]
            la = "/".join(f"{x:.1f}" for x in (m["loadavg_before"] or [])[:1] + (m["loadavg_after"] or [])[:1])
            w(f"{m['shape']:<7} {m['bytes'] / max(1, m['lines'] or 1):>6.0f} {pt['median_s']:>11.3f} "
              f"{dk['median_s']:>9.3f} {m['ratios']['duckdb_time_over_playtrace_time']:>8.2f}x "
              + (f"{m['ratios']['duckdb_time_over_baseline_time']:>14.2f}x " if base else "")
              + f"{pt['median_peak_rss_mib']:>10.1f} {dk['median_peak_rss_mib']:>10.1f}  {la:>17}  "
              f"{'met' if m['target']['met'] else 'NOT MET'}")
        w()
        all_met = all(m["target"]["met"] for m in measured)
        w(f"TARGET on every shape: playtrace throughput >= {TARGET_SPEEDUP}x DuckDB's, peak RSS < "
          f"{TARGET_RSS_MIB:.0f} MiB and below DuckDB's")
        for m in measured:
            t = m["target"]
            w(f"  {m['shape']:<6} speed {yn(t['speed_ok'])} ({m['ratios']['duckdb_time_over_playtrace_time']:.2f}x), "
              f"RSS < {TARGET_RSS_MIB:.0f} MiB {yn(t['rss_ok'])}, below DuckDB's {yn(t['rss_below_duckdb_ok'])}")
        w(f"  => target {'MET' if all_met else 'NOT MET'} (load average is shown per shape: the machine "
          "may be shared; compare ratios, not times across runs)")
    else:
        all_met = None
        w(f"TARGET (playtrace >= {TARGET_SPEEDUP}x DuckDB throughput, peak RSS < {TARGET_RSS_MIB:.0f} MiB and "
          "below DuckDB's): not evaluated, playtrace skipped")

    if args.format == "json":
        print(json.dumps({"environment": env, "shapes": measured, "target_met": all_met}, indent=2))

    if args.require_target and any_pt and not all_met:
        sys.exit(3)


if __name__ == "__main__":
    main()
