#!/usr/bin/env python3
"""Adds the collector's CPU per event by thread name to one `run` result (used by bench/privacy/run).

  threads.py RESULT_JSON BEFORE AFTER WARMUP_S CLK_TCK

BEFORE and AFTER are `thread_ticks` snapshots ("name utime stime" a line). Threads are summed
by name with a trailing number dropped (the HTTP pool's threads are one row). Prints RESULT_JSON
with "threads": {name: [user_us_per_event, system_us_per_event]}.
"""
import json
import re
import sys


def read(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) != 3:
            continue  # a thread that ended between listing and reading
        name = re.sub(r"[-_]?\d+$", "", parts[0])
        u, k = out.get(name, (0, 0))
        out[name] = (u + int(parts[1]), k + int(parts[2]))
    return out


def main():
    result = json.loads(sys.argv[1])
    before, after = read(sys.argv[2]), read(sys.argv[3])
    warmup, tck = float(sys.argv[4]), float(sys.argv[5])
    events = max(1.0, result["events_per_s"] * (result["seconds"] + warmup))
    split = {}
    for name, (u1, k1) in after.items():
        u0, k0 = before.get(name, (0, 0))
        du, dk = max(0, u1 - u0), max(0, k1 - k0)
        if du + dk > 0:
            split[name] = [round(du / tck * 1e6 / events, 3), round(dk / tck * 1e6 / events, 3)]
    result["threads"] = split
    print(json.dumps(result))


if __name__ == "__main__":
    main()
