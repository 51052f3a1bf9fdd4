#!/usr/bin/env python3
"""Helpers for the export benchmark (bench/export/run drives them).

Python 3 standard library only. Subcommands:

  gen      write a deterministic NDJSON log of telemetry.transcript.entry events
  wait     wait until a TCP port on 127.0.0.1 accepts connections (server readiness)
  timeit   run one command, write a result JSON (wall seconds, CPU, exit code, writer lines)
  verify   compare an uploaded prefix (or an fs output) with the reference files
  sizes    artifact count and average size per extension of a directory
  report   medians per tool, files/s, the ratio rclone / playtrace, PASS/FAIL

`gen` interleaves the sessions round-robin (as a real log would) and is byte-for-byte
deterministic for a given (--sessions, --entries, --narrative, --seed).
"""

import argparse
import json
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

# ----------------------------------------------------------------------------------------
# gen
# ----------------------------------------------------------------------------------------

WORDS = (
    "the player opened the map and followed the marker toward the north gate where the "
    "tutorial asked for a first crafting attempt; they hesitated, read the hint twice, "
    "then placed iron ore and leather in the bench, confirmed the recipe and waited for "
    "the progress bar, which stalled briefly while the inventory synced with the server, "
    "before the reward popup appeared and the next prompt unlocked"
).split()
EVENTS = ["tutorial_step_completed"]
BASE_MS = 1767225600000  # 2026-01-01T00:00:00Z


def narrative(rng, length):
    out, n = [], 0
    while n < length:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    text = " ".join(out)[:length].rstrip()
    return text[0].upper() + text[1:] + "."


def cmd_gen(args):
    rng = random.Random(args.seed)
    lines = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        starts = [BASE_MS + s * 7919 for s in range(args.sessions)]
        for i in range(1, args.entries + 1):
            for s in range(args.sessions):
                ts = starts[s] + i * 4000 + rng.randrange(1000)
                n = args.narrative + rng.randrange(-args.narrative // 4, args.narrative // 4 + 1)
                event = {
                    "event": "telemetry.transcript.entry",
                    "attrs": {
                        "sessionId": "s-%d" % (s + 1),
                        "sequence": i,
                        "event": "tutorial_step_completed",
                        "promptId": "p%d" % i,
                        "title": "Step %d" % i,
                        "action": "step_completed",
                        "timestamp": ts,
                        "narrative": narrative(rng, n),
                        "metadata": {"stepIndex": i, "durationMs": 500 + rng.randrange(9500)},
                    },
                }
                f.write(json.dumps(event, separators=(",", ":")))
                f.write("\n")
                lines += 1
    print("gen: %d sessions x %d entries = %d lines, %.1f MB -> %s" % (
        args.sessions, args.entries, lines, os.path.getsize(args.out) / 1e6, args.out),
        file=sys.stderr)


# ----------------------------------------------------------------------------------------
# wait
# ----------------------------------------------------------------------------------------

def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        if args.pid and not os.path.exists("/proc/%d" % args.pid):
            sys.exit("wait: the server (pid %d) exited before it was ready" % args.pid)
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=1.0):
                return
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    sys.exit("wait: 127.0.0.1:%d not accepting after %.0f s (%s)" % (args.port, args.timeout, last))


# ----------------------------------------------------------------------------------------
# timeit
# ----------------------------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of a process (all its threads), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


# export: s3://bench-artifacts/runs/playtrace-1: 2001 of 2001 written (8412345 bytes, 1234 ms)
WRITER_LINE = re.compile(
    r"^export: (?P<id>\S+): (?P<ok>\d+) of (?P<of>\d+) written \((?P<bytes>\d+) bytes, "
    r"(?P<ms>\d+) ms\)")


def cmd_timeit(args):
    cmd = args.command[1:] if args.command and args.command[0] == "--" else args.command
    if not cmd:
        sys.exit("timeit: no command")
    stdout = open(args.stdout, "wb") if args.stdout else subprocess.DEVNULL
    stderr = open(args.stderr, "wb")
    server_cpu0 = cpu_seconds(args.server_pid) if args.server_pid else None
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)

    stopped = []

    def forward(signum, _frame):  # do not leave the tool running when the run is stopped
        stopped.append(signum)
        try:
            child.terminate()
        except OSError:
            pass
        killer = threading.Timer(10, child.kill)  # still there 10 s later: SIGKILL
        killer.daemon = True
        killer.start()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()  # the handler only signals; this wait reaps the child
    if stopped:
        sys.exit(128 + stopped[0])
    seconds = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu1 = cpu_seconds(args.server_pid) if args.server_pid else None
    stderr.close()
    writers = {}
    with open(args.stderr, errors="replace") as f:
        err_text = f.read()
    for line in err_text.splitlines():
        m = WRITER_LINE.match(line)
        if m:
            kind = "s3" if m["id"].startswith("s3://") else "fs" if m["id"].startswith("fs:") \
                else m["id"]
            writers[kind] = {"id": m["id"], "written": int(m["ok"]), "attempted": int(m["of"]),
                             "bytes": int(m["bytes"]), "ms": int(m["ms"])}
    result = {
        "tool": args.name,
        "run": args.run,
        "seconds": seconds,
        "exit_code": code,
        "cpu_user": ru1.ru_utime - ru0.ru_utime,
        "cpu_sys": ru1.ru_stime - ru0.ru_stime,
        "server_cpu": (server_cpu1 - server_cpu0)
        if server_cpu0 is not None and server_cpu1 is not None else None,
        "writers": writers,
        "files": args.files,
        "bytes": args.bytes,
        "command": " ".join(cmd),
        "checks": [],
        "warnings": [],
    }
    if code != 0:
        tail = err_text.strip().splitlines()[-5:]
        result["warnings"].append("exit code %d: %s" % (code, " | ".join(tail)))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("run: %-14s run %d: %.3f s (exit %d)%s" % (
        args.name, args.run, seconds, code,
        "".join(", %s writer %d ms" % (k, w["ms"]) for k, w in sorted(writers.items()))),
        file=sys.stderr)


# ----------------------------------------------------------------------------------------
# verify / sizes
# ----------------------------------------------------------------------------------------

def listing(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = path
    return out


def cmd_verify(args):
    """Same names as the reference, count as expected, bytes identical (every file, or a
    sample of --sample files). Appends the outcome to the result JSON."""
    problems = []
    got = listing(args.dir) if os.path.isdir(args.dir) else {}
    if args.absent:  # a dry run: nothing may have been written
        if os.path.exists(args.dir):
            problems.append("%s exists (%d files); a dry run writes nothing" % (args.dir, len(got)))
        return verified(args, problems, "%s: absent: %s" % (
            args.label or args.dir, "; ".join(problems) if problems else "ok"), 0, 0)
    if args.ref is None or args.expect is None:
        sys.exit("verify: --ref and --expect are required (or --absent)")
    ref = listing(args.ref)
    if len(got) != args.expect:
        problems.append("%d files under %s, expected %d" % (len(got), args.dir, args.expect))
    missing = sorted(set(ref) - set(got))
    extra = sorted(set(got) - set(ref))
    if missing:
        problems.append("%d missing (e.g. %s)" % (len(missing), missing[0]))
    if extra:
        problems.append("%d unexpected (e.g. %s)" % (len(extra), extra[0]))
    common = sorted(set(ref) & set(got))
    if args.sample and args.sample < len(common):
        step = len(common) / args.sample
        common = [common[int(i * step)] for i in range(args.sample)]
    differ = []
    for name in common:
        with open(ref[name], "rb") as a, open(got[name], "rb") as b:
            if a.read() != b.read():
                differ.append(name)
    if differ:
        problems.append("%d of %d compared differ (e.g. %s)" % (len(differ), len(common), differ[0]))
    line = "%s: %d objects, %d compared byte for byte with the reference: %s" % (
        args.label or args.dir, len(got), len(common), "; ".join(problems) if problems else "ok")
    verified(args, problems, line, len(got), len(common))


def verified(args, problems, line, objects, compared):
    if args.result:
        with open(args.result) as f:
            result = json.load(f)
        result["checks"].append({"label": args.label or args.dir, "objects": objects,
                                 "compared": compared, "ok": not problems})
        if problems:
            result["warnings"].append(line)
        with open(args.result, "w") as f:
            json.dump(result, f, indent=1)
    if problems:
        print("run: WARNING: " + line, file=sys.stderr)
    elif args.verbose:
        print("run: " + line, file=sys.stderr)
    if problems and args.strict:
        sys.exit(1)


def cmd_sizes(args):
    files = listing(args.dir)
    by_ext = {}
    for name, path in files.items():
        by_ext.setdefault(os.path.splitext(name)[1] or "(none)", []).append(os.path.getsize(path))
    total = sum(sum(v) for v in by_ext.values())
    if args.json:
        print(json.dumps({"files": len(files), "bytes": total}))
        return
    parts = ", ".join("%s %d x %.0f B" % (ext, len(v), sum(v) / len(v))
                      for ext, v in sorted(by_ext.items()))
    print("run: %d artifacts, %.2f MB, %.0f B on average (%s)" % (
        len(files), total / 1e6, total / max(1, len(files)), parts), file=sys.stderr)


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------

TOOLS = ["playtrace", "playtrace-s3", "playtrace-fs", "rclone", "rclone-t32", "rclone-extra"]
RCLONES = ["rclone", "rclone-t32", "rclone-extra"]
LABELS = {
    "playtrace": "playtrace",
    "playtrace-dry": "playtrace --dry-run",
    "playtrace-s3": "playtrace, S3 writer only",
    "playtrace-fs": "playtrace, fs writer only",
    "rclone": "rclone (defaults)",
    "rclone-t32": "rclone --transfers 32",
    "rclone-extra": "rclone (--rclone-extra)",
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def cmd_report(args):
    if args.extra_label:
        LABELS["rclone-extra"] = args.extra_label
    results = []
    for path in args.files:
        with open(path) as f:
            results.append(json.load(f))
    by_tool = {}
    for r in results:
        by_tool.setdefault(r["tool"], []).append(r)
    for rs in by_tool.values():
        rs.sort(key=lambda r: r["run"])
    files = max((r.get("files") or 0 for r in results), default=0)
    mbytes = max((r.get("bytes") or 0 for r in results), default=0) / 1e6
    runs = max((len(rs) for rs in by_tool.values()), default=0)

    med = {t: median([r["seconds"] for r in rs]) for t, rs in by_tool.items()}
    # playtrace's write phase: per round, the full export minus the dry run of that round.
    dry_by_run = {r["run"]: r["seconds"] for r in by_tool.get("playtrace-dry", [])}
    write_phase = [r["seconds"] - dry_by_run[r["run"]] for r in by_tool.get("playtrace", [])
                   if r["run"] in dry_by_run]

    print("export: %d artifacts (%.2f MB, %.0f B avg) per upload to s3s-fs on 127.0.0.1, "
          "median of %d interleaved runs" % (files, mbytes, mbytes * 1e6 / max(1, files), runs))
    print("")
    w = max([len("playtrace minus dry-run")] + [len(LABELS[t]) for t in by_tool])
    row = "%-" + str(w) + "s %9s %9s %7s %7s %7s %8s  %s"
    head = row % (
        "tool", "median s", "files/s", "MB/s", "user s", "sys s", "s3s CPU", "per run s")
    print(head)
    print("-" * len(head))
    for tool in ["playtrace", "playtrace-dry", "playtrace-s3", "playtrace-fs"] + RCLONES:
        rs = by_tool.get(tool)
        if not rs:
            continue
        s = med[tool]
        rate = files / s if s and tool != "playtrace-dry" else None
        mbs = mbytes / s if s and tool != "playtrace-dry" else None
        print(row % (
            LABELS[tool], fmt(s, ".3f"), fmt(rate, ",.0f"), fmt(mbs, ".2f"),
            fmt(median([r["cpu_user"] for r in rs]), ".2f"),
            fmt(median([r["cpu_sys"] for r in rs]), ".2f"),
            fmt(median([r.get("server_cpu") for r in rs]), ".2f"),
            " ".join("%.3f" % r["seconds"] for r in rs)))
    if write_phase:
        wp = median(write_phase)
        print(row % (
            "playtrace minus dry-run", fmt(wp, ".3f"), fmt(files / wp if wp > 0 else None, ",.0f"),
            fmt(mbytes / wp if wp > 0 else None, ".2f"), "", "", "",
            " ".join("%.3f" % x for x in write_phase)))
    print("")

    pt = med.get("playtrace")
    rclones = [(med[t], t) for t in RCLONES if med.get(t)]
    best = min(rclones) if rclones else None
    ratio = best[0] / pt if best and pt else None
    ok = ratio is not None and ratio >= 1.0
    if ratio is not None:
        print("rclone / playtrace = %.2f   (headline: the faster rclone setting, %s)"
              % (ratio, LABELS[best[1]]))
        for s, t in rclones:
            line = "  %-*s / playtrace = %.2f" % (w, LABELS[t], s / pt)
            if write_phase and median(write_phase) > 0:
                line += "   (/ playtrace minus dry-run = %.2f)" % (s / median(write_phase))
            print(line)
    pts = by_tool.get("playtrace", [])
    for kind in ["s3", "fs"]:
        ms = [r["writers"].get(kind, {}).get("ms") for r in pts]
        if any(m is not None for m in ms):
            print("  playtrace %s writer (its own timer, ms): median %s, per run %s" % (
                kind, fmt(median(ms), ".0f"), ms))
    print("  user/sys = CPU seconds of the tool process; s3s CPU = the S3 server's CPU seconds "
          "during the run (medians; 2 cores in all)")
    print("")
    warnings = [w for r in results for w in
                ["%s run %d: %s" % (r["tool"], r["run"], w) for w in r.get("warnings", [])]]
    for tool in TOOLS:
        for r in by_tool.get(tool, []):
            if not r.get("checks"):
                warnings.append("%s run %d: not verified" % (tool, r["run"]))
    print("%s  rclone / playtrace >= 1.00 (%s), with the fs writer's fsync on" % (
        "PASS" if ok else "FAIL", fmt(ratio, ".2f")))
    checked = sum(len(r.get("checks", [])) for r in results)
    if not warnings:
        print("verified: every upload has the expected %d objects, byte-identical to the "
              "reference (%d checks)" % (files, checked))
    for w in warnings:
        print("WARNING: %s" % w)
    if warnings:
        sys.exit(1)
    if args.require_target and not ok:
        sys.exit(3)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    gp = sub.add_parser("gen", help="write the NDJSON transcript log")
    gp.add_argument("--sessions", type=int, default=667)
    gp.add_argument("--entries", type=int, default=12, help="transcript entries per session")
    gp.add_argument("--narrative", type=int, default=160, help="average narrative length")
    gp.add_argument("--seed", type=int, default=42)
    gp.add_argument("--out", required=True)

    wp = sub.add_parser("wait", help="wait until 127.0.0.1:PORT accepts connections")
    wp.add_argument("--port", type=int, required=True)
    wp.add_argument("--pid", type=int)
    wp.add_argument("--timeout", type=float, default=30)

    tp = sub.add_parser("timeit", help="time one command, write a result JSON")
    tp.add_argument("--name", required=True)
    tp.add_argument("--run", type=int, required=True)
    tp.add_argument("--out", required=True)
    tp.add_argument("--stderr", required=True, help="file for the command's stderr")
    tp.add_argument("--stdout", help="file for the command's stdout (default: discarded)")
    tp.add_argument("--server-pid", type=int, help="pid of the S3 server (its CPU is recorded)")
    tp.add_argument("--files", type=int, help="files uploaded (for files/s)")
    tp.add_argument("--bytes", type=int, help="bytes uploaded (for MB/s)")
    tp.add_argument("command", nargs=argparse.REMAINDER)

    vp = sub.add_parser("verify", help="compare a directory with the reference files")
    vp.add_argument("--dir", required=True)
    vp.add_argument("--ref")
    vp.add_argument("--expect", type=int)
    vp.add_argument("--absent", action="store_true", help="the directory must not exist")
    vp.add_argument("--sample", type=int, default=0, help="compare this many files (0: all)")
    vp.add_argument("--label")
    vp.add_argument("--result", help="result JSON to record the outcome in")
    vp.add_argument("--strict", action="store_true", help="exit 1 on a mismatch")
    vp.add_argument("--verbose", action="store_true")

    sp = sub.add_parser("sizes", help="artifact count and average size per extension")
    sp.add_argument("--dir", required=True)
    sp.add_argument("--json", action="store_true")

    rp = sub.add_parser("report", help="medians, ratio, PASS/FAIL")
    rp.add_argument("--require-target", action="store_true")
    rp.add_argument("--extra-label", help="label of the rclone-extra results")
    rp.add_argument("files", nargs="+")

    args = p.parse_args()
    {"gen": cmd_gen, "wait": cmd_wait, "timeit": cmd_timeit, "verify": cmd_verify,
     "sizes": cmd_sizes, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
