#!/usr/bin/env python3
"""Load generator and report for the ingest benchmark (bench/ingest/run drives it).

Python 3 standard library only. Subcommands:

  load     post NDJSON (or, --otlp, the same events as OTLP protobuf to /v1/logs) batches to one
           server for a fixed time; write one JSON result file
  wait     poll a URL until it answers 200 (server readiness)
  annotate add key=value pairs to a result file (exit code, data-dir size, ...)
  report   median over the result files of each server; table or JSON; pass/fail

`load` pre-generates a few batch bodies per client before anything is timed. Every event id
(and contestId/contestKey) contains an 8-digit placeholder replaced by the client's batch
counter when a batch is sent (one bytes.join), so ids are unique over the whole run while
the per-request generator cost stays a few tens of microseconds.

Each client is a thread with its own http.client keep-alive connection posting batches back
to back. After --warmup seconds the --seconds measurement window starts: a batch counts
when its 200 answer is read inside the window (steady-state completions / window length).
Ack latency is measured per batch from the first send to the 200 answer fully read; with
no 503s that is exactly one request. A 503 is counted, slept on (--retry-sleep-ms) and
the same body is posted again (a 503 stores nothing). Clients stop starting batches at the
end of the window and finish the request in flight, so every sent batch gets an answer
and accepted/duplicates can be checked against what was sent.
"""

import argparse
import http.client
import json
import os
import random
import resource
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.parse

PLACEHOLDER = b"@@@@@@@@"  # replaced by the batch number, "%08d"

# ----------------------------------------------------------------------------------------
# Event generation
# ----------------------------------------------------------------------------------------

HUBS = {
    "hub-market": ["room-arena", "room-tavern", "room-bazaar"],
    "hub-docks": ["room-pier", "room-warehouse"],
    "hub-keep": ["room-throne", "room-yard", "room-gate"],
}
ZONES = ["north-gate", "old-mill", "harbor", "deepwood", "citadel", "salt-flats"]
CHANNELS = ["global", "guild", "party", "trade", "whisper"]
WORDS = (
    "gg wp anyone up for a raid tonight need healer lfg tank north gate meet after "
    "the match trade iron ore for leather selling potions cheap where is the vendor "
    "lag spike again nice shot brb afk two minutes who has the key"
).split()
MOVES = [("verb.sparringMatch", "sparring-match", "pvp"), ("verb.duel", "duel", "pvp"),
         ("verb.raceTrial", "race-trial", "race"), ("verb.arenaBrawl", "arena-brawl", "pvp")]
PAD = "abcdefghijklmnopqrstuvwxyz0123456789"

# Non-contest events (~90 %); contest lifecycles fill the other ~10 %.
NON_CONTEST = [("player.move", 35), ("chat.message", 25), ("telemetry.session.tick", 20),
               ("item.pickup", 8), ("ui.click", 7), ("player.ability", 5)]


def _line(rng, obj, target):
    """Serialise obj compactly, padded with attrs.note to about `target` bytes."""
    text = json.dumps(obj, separators=(",", ":"))
    missing = target - len(text) - len(',"note":""')
    if missing > 0:
        obj["attrs"]["note"] = "".join(rng.choice(PAD) for _ in range(missing))
        text = json.dumps(obj, separators=(",", ":"))
    return text


def _non_contest(rng, name):
    player = "p-%05d" % rng.randrange(100000)
    if name == "player.move":
        attrs = {"playerId": player, "zone": rng.choice(ZONES),
                 "x": round(rng.uniform(-5000, 5000), 2), "y": round(rng.uniform(-5000, 5000), 2),
                 "z": round(rng.uniform(0, 300), 2), "speed": round(rng.uniform(0, 9), 2),
                 "mode": rng.choice(["walk", "run", "mount", "swim"])}
    elif name == "chat.message":
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        attrs = {"playerId": player, "channel": rng.choice(CHANNELS), "lang": "en",
                 "len": len(words), "text": words}
    elif name == "telemetry.session.tick":
        attrs = {"fps": rng.randint(24, 144), "pingMs": rng.randint(8, 220),
                 "memMb": rng.randint(900, 4200), "cpuPct": round(rng.uniform(5, 95), 1),
                 "zone": rng.choice(ZONES), "build": "1.42.%d" % rng.randint(0, 9)}
    elif name == "item.pickup":
        attrs = {"playerId": player, "itemId": "item-%04d" % rng.randrange(5000),
                 "qty": rng.randint(1, 20), "rarity": rng.choice(["common", "rare", "epic"]),
                 "zone": rng.choice(ZONES)}
    elif name == "ui.click":
        attrs = {"playerId": player, "screen": rng.choice(["inventory", "map", "shop", "social"]),
                 "widget": "btn-%d" % rng.randrange(40), "elapsedMs": rng.randint(50, 9000)}
    else:
        attrs = {"playerId": player, "ability": "ab-%02d" % rng.randrange(60),
                 "target": "npc-%04d" % rng.randrange(9000), "hit": rng.random() < 0.7,
                 "damage": rng.randint(0, 900)}
    return name, attrs


def _contest_lifecycle(rng, prefix, k):
    """armed, launched, resolved of one contest (ids carry the batch placeholder)."""
    hub = rng.choice(list(HUBS))
    room = rng.choice(HUBS[hub])
    verb, move, kind = rng.choice(MOVES)
    b = rng.randrange(1000, 2000)
    key = "%s:actor-%s-%s-%d::actor-%d" % (verb, prefix, PLACEHOLDER.decode(), k, b)
    cid = "c-%s-%s-%03d" % (prefix, PLACEHOLDER.decode(), k)
    common = {"hubId": hub, "roomId": room, "contestKey": key, "contestId": cid}
    capacity = rng.choice([2, 2, 4])
    arming = int(min(12000, max(100, rng.lognormvariate(7.3, 0.6))))  # median ~1.5 s
    resolution = int(min(1500, max(100, rng.lognormvariate(6.0, 0.4))))  # median ~400 ms
    return [
        ("telemetry.contest.armed",
         dict(common, participantCount=1, participantCapacity=capacity, windowMs=10000,
              move=move, type=kind)),
        ("telemetry.contest.launched",
         dict(common, participantCount=capacity, armingDurationMs=arming)),
        ("telemetry.contest.resolved",
         dict(common, resolutionDurationMs=resolution, outcome=rng.choice(["win", "draw"]))),
    ]


def make_template(rng, prefix, client, batch_size, contest_share, line_bytes, base_ms,
                  games=1):
    """One batch body, split around the placeholder (bytes.join(number) makes a body)."""
    lifecycles = max(0, round(batch_size * contest_share / 3))
    contest = []
    for k in range(lifecycles):
        contest.extend(_contest_lifecycle(rng, prefix, k))
    contest = contest[:batch_size]
    slots = [True] * len(contest) + [False] * (batch_size - len(contest))
    rng.shuffle(slots)
    names = [n for n, _ in NON_CONTEST]
    weights = [w for _, w in NON_CONTEST]
    lines = [None] * batch_size
    it = iter(contest)  # contest events keep their lifecycle order
    excess = 0  # contest lines run longer than line_bytes; the others are padded less
    for pass_contest in (True, False):
        shave = excess // max(1, batch_size - len(contest))
        for i, is_contest in enumerate(slots):
            if is_contest != pass_contest:
                continue
            if is_contest:
                name, attrs = next(it)
            else:
                name, attrs = _non_contest(rng, rng.choices(names, weights)[0])
            obj = {"event": name, "ts": base_ms + i,
                   "id": "%s-%d-%s-%04d" % (prefix, client, PLACEHOLDER.decode(), i),
                   "game": game_name(i // 50, games), "env": "prod",
                   "session": "s-%d-%d" % (client, rng.randrange(500)), "attrs": attrs}
            target = rng.randint(line_bytes - 40, line_bytes + 40) - shave
            lines[i] = _line(rng, obj, target)
            if is_contest:
                excess += len(lines[i]) - line_bytes
    body = ("\n".join(lines) + "\n").encode()
    return body.split(PLACEHOLDER)


def game_name(k, games):
    """`bench`, or one of `games` games (`bench-00`…) in runs of 50 lines: a batch of 1,000 holds
    every one of 20 games."""
    return "bench" if games <= 1 else "bench-%02d" % (k % games)


def batch_body(parts, batch_no):
    return (b"%08d" % batch_no).join(parts)


# ----------------------------------------------------------------------------------------
# OTLP protobuf (the same events as an ExportLogsServiceRequest for POST /v1/logs)
# ----------------------------------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(tag, payload):
    return _varint(tag << 3 | 2) + _varint(len(payload)) + payload


def _any_value(v):
    """AnyValue: string 1, bool 2, int 3, double 4 (JSON objects/arrays as strings)."""
    if isinstance(v, bool):
        return _varint(2 << 3) + _varint(int(v))
    if isinstance(v, int):
        return _varint(3 << 3) + _varint(v & (2**64 - 1))
    if isinstance(v, float):
        return _varint(4 << 3 | 1) + struct.pack("<d", v)
    if not isinstance(v, str):
        v = json.dumps(v, separators=(",", ":"))
    return _len_field(1, v.encode())


def _key_value(k, v):
    return _len_field(1, k.encode()) + _len_field(2, _any_value(v))


def _log_record(obj):
    """LogRecord: time_unix_nano 1 (fixed64), severity_number 2, attributes 6, event_name 12;
    the event's id and session as the log.record.uid and session.id attributes."""
    out = bytearray(_varint(1 << 3 | 1) + struct.pack("<Q", int(obj["ts"]) * 1_000_000))
    out += _varint(2 << 3) + _varint(9)
    attrs = dict(obj.get("attrs") or {})
    attrs["log.record.uid"] = obj["id"]
    attrs["session.id"] = obj["session"]
    for k, v in attrs.items():
        out += _len_field(6, _key_value(k, v))
    out += _len_field(12, obj["event"].encode())
    return bytes(out)


def otlp_template(parts):
    """The NDJSON template's events as one ExportLogsServiceRequest, split around the same
    placeholder (8 bytes either way, so no length prefix changes)."""
    lines = PLACEHOLDER.join(parts).decode().splitlines()
    objs = [json.loads(line) for line in lines if line]
    resource = (_len_field(1, _key_value("service.name", objs[0]["game"]))
                + _len_field(1, _key_value("deployment.environment.name", objs[0]["env"])))
    scope_logs = b"".join(_len_field(2, _log_record(o)) for o in objs)
    resource_logs = _len_field(1, resource) + _len_field(2, scope_logs)
    return _len_field(1, resource_logs).split(PLACEHOLDER)


def otlp_rejected(data):
    """rejected_log_records of an ExportLogsServiceResponse (0 when empty)."""
    def varint(buf, i):
        n = shift = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n, i
    if not data:
        return 0
    if data[0] != 0x0A:
        raise ValueError("not an ExportLogsServiceResponse: %r" % data[:40])
    length, i = varint(data, 1)
    end = i + length
    while i < end:
        key, i = varint(data, i)
        if key == 0x08:
            n, i = varint(data, i)
            return n
        if key & 7 == 2:
            skip, i = varint(data, i)
            i += skip
        else:
            _, i = varint(data, i)
    return 0


# ----------------------------------------------------------------------------------------
# /proc helpers (server RSS and CPU)
# ----------------------------------------------------------------------------------------

def proc_tree(pid):
    """pid and its descendants (nginx: master + workers)."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        parents.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def thread_cpu(pids):
    """CPU seconds per thread name (numbers in names folded: worker-1, worker-2 -> worker-N)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            name = "".join("N" if ch.isdigit() else ch for ch in name)
            fields = stat.rsplit(")", 1)[1].split()
            out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_seconds(pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / tick


# ----------------------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------------------

class Client(threading.Thread):
    def __init__(self, idx, args, parts_list, start_at, window_start, window_end):
        super().__init__(name="client-%d" % idx, daemon=True)
        self.idx = idx
        self.args = args
        self.parts_list = parts_list
        self.start_at = start_at
        self.window_start = window_start
        self.window_end = window_end
        u = urllib.parse.urlsplit(args.url)
        self.host, self.port = u.hostname, u.port
        self.path = u.path or "/"
        # per-batch records inside the window: latency seconds, acknowledged events
        self.latencies = []
        self.win_events = 0
        self.win_requests = 0
        self.per_second = {}  # second of the window -> acknowledged events
        # whole run (warm-up and tail included), to check the answers
        self.batches = 0
        self.events_sent = 0
        self.bytes_sent = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.status_503 = 0
        self.win_503 = 0
        self.other_status = {}
        self.reconnects = 0
        self.server_closes = 0
        self.error = None
        self.conn = None

    def connect(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported, the run is marked failed
            self.error = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        args = self.args
        headers = {"Content-Type": "application/x-protobuf" if args.otlp
                   else "application/x-ndjson"}
        clock = time.perf_counter
        sleep_503 = args.retry_sleep_ms / 1000.0
        self.connect()
        n_templates = len(self.parts_list)
        batch_events = args.batch
        while clock() < self.start_at:
            time.sleep(0.001)
        batch_no = 0
        hard_stop = self.window_end + args.timeout
        while True:
            first = clock()
            if first >= self.window_end:
                break
            body = batch_body(self.parts_list[batch_no % n_templates], batch_no)
            batch_no += 1
            while True:
                try:
                    self.conn.request("POST", self.path, body, headers)
                    resp = self.conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    # A dropped keep-alive connection: reconnect and resend (the answer is
                    # lost, so the check after the run may then see duplicates).
                    self.reconnects += 1
                    if self.reconnects > 20 or clock() > hard_stop:
                        raise RuntimeError("connection keeps failing: %s" % e)
                    time.sleep(0.05)
                    self.connect()
                    continue
                end = clock()
                status = resp.status
                if resp.will_close:
                    # Not keep-alive any more: http.client would reopen silently; count it.
                    self.server_closes += 1
                    self.connect()
                if status == 503:
                    self.status_503 += 1
                    if self.window_start <= end <= self.window_end:
                        self.win_503 += 1
                    if end > hard_stop:
                        raise RuntimeError("still 503 after the window ended")
                    time.sleep(sleep_503)
                    continue
                break
            self.batches += 1
            self.events_sent += batch_events
            self.bytes_sent += len(body)
            if status != 200:
                self.other_status[status] = self.other_status.get(status, 0) + 1
                if len(self.other_status) == 1 and self.other_status[status] == 1:
                    sys.stderr.write("load: %s answered %d: %s\n"
                                     % (args.name, status, data[:300].decode("utf-8", "replace")))
                continue
            if args.otlp:
                rejected = otlp_rejected(data)
                acked = batch_events - rejected
                self.accepted += acked
                self.rejected += rejected
            elif args.count == "accepted":
                answer = json.loads(data)
                # Events a game's sampling or daily caps dropped are acknowledged too.
                acked = answer.get("accepted", 0) + sum(answer.get("dropped", {}).values())
                self.accepted += acked
                self.duplicates += answer.get("duplicates", 0)
                self.rejected += len(answer.get("rejected", ()))
            else:
                acked = batch_events
                self.accepted += acked
            if self.window_start <= end <= self.window_end:
                self.latencies.append(end - first)
                self.win_events += acked
                self.win_requests += 1
                sec = int(end - self.window_start)
                self.per_second[sec] = self.per_second.get(sec, 0) + acked
        self.conn.close()


def percentile(sorted_values, q):
    """Nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def http_get(url, timeout=5.0):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", u.path + ("?" + u.query if u.query else ""))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def parse_metrics(text):
    """The few playtrace /metrics values the report shows."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        if name.startswith("playtrace_commit_batch_events_sum"):
            out["commit_events_sum"] = v
        elif name.startswith("playtrace_commit_batch_events_count"):
            out["commits"] = v
        elif name.startswith("playtrace_ingest_overloaded_total"):
            out["overloaded"] = out.get("overloaded", 0) + v
    return out


def cmd_load(args):
    u = urllib.parse.urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("load: refusing a non-loopback URL: %s" % args.url)
    rng = random.Random(args.seed)
    prefix = args.run_id or os.urandom(3).hex()
    base_ms = int(time.time() * 1000)
    t0 = time.perf_counter()
    templates = [[make_template(rng, prefix, c, args.batch, args.contest_share, args.line_bytes,
                                base_ms + 1000 * t, args.games)
                  for t in range(args.templates)] for c in range(args.clients)]
    if args.otlp:
        templates = [[otlp_template(t) for t in ts] for ts in templates]
    gen_s = time.perf_counter() - t0
    sample = batch_body(templates[0][0], 0)
    avg_line = len(sample) / args.batch
    # The per-batch substitution, timed (it runs inside the client loop).
    t0 = time.perf_counter()
    for n in range(200):
        batch_body(templates[0][n % args.templates], n)
    join_us = (time.perf_counter() - t0) / 200 * 1e6

    pids = proc_tree(args.pid) if args.pid else []
    clock = time.perf_counter
    start_at = clock() + 0.2
    window_start = start_at + args.warmup
    window_end = window_start + args.seconds
    clients = [Client(c, args, templates[c], start_at, window_start, window_end)
               for c in range(args.clients)]
    for c in clients:
        c.start()

    def snapshot():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return clock(), cpu_seconds(pids), r.ru_utime + r.ru_stime, thread_cpu(pids)

    rss_max_kib = 0
    marks = {}
    while any(c.is_alive() for c in clients):
        now = clock()
        if "start" not in marks and now >= window_start:
            marks["start"] = snapshot()
        if "end" not in marks and now >= window_end:
            marks["end"] = snapshot()
        if pids:
            rss_max_kib = max(rss_max_kib, sum(status_kib(p, "VmRSS") for p in pids))
        if now > window_end + args.timeout + 5:
            sys.exit("load: clients did not finish in time")
        wake = now + 0.1
        for t in (window_start, window_end):
            if now < t < wake:
                wake = t
        time.sleep(max(0.0, wake - clock()))
    for c in clients:
        c.join()
    hwm_kib = sum(status_kib(p, "VmHWM") for p in pids)

    errors = [c.error for c in clients if c.error]
    lat = sorted(x for c in clients for x in c.latencies)
    win_events = sum(c.win_events for c in clients)
    result = {
        "server": args.name,
        "url": args.url,
        "run": args.run,
        "clients": args.clients,
        "batch": args.batch,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "count": args.count,
        "avg_line_bytes": round(avg_line, 1),
        "generate_seconds": round(gen_s, 2),
        "body_join_us": round(join_us, 1),
        "events_per_s": win_events / args.seconds,
        "requests": sum(c.win_requests for c in clients),
        "requests_per_s": sum(c.win_requests for c in clients) / args.seconds,
        "events_per_second": [sum(c.per_second.get(i, 0) for c in clients)
                              for i in range(int(args.seconds + 0.999))],
        "p50_ms": percentile(lat, 50) * 1000 if lat else None,
        "p99_ms": percentile(lat, 99) * 1000 if lat else None,
        "max_ms": lat[-1] * 1000 if lat else None,
        "status_503": sum(c.status_503 for c in clients),
        "status_503_in_window": sum(c.win_503 for c in clients),
        "other_status": {},
        "reconnects": sum(c.reconnects for c in clients),
        "server_closes": sum(c.server_closes for c in clients),
        "batches_total": sum(c.batches for c in clients),
        "events_sent_total": sum(c.events_sent for c in clients),
        "bytes_sent_total": sum(c.bytes_sent for c in clients),
        "accepted_total": sum(c.accepted for c in clients),
        "duplicates_total": sum(c.duplicates for c in clients),
        "rejected_total": sum(c.rejected for c in clients),
        "pids": pids,
        "peak_rss_kib": max(hwm_kib, rss_max_kib) if pids else None,
        "peak_rss_sampled_kib": rss_max_kib if pids else None,
        "errors": errors,
    }
    for c in clients:
        for k, v in c.other_status.items():
            result["other_status"][str(k)] = result["other_status"].get(str(k), 0) + v
    if "start" in marks and "end" in marks:
        (t0, s0, c0, th0), (t1, s1, c1, th1) = marks["start"], marks["end"]
        result["server_cpu_cores"] = round((s1 - s0) / (t1 - t0), 2) if pids else None
        result["client_cpu_cores"] = round((c1 - c0) / (t1 - t0), 2)
        result["server_threads"] = {name: round((th1[name] - th0.get(name, 0)) / (t1 - t0), 3)
                                    for name in th1}
    if args.metrics:
        try:
            status, body = http_get(args.metrics)
            if status == 200:
                result["metrics"] = parse_metrics(body.decode("utf-8", "replace"))
        except OSError as e:
            result["metrics_error"] = str(e)
    if args.info:
        try:
            status, body = http_get(args.info)
            result["info"] = json.loads(body)
        except (OSError, ValueError) as e:
            result["info_error"] = str(e)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("load: %-9s run %s: %9.0f events/s  %5d req  p50 %6.1f ms  p99 %6.1f ms  503s %d"
          % (args.name, args.run, result["events_per_s"], result["requests"],
             result["p50_ms"] or 0, result["p99_ms"] or 0, result["status_503"]),
          file=sys.stderr)
    if errors:
        for e in errors:
            print("load: client error: %s" % e, file=sys.stderr)
        sys.exit(1)


# ----------------------------------------------------------------------------------------
# wrk (the same bodies through a second client, so a figure is not an artefact of one)
# ----------------------------------------------------------------------------------------

WRK_OFFSET = 50_000_000  # batch numbers of the measured run start here (the warm-up's below)


def run_wrk(args, body_file, seconds, offset, pids, rss):
    """One wrk run; returns (its WRK_RESULT dict, server CPU marks, wrk's CPU seconds)."""
    threads = min(args.wrk_threads, args.clients)
    env = dict(os.environ, BODY_FILE=body_file, WRK_THREADS=str(threads),
               BATCH_OFFSET=str(offset))
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk.lua")
    cmd = [args.wrk, "-t", str(threads), "-c", str(args.clients), "-d", "%gs" % seconds,
           "--timeout", "%gs" % args.timeout, "-s", script, args.url]
    import subprocess
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, s0, th0 = time.perf_counter(), cpu_seconds(pids), thread_cpu(pids)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds + args.timeout + 30
    while proc.poll() is None:
        if pids:
            rss[0] = max(rss[0], sum(status_kib(p, "VmRSS") for p in pids))
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit("wrk: did not finish in time")
        time.sleep(0.1)
    t1, s1, th1 = time.perf_counter(), cpu_seconds(pids), thread_cpu(pids)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = proc.stdout.read().decode("utf-8", "replace")
    found = [line for line in out.splitlines() if line.startswith("WRK_RESULT ")]
    if proc.returncode != 0 or not found:
        sys.exit("wrk failed (exit %s):\n%s" % (proc.returncode, out[-2000:]))
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(found[-1][len("WRK_RESULT "):]), (t0, s0, th0, t1, s1, th1), client_cpu


def cmd_wrk(args):
    """Warm-up run, then the measured run; a result file in `load`'s shape."""
    u = urllib.parse.urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("wrk: refusing a non-loopback URL: %s" % args.url)
    rng = random.Random(args.seed)
    prefix = args.run_id or os.urandom(3).hex()
    parts = make_template(rng, prefix, 0, args.batch, args.contest_share, args.line_bytes,
                          int(time.time() * 1000), args.games)
    body_file = args.out + ".body"
    with open(body_file, "wb") as f:
        f.write(b"\0".join(parts))
    pids = proc_tree(args.pid) if args.pid else []
    rss = [0]
    results = []
    if args.warmup > 0:
        results.append(run_wrk(args, body_file, args.warmup, 0, pids, rss)[0])
    res, (t0, s0, th0, t1, s1, th1), client_cpu = run_wrk(
        args, body_file, args.seconds, WRK_OFFSET, pids, rss)
    results.append(res)
    os.unlink(body_file)
    hwm_kib = sum(status_kib(p, "VmHWM") for p in pids)
    window = res["duration_us"] / 1e6
    if args.count == "accepted":
        acked = res["accepted"]
    else:
        acked = (res["answers"] - res["non200"]) * args.batch
    sent = sum(r["answers"] for r in results) * args.batch
    result = {
        "server": args.name, "url": args.url, "run": args.run, "client": "wrk",
        "clients": args.clients, "batch": args.batch, "seconds": args.seconds,
        "warmup": args.warmup, "count": args.count,
        "avg_line_bytes": round(len(PLACEHOLDER.join(parts)) / args.batch, 1),
        "body_join_us": None,
        "events_per_s": acked / window,
        "requests": res["answers"],
        "requests_per_s": res["answers"] / window,
        "p50_ms": res["p50_us"] / 1000, "p99_ms": res["p99_us"] / 1000,
        "max_ms": res["max_us"] / 1000,
        "status_503": res["non200"], "status_503_in_window": res["non200"],
        "other_status": {}, "reconnects": sum(r["errors"]["connect"] for r in results),
        "server_closes": 0,
        "batches_total": sum(r["answers"] for r in results),
        "events_sent_total": sent,
        "accepted_total": (sum(r["accepted"] for r in results) if args.count == "accepted"
                           else sent),
        "duplicates_total": sum(r["duplicates"] for r in results),
        "rejected_total": 0,
        "pids": pids,
        "peak_rss_kib": max(hwm_kib, rss[0]) if pids else None,
        "errors": ["wrk socket errors %s" % r["errors"] for r in results
                   if any(r["errors"][k] for k in ("connect", "read", "write", "timeout"))],
        "server_cpu_cores": round((s1 - s0) / (t1 - t0), 2) if pids else None,
        "client_cpu_cores": round(client_cpu / (t1 - t0), 2),
        "server_threads": {name: round((th1[name] - th0.get(name, 0)) / (t1 - t0), 3)
                           for name in th1},
    }
    if any(r["non200"] for r in results) and args.count == "accepted":
        # wrk does not retry a 503 (nothing stored): the check below must not call it lost.
        result["events_sent_total"] -= sum(r["non200"] for r in results) * args.batch
    if args.metrics:
        try:
            status, body = http_get(args.metrics)
            if status == 200:
                result["metrics"] = parse_metrics(body.decode("utf-8", "replace"))
        except OSError as e:
            result["metrics_error"] = str(e)
    if args.info:
        try:
            status, body = http_get(args.info)
            result["info"] = json.loads(body)
        except (OSError, ValueError) as e:
            result["info_error"] = str(e)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrk:  %-9s run %s: %9.0f events/s  %5d req  p50 %6.1f ms  p99 %6.1f ms  non-200 %d"
          % (args.name, args.run, result["events_per_s"], result["requests"],
             result["p50_ms"], result["p99_ms"], res["non200"]), file=sys.stderr)


# ----------------------------------------------------------------------------------------
# wait / annotate
# ----------------------------------------------------------------------------------------

def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        if args.pid and not os.path.exists("/proc/%d" % args.pid):
            sys.exit("wait: the server (pid %d) exited before it was ready" % args.pid)
        try:
            status, _ = http_get(args.url, timeout=1.0)
            if status == 200:
                return
            last = "HTTP %d" % status
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    sys.exit("wait: %s not ready after %.0f s (%s)" % (args.url, args.timeout, last))


def cmd_annotate(args):
    with open(args.file) as f:
        result = json.load(f)
    for kv in args.pairs:
        k, _, v = kv.partition("=")
        try:
            result[k] = int(v)
        except ValueError:
            result[k] = v
    with open(args.file, "w") as f:
        json.dump(result, f, indent=1)


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------

TARGET_EVENTS_PER_S = 200_000
TARGET_P99_MS = 50.0
TARGET_RSS_BYTES = 200_000_000  # 200 MB = 190.7 MiB
TARGET_OTLP_RATIO = 0.8
TARGET_PLAN_RATIO = 0.85
GENERATOR_FLOOR = 400_000


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(results):
    runs = sorted(results, key=lambda r: r.get("run", 0))
    rss = [r["peak_rss_kib"] * 1024 / 2**20 if r.get("peak_rss_kib") else None for r in runs]
    return {
        "runs": len(runs),
        "events_per_s": median([r["events_per_s"] for r in runs]),
        "requests": median([r["requests"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "peak_rss_mib": median(rss),
        "peak_rss_mib_max": max([x for x in rss if x is not None], default=None),
        "status_503": median([r["status_503"] for r in runs]),
        "status_503_total": sum(r["status_503"] for r in runs),
        "server_cpu_cores": median([r.get("server_cpu_cores") for r in runs]),
        "client_cpu_cores": median([r.get("client_cpu_cores") for r in runs]),
        "per_run_events_per_s": [round(r["events_per_s"]) for r in runs],
        "per_run_p99_ms": [round(r["p99_ms"], 2) if r["p99_ms"] else None for r in runs],
        "per_run_peak_rss_mib": [round(x, 1) if x else None for x in rss],
    }


def checks(results):
    """Warnings about answers that do not add up."""
    warnings = []
    for r in sorted(results, key=lambda r: (r["server"], r.get("run", 0))):
        tag = "%s run %s" % (r["server"], r.get("run"))
        if r.get("errors"):
            warnings.append("%s: client errors: %s" % (tag, "; ".join(r["errors"])))
        if r.get("other_status"):
            warnings.append("%s: unexpected HTTP statuses %s" % (tag, r["other_status"]))
        if r.get("reconnects"):
            warnings.append("%s: %d reconnects (keep-alive connection dropped)"
                            % (tag, r["reconnects"]))
        if r.get("server_closes"):
            warnings.append("%s: the server closed %d keep-alive connections"
                            % (tag, r["server_closes"]))
        if r["count"] == "accepted":
            if r["accepted_total"] != r["events_sent_total"] or r["duplicates_total"] != 0 \
                    or r["rejected_total"] != 0:
                warnings.append("%s: sent %d events, answers say accepted %d, duplicates %d, "
                                "rejected %d" % (tag, r["events_sent_total"], r["accepted_total"],
                                                 r["duplicates_total"], r["rejected_total"]))
        if "exit_code" in r and r["exit_code"] != 0:
            warnings.append("%s: server exited with %s after SIGTERM" % (tag, r["exit_code"]))
        info = r.get("info") or {}
        store = info.get("store") or {}
        if store and (store.get("journalMode") != "wal" or store.get("synchronous") != "full"):
            warnings.append("%s: store is journal_mode=%s synchronous=%s, not wal/full"
                            % (tag, store.get("journalMode"), store.get("synchronous")))
    return warnings


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


# A server with the bench plan, beside the same binary without one.
PLAN_PAIRS = {"playtrace": "playtrace-plan", "playtrace-base": "playtrace-plan-base"}


def plan_over_none(summary):
    """events/s with the plan / without, per binary that ran both (medians)."""
    ratios = {}
    for none, plan in PLAN_PAIRS.items():
        a, b = summary.get(none), summary.get(plan)
        if a and b and a["events_per_s"]:
            ratios[none] = b["events_per_s"] / a["events_per_s"]
    return ratios


def per_round_ratios(a, b):
    """a / b for each round both ran (the servers of one round ran back to back)."""
    return [round(x / y, 2) if y else None
            for x, y in zip(a["per_run_events_per_s"], b["per_run_events_per_s"])]


def cmd_report(args):
    results = []
    for path in args.files:
        with open(path) as f:
            results.append(json.load(f))
    by_server = {}
    for r in results:
        by_server.setdefault(r["server"], []).append(r)
    summary = {name: summarize(rs) for name, rs in by_server.items()}
    pt, ce = summary.get("playtrace"), summary.get("ceiling")
    ot = summary.get("playtrace-otlp")
    otlp_ratio = None
    if pt and ot and pt["events_per_s"]:
        otlp_ratio = ot["events_per_s"] / pt["events_per_s"]
    ratio = None
    if pt and ce and ce["events_per_s"]:
        ratio = pt["events_per_s"] / ce["events_per_s"]
    targets = []
    if pt:
        targets = [
            {"target": "durable events/s >= 200,000", "value": round(pt["events_per_s"]),
             "pass": pt["events_per_s"] >= TARGET_EVENTS_PER_S},
            {"target": "p99 ack latency < 50 ms", "value": pt["p99_ms"],
             "pass": pt["p99_ms"] is not None and pt["p99_ms"] < TARGET_P99_MS},
            {"target": "peak RSS < 200 MB (190.7 MiB)", "value": pt["peak_rss_mib"],
             "pass": pt["peak_rss_mib"] is not None
             and pt["peak_rss_mib"] * 2**20 < TARGET_RSS_BYTES},
        ]
    gm = summary.get("playtrace-games")
    games_ratio = None
    if pt and gm and pt["events_per_s"]:
        games_ratio = gm["events_per_s"] / pt["events_per_s"]
        targets.append({"target": "with 20 games' limits and 5 sampling rules >= 0.9 x without",
                        "value": round(games_ratio, 2), "pass": games_ratio >= 0.9})
    plan_ratios = plan_over_none(summary)
    if "playtrace" in plan_ratios:
        targets.append({"target": "with a 20-schema plan in enforce mode >= 0.85 x without",
                        "value": round(plan_ratios["playtrace"], 2),
                        "pass": plan_ratios["playtrace"] >= TARGET_PLAN_RATIO})
    if otlp_ratio is not None:
        targets.append({"target": "OTLP protobuf events/s >= 0.8 x NDJSON's",
                        "value": round(otlp_ratio, 2), "pass": otlp_ratio >= TARGET_OTLP_RATIO})
    warnings = checks(results)
    if ce and ce["events_per_s"] < GENERATOR_FLOOR:
        warnings.append("the load generator reached only %.0f events/s against the ceiling "
                        "server (< %d): the client may be what limits both numbers"
                        % (ce["events_per_s"], GENERATOR_FLOOR))
    if pt and ce and ratio is not None and ratio >= 1.0:
        warnings.append("playtrace is not slower than the ceiling server: the ceiling is not "
                        "a ceiling on this machine (client-bound?)")
    first = results[0] if results else {}
    meta = {k: first.get(k) for k in ("clients", "batch", "seconds", "warmup", "avg_line_bytes",
                                      "body_join_us")}
    meta["runs"] = max((s["runs"] for s in summary.values()), default=0)
    passed = bool(targets) and all(t["pass"] for t in targets)

    out = sys.stdout
    if args.format == "json":
        json.dump({"config": meta, "servers": summary, "ratio": ratio,
                   "otlp_over_ndjson": otlp_ratio, "plan_over_none": plan_ratios,
                   "targets": targets,
                   "pass": passed, "warnings": warnings, "results": results}, out, indent=1)
        out.write("\n")
        out = sys.stderr
    print("ingest: %(clients)s clients x %(batch)s-event batches, %(seconds)s s measured after "
          "%(warmup)s s warm-up, median of %(runs)s runs; avg line %(avg_line_bytes)s B"
          % meta, file=out)
    print("", file=out)
    head = "%-19s %12s %9s %9s %9s %14s %7s %11s %11s" % (
        "server", "events/s", "req/s", "p50 ms", "p99 ms", "peak RSS MiB", "503s",
        "server CPU", "client CPU")
    print(head, file=out)
    print("-" * len(head), file=out)
    for name in ["ceiling", "playtrace"] + sorted(set(summary) - {"ceiling", "playtrace"}):
        s = summary.get(name)
        if not s:
            continue
        print("%-19s %12s %9s %9s %9s %14s %7s %11s %11s" % (
            name, fmt(s["events_per_s"], ",.0f"), fmt(s["requests"] / meta["seconds"], ".0f"),
            fmt(s["p50_ms"], ".2f"), fmt(s["p99_ms"], ".2f"), fmt(s["peak_rss_mib"], ".1f"),
            fmt(s["status_503"], ".0f"), fmt(s["server_cpu_cores"], ".2f"),
            fmt(s["client_cpu_cores"], ".2f")), file=out)
    print("", file=out)
    if ratio is not None:
        print("playtrace / ceiling = %.2f" % ratio, file=out)
    if otlp_ratio is not None:
        print("playtrace-otlp / playtrace (OTLP protobuf / NDJSON) = %.2f" % otlp_ratio, file=out)
    if games_ratio is not None:
        print("playtrace-games / playtrace (limits + sampling / none) = %.2f" % games_ratio,
              file=out)
    for binary, r in plan_ratios.items():
        print("%s / %s (20-schema plan, enforce / none) = %.2f (per round %s)" % (
            PLAN_PAIRS[binary], binary, r,
            per_round_ratios(summary[PLAN_PAIRS[binary]], summary[binary])), file=out)
    listed = ["ceiling", "playtrace", "playtrace-otlp", "playtrace-games"] + [
        n for n in ["playtrace-plan", "playtrace-base", "playtrace-plan-base"] if n in summary]
    for name in listed:
        s = summary.get(name)
        if s:
            print("  %-9s per run: events/s %s, p99 ms %s, RSS MiB %s, 503s total %d" % (
                name, s["per_run_events_per_s"], s["per_run_p99_ms"],
                s["per_run_peak_rss_mib"], s["status_503_total"]), file=out)
    for name in listed:
        threads = {}
        for r in by_server.get(name, []):
            for t, cores in (r.get("server_threads") or {}).items():
                threads.setdefault(t, []).append(cores)
        if threads:
            top = sorted(((median(v), t) for t, v in threads.items()), reverse=True)
            print("  %-9s CPU by thread (cores): %s" % (name, ", ".join(
                "%s %.2f" % (t, c) for c, t in top if c >= 0.01)), file=out)
    for name in ["ceiling", "playtrace"]:
        rs = [r for r in by_server.get(name, []) if r.get("events_per_second")]
        if rs and len(rs[0]["events_per_second"]) >= 4:
            # median over runs of each quarter of the window: a drift shows as a trend
            quarters = []
            for r in rs:
                eps = r["events_per_second"][:int(r["seconds"])] or r["events_per_second"]
                q = max(1, len(eps) // 4)
                quarters.append([sum(eps[i * q:(i + 1) * q]) / q for i in range(4)])
            print("  %-9s events/s by quarter of the window: %s" % (name, " -> ".join(
                "{:,.0f}".format(median([qs[i] for qs in quarters])) for i in range(4))), file=out)
    pts = by_server.get("playtrace", [])
    commits = sum(r.get("metrics", {}).get("commits", 0) for r in pts)
    if commits:
        ev = sum(r.get("metrics", {}).get("commit_events_sum", 0) for r in pts)
        print("  playtrace group commit: %.0f events per commit on average (%d commits)"
              % (ev / commits, commits), file=out)
    if pts and pts[0].get("data_bytes"):
        r = pts[0]
        print("  playtrace store: %.0f bytes on disk per event (run %s, %d events)"
              % (r["data_bytes"] / max(1, r["accepted_total"]), r.get("run"),
                 r["accepted_total"]), file=out)
    print("", file=out)
    for t in targets:
        v = t["value"]
        print("%s  %s (%s)" % ("PASS" if t["pass"] else "FAIL", t["target"],
                               fmt(v, ",.1f") if isinstance(v, float) else v), file=out)
    for w in warnings:
        print("WARNING: %s" % w, file=out)
    if args.require_target and not passed:
        sys.exit(3)
    if any(r.get("errors") for r in results):
        sys.exit(1)


def cmd_shapes(args):
    """One table over every shape and client: playtrace's p99 next to the ceiling's."""
    groups = {}
    for path in args.files:
        with open(path) as f:
            r = json.load(f)
        key = ("%dx%d" % (r["clients"], r["batch"]), r.get("client", "python"))
        groups.setdefault(key, {}).setdefault(r["server"], []).append(r)
    head = "%-10s %-7s %-15s %11s %8s %8s %12s %9s %10s %10s" % (
        "shape", "client", "server", "events/s", "p50 ms", "p99 ms", "ceiling p99",
        "/ceiling", "CPU s/1M", "writer us")
    print("\nall shapes (medians over runs; CPU s/1M = server core-seconds per million events, "
          "writer us = writer thread per event)", file=sys.stdout)
    print(head)
    print("-" * len(head))
    order = lambda kv: (int(kv[0][0].split("x")[0]), kv[0][1])
    for (shape, client), servers in sorted(groups.items(), key=order):
        ce = servers.get("ceiling")
        ce_eps = median([r["events_per_s"] for r in ce]) if ce else None
        ce_p99 = median([r["p99_ms"] for r in ce]) if ce else None
        for name in sorted(servers, key=lambda n: (n != "ceiling", n)):
            rs = servers[name]
            eps = median([r["events_per_s"] for r in rs])
            cpu = median([r["server_cpu_cores"] / r["events_per_s"] * 1e6
                          for r in rs if r.get("server_cpu_cores") and r["events_per_s"]])
            writer = median([(r.get("server_threads") or {}).get("playtrace-write", 0)
                             / r["events_per_s"] * 1e6 for r in rs
                             if r["events_per_s"] and name != "ceiling"])
            print("%-10s %-7s %-15s %11s %8s %8s %12s %9s %10s %10s" % (
                shape, client, name, fmt(eps, ",.0f"),
                fmt(median([r["p50_ms"] for r in rs]), ".1f"),
                fmt(median([r["p99_ms"] for r in rs]), ".1f"),
                fmt(ce_p99, ".1f") if name != "ceiling" else "",
                fmt(eps / ce_eps, ".2f") if ce_eps and name != "ceiling" else "",
                fmt(cpu, ".2f"), fmt(writer, ".2f") if name != "ceiling" else ""))
    print("load average now: %s" % open("/proc/loadavg").read().split(" ", 3)[:3])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    lp = sub.add_parser("load", help="post batches to one server, write a result file")
    lp.add_argument("--url", required=True, help="ingest URL, e.g. http://127.0.0.1:7071/v1/events")
    lp.add_argument("--name", required=True, help="server label (playtrace, ceiling)")
    lp.add_argument("--out", required=True, help="result JSON file")
    lp.add_argument("--pid", type=int, help="server pid (RSS and CPU of it and its children)")
    lp.add_argument("--run", type=int, default=1)
    lp.add_argument("--run-id", help="id prefix (default: random)")
    lp.add_argument("--count", choices=["accepted", "sent"], default="accepted",
                    help="events/s from the answers' accepted (playtrace) or from events sent")
    lp.add_argument("--otlp", action="store_true",
                    help="send the same events as OTLP protobuf (POST /v1/logs; acknowledged = "
                         "batch less partialSuccess.rejectedLogRecords)")
    lp.add_argument("--metrics", help="GET this after the load (playtrace /metrics)")
    lp.add_argument("--info", help="GET this JSON after the load (playtrace /readyz)")
    lp.add_argument("--seconds", type=float, default=20.0)
    lp.add_argument("--warmup", type=float, default=3.0)
    lp.add_argument("--clients", type=int, default=4)
    lp.add_argument("--batch", type=int, default=1000)
    lp.add_argument("--templates", type=int, default=4, help="distinct bodies per client")
    lp.add_argument("--line-bytes", type=int, default=300)
    lp.add_argument("--contest-share", type=float, default=0.10)
    lp.add_argument("--retry-sleep-ms", type=float, default=20.0)
    lp.add_argument("--timeout", type=float, default=30.0, help="socket timeout, s")
    lp.add_argument("--seed", type=int, default=7)
    lp.add_argument("--games", type=int, default=1,
                    help="spread events over this many games (bench-00…) in runs of 50 lines")
    lp.set_defaults(func=cmd_load)

    kp = sub.add_parser("wrk", help="the same bodies posted by wrk (warm-up, then measured)")
    for flag in ("--url", "--name", "--out"):
        kp.add_argument(flag, required=True)
    kp.add_argument("--pid", type=int, help="server pid (RSS and CPU of it and its children)")
    kp.add_argument("--run", type=int, default=1)
    kp.add_argument("--run-id", help="id prefix (default: random)")
    kp.add_argument("--count", choices=["accepted", "sent"], default="accepted")
    kp.add_argument("--metrics", help="GET this after the load (playtrace /metrics)")
    kp.add_argument("--info", help="GET this JSON after the load (playtrace /readyz)")
    kp.add_argument("--seconds", type=float, default=20.0)
    kp.add_argument("--warmup", type=float, default=3.0)
    kp.add_argument("--clients", type=int, default=4, help="connections")
    kp.add_argument("--batch", type=int, default=1000)
    kp.add_argument("--line-bytes", type=int, default=300)
    kp.add_argument("--contest-share", type=float, default=0.10)
    kp.add_argument("--timeout", type=float, default=30.0, help="request timeout, s")
    kp.add_argument("--seed", type=int, default=7)
    kp.add_argument("--games", type=int, default=1)
    kp.add_argument("--wrk", default="wrk", help="the wrk binary")
    kp.add_argument("--wrk-threads", type=int, default=2)
    kp.set_defaults(func=cmd_wrk)

    wp = sub.add_parser("wait", help="wait until a URL answers 200")
    wp.add_argument("url")
    wp.add_argument("--timeout", type=float, default=60.0)
    wp.add_argument("--pid", type=int)
    wp.set_defaults(func=cmd_wait)

    ap = sub.add_parser("annotate", help="add key=value pairs to a result file")
    ap.add_argument("file")
    ap.add_argument("pairs", nargs="*")
    ap.set_defaults(func=cmd_annotate)

    rp = sub.add_parser("report", help="table (or JSON) of the medians of result files")
    rp.add_argument("files", nargs="+")
    rp.add_argument("--format", choices=["table", "json"], default="table")
    rp.add_argument("--require-target", action="store_true", help="exit 3 if a target fails")
    rp.set_defaults(func=cmd_report)

    sp = sub.add_parser("shapes", help="one table over shapes and clients (p99 vs ceiling)")
    sp.add_argument("files", nargs="+")
    sp.set_defaults(func=cmd_shapes)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
