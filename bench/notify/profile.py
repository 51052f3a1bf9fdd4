#!/usr/bin/env python3
"""Where the collector's CPU goes, per ingested event, from `bench/notify/run --perf DIR`.

    bench/notify/profile.py DIR/build-base-1.data DIR/build-notify-1.data [--top 40]

Runs `perf script` on each recording (slow: minutes for a 15 s dwarf recording; the text is
kept beside it as .txt and reused), then prints, in ns of collector CPU per ingested event
(the events come from the .events file the bench wrote beside each recording): each thread's
total; the notifier's own buckets (HTTP sends, payload shaping, outbox SQLite on the
notifier's threads, `notify::record` and page-cache reloads on the writer's thread); and the
functions whose inclusive cost grew most from the first recording to the second. Python 3
standard library only; needs `perf`.
"""

import argparse
import collections
import os
import re
import subprocess

# (bucket, thread name or None for any, substring one of the stack's frames must contain)
BUCKETS = [
    ("notifier: HTTP sends", "playtrace-http", "notify::worker::deliver"),
    ("notifier: payload shaping", "playtrace-http", "notify::payload::decide_with"),
    ("notifier: outbox SQLite", "playtrace-http", "playtrace_store::outbox"),
    ("notifier: recorder", "playtrace-http", "notify::worker::recorder"),
    ("writer: notify::record", "playtrace-write", "playtrace_server::notify::record"),
    ("writer: page reads (pread)", "playtrace-write", "unixRead"),
    ("writer: commits", "playtrace-write", "sqlite3VdbeHalt"),
    ("writer: insert_events", "playtrace-write", "insert_events"),
    ("http: parse_body", "playtrace-http", "parse_body"),
]


def script(data):
    txt = data[:-len(".data")] + ".txt" if data.endswith(".data") else data + ".txt"
    if not os.path.exists(txt):
        with open(txt, "w") as out:
            subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,period,ip,sym,dso",
                            "--no-inline"], stdout=out, stderr=subprocess.DEVNULL, check=True)
    return txt


def samples(path):
    comm, per, stack = None, 0, []
    for line in open(path, errors="replace"):
        if not line.strip():
            if comm is not None:
                yield comm, per, stack
            comm, stack = None, []
        elif line[0] not in " \t":
            parts = line.split()
            comm, per, stack = parts[0], int(parts[2]), []
        else:
            frame = line.strip().split(" ", 1)
            if len(frame) > 1:
                stack.append(frame[1].rsplit(" (", 1)[0])
    if comm is not None:
        yield comm, per, stack


def profile(data):
    with open(data[:-len(".data")] + ".events") as f:
        events = float(f.read())
    threads, buckets, inclusive = collections.Counter(), collections.Counter(), collections.Counter()
    for comm, per, stack in samples(script(data)):
        threads[comm] += per
        joined = " ".join(stack)
        for name, thread, pat in BUCKETS:
            if thread in (None, comm) and pat in joined:
                buckets[name] += per
        for key in {(comm, re.sub(r"<.*?>", "", s)[:110]) for s in stack}:
            inclusive[key] += per
    per_event = lambda c: {k: v / events for k, v in c.items()}
    return per_event(threads), per_event(buckets), per_event(inclusive)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("notify")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    (bt, bb, bi), (nt, nb, ni) = profile(args.base), profile(args.notify)
    print("ns of collector CPU per event     %10s %10s" % ("base", "notify"))
    print("  all threads                     %10.0f %10.0f" % (sum(bt.values()), sum(nt.values())))
    for t in sorted(set(bt) | set(nt)):
        print("  %-31s %10.0f %10.0f" % (t, bt.get(t, 0), nt.get(t, 0)))
    for name, _, _ in BUCKETS:
        print("  %-31s %10.0f %10.0f" % (name, bb.get(name, 0), nb.get(name, 0)))
    print("largest inclusive growth (ns/event): base -> notify, thread | function")
    rows = sorted(((ni.get(k, 0) - bi.get(k, 0), k) for k in set(bi) | set(ni)), reverse=True)
    for d, k in rows[:args.top]:
        print("%7.0f  %6.0f -> %6.0f  %s | %s" % (d, bi.get(k, 0), ni.get(k, 0), k[0], k[1]))


if __name__ == "__main__":
    main()
