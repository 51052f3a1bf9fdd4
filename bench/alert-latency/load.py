#!/usr/bin/env python3
"""Load, subscribers and report for the alert-latency benchmark (bench/alert-latency/run drives it).

Python 3 standard library only. Subcommands:

  bench    one run against a running `playtrace serve`: connect the SSE subscribers, ingest at
           a fixed rate with flagged events spread through, measure every alert's delivery to
           every subscriber; write one JSON result file
  wait     poll a URL until it answers 200 (server readiness)
  annotate add key=value pairs to a result file (exit code, ...)
  report   medians over the result files; table or JSON; pass/fail

Subscribers: --procs processes (fork, niced by --subscriber-nice), each one asyncio loop
holding its share of the --subscribers connections (`GET /v1/stream?topics=alerts`, HTTP/1.1,
chunked body decoded by hand) on raw non-blocking sockets (loop.add_reader + recvmsg). Each
socket has SO_TIMESTAMPNS on, so every read carries the kernel's receive time of its bytes:
an alert's arrival is when the server's write reached the subscriber's socket, not when the
Python loop got round to it, and the client's own CPU stays out of the measured latency
(the delay from the kernel stamp to the read is reported apart). Reads are stamped and queued;
parsing (chunks, SSE, json.loads of the `data:` line of `event: alert` messages only) runs
once per loop pass. If one read holds several alerts, TCP hands back the newest packet's
stamp, so the earlier ones are stamped late; that is counted (coalesced arrivals).

Clock: time.time() (CLOCK_REALTIME, the clock of the kernel stamps) for the POST start and
the arrivals, one system-wide clock, so times from different processes compare directly;
time.monotonic() for pacing.

Load (this process): --loaders threads, each with its own keep-alive connection, post
--batch-event NDJSON batches paced to --rate in total (the event mix and the unique-id
scheme of bench/ingest/load.py, imported from there). --alert-posters threads post the
flagged events, one per request, each at its due time (--alerts-per-second, evenly spaced,
each shifted by a seeded random part of the gap between two load batches); the time is
stamped just before the request is written, so latency = arrival at the subscriber - start
of the POST. Every flagged event has its own checkId and session, so each raises a new
alert (`moderation.safety_flag`, severity high).
"""

import argparse
import asyncio
import http.client
import importlib.util
import json
import multiprocessing
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

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_ingest():
    """bench/ingest/load.py: the event mix, batch bodies and the /proc and HTTP helpers."""
    path = os.path.join(HERE, "..", "ingest", "load.py")
    spec = importlib.util.spec_from_file_location("ingest_load", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ingest = _load_ingest()
percentile = ingest.percentile  # nearest rank
http_get = ingest.http_get
clock = time.monotonic  # pacing
wall = time.time  # latency stamps: the same clock as the kernel's receive stamps

ALERT_EVENT = "narrative.check.completed"


# ----------------------------------------------------------------------------------------
# Subscribers (child processes)
# ----------------------------------------------------------------------------------------

# SO_TIMESTAMPNS (asm-generic and x86; Python's socket module does not name it): the kernel
# stamps each received packet with CLOCK_REALTIME, handed back as a cmsg by recvmsg.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
CMSG_LEN = socket.CMSG_SPACE(struct.calcsize("ll"))


class Inbox:
    """Data stamped when read, parsed once per loop pass (after every ready socket is read)."""

    def __init__(self, loop):
        self.loop = loop
        self.items = []
        self.scheduled = False

    def put(self, sub, kernel_t, user_t, data):
        self.items.append((sub, kernel_t, user_t, data))
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.drain)

    def drain(self):
        items, self.items = self.items, []
        self.scheduled = False
        for sub, kernel_t, user_t, data in items:
            sub.feed(kernel_t, user_t, data)


class Sub:
    """One SSE subscriber on a raw non-blocking socket: HTTP/1.1 response head, chunked
    decoding, SSE messages. Arrival time = the kernel's receive stamp of the bytes."""

    def __init__(self, idx, loop, inbox, request, check_prefix):
        self.idx = idx
        self.loop = loop
        self.inbox = inbox
        self.request = request
        self.check_prefix = check_prefix
        self.sock = None
        self.ready = loop.create_future()  # set at the first SSE message (`retry:`)
        self.head = b""
        self.in_body = False
        self.chunked = False
        self.cbuf = b""
        self.remain = 0
        self.need_crlf = False
        self.sbuf = b""
        self.arrivals = {}  # alert number -> arrival time (kernel stamp, time.time() clock)
        self.client_delay = {}  # alert number -> s from the kernel stamp to the read
        self.no_kernel_stamp = 0
        self.coalesced = 0
        self.duplicates = 0
        self.other_alerts = 0
        self.other_messages = 0
        self.keepalives = 0
        self.close_reason = None
        self.error = None

    async def connect(self, host, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock = sock
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # arrivals then fall back to the time of the read (counted)
        await self.loop.sock_connect(sock, (host, port))
        await self.loop.sock_sendall(sock, self.request)
        self.loop.add_reader(sock.fileno(), self.readable)

    def close(self, reason=None):
        if self.sock is None:
            return
        if reason and self.close_reason is None:
            self.close_reason = reason
        try:
            self.loop.remove_reader(self.sock.fileno())
        except (ValueError, OSError):
            pass
        self.sock.close()
        self.sock = None
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason or "closed"))

    def readable(self):
        try:
            data, anc, _, _ = self.sock.recvmsg(262144, CMSG_LEN)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.close("%s: %s" % (type(e).__name__, e))
            return
        user_t = wall()
        if not data:
            self.close("closed by the server")
            return
        kernel_t = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("ll", cdata[:struct.calcsize("ll")])
                kernel_t = sec + nsec * 1e-9
        self.inbox.put(self, kernel_t, user_t, data)

    def fail(self, why):
        self.error = why
        self.close(why)

    # parsing
    def feed(self, kernel_t, user_t, data):
        if not self.in_body:
            self.head += data
            k = self.head.find(b"\r\n\r\n")
            if k < 0:
                if len(self.head) > 65536:
                    self.fail("response head too long")
                return
            head = self.head[:k].decode("latin-1")
            data = self.head[k + 4:]
            self.head = b""
            status = head.split("\r\n", 1)[0].split(" ")
            if len(status) < 2 or status[1] != "200":
                self.fail("stream answered %r" % head.split("\r\n", 1)[0])
                return
            self.chunked = "transfer-encoding: chunked" in head.lower()
            self.in_body = True
            if not data:
                return
        if self.chunked:
            data = self.dechunk(data)
        buf = self.sbuf + data if self.sbuf else data
        i = 0
        before = len(self.arrivals)
        while True:
            j = buf.find(b"\n\n", i)
            if j < 0:
                break
            self.message(kernel_t, user_t, buf[i:j])
            i = j + 2
        self.sbuf = buf[i:]
        if len(self.arrivals) - before > 1:
            # One read, several alerts: TCP keeps the newest packet's stamp, so the earlier
            # alerts are stamped late (their latency is an upper bound). Counted.
            self.coalesced += len(self.arrivals) - before - 1

    def dechunk(self, data):
        buf = self.cbuf + data if self.cbuf else data
        out = []
        i, n = 0, len(buf)
        while i < n:
            if self.remain:
                take = min(self.remain, n - i)
                out.append(buf[i:i + take])
                i += take
                self.remain -= take
                if not self.remain:
                    self.need_crlf = True
                continue
            if self.need_crlf:
                if n - i < 2:
                    break
                i += 2
                self.need_crlf = False
                continue
            j = buf.find(b"\r\n", i)
            if j < 0:
                break
            size = int(buf[i:j].split(b";", 1)[0], 16)
            i = j + 2
            if size == 0:
                break  # end of the body: the server closes
            self.remain = size
        self.cbuf = buf[i:]
        return b"".join(out)

    def message(self, kernel_t, user_t, msg):
        if msg.startswith(b":"):
            self.keepalives += 1
            return
        if not self.ready.done():
            if msg.startswith(b"retry:"):
                self.ready.set_result(user_t)
                return
        if b"event: alert\n" not in msg:
            self.other_messages += 1
            return
        k = msg.find(b"\ndata: ")
        if k < 0:
            self.other_messages += 1
            return
        alert = json.loads(msg[k + 7:])
        check = (alert.get("data") or {}).get("checkId")
        if not isinstance(check, str) or not check.startswith(self.check_prefix):
            self.other_alerts += 1
            return
        n = int(check[len(self.check_prefix):])
        if n in self.arrivals:
            self.duplicates += 1
            return
        if kernel_t is None:
            self.no_kernel_stamp += 1
            kernel_t = user_t
        self.arrivals[n] = kernel_t
        self.client_delay[n] = user_t - kernel_t


async def _subscribers(ids, host, port, path, pipe, check_prefix, concurrency, timeout):
    loop = asyncio.get_running_loop()
    inbox = Inbox(loop)
    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
               "Cache-Control: no-cache\r\nUser-Agent: playtrace-bench-alert-latency\r\n\r\n"
               % (path, host, port)).encode()
    subs = [Sub(i, loop, inbox, request, check_prefix) for i in ids]
    sem = asyncio.Semaphore(concurrency)

    async def connect(s):
        async with sem:
            try:
                await asyncio.wait_for(s.connect(host, port), timeout)
                await asyncio.wait_for(asyncio.shield(s.ready), timeout)
            except (OSError, asyncio.TimeoutError, ConnectionError) as e:
                if s.error is None:
                    s.error = "connect: %s: %s" % (type(e).__name__, e)
                s.close()

    t0 = clock()
    await asyncio.gather(*(connect(s) for s in subs))
    ok = sum(1 for s in subs if s.error is None and s.sock is not None)
    pipe.send(("ready", ok, clock() - t0, [s.error for s in subs if s.error][:5]))

    commands = asyncio.Queue()
    loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
    while True:
        cmd = await commands.get()
        if cmd == "stop":
            break
    loop.remove_reader(pipe.fileno())
    inbox.drain()
    results = [{
        "idx": s.idx,
        "arrivals": s.arrivals,
        "client_delay": s.client_delay,
        "no_kernel_stamp": s.no_kernel_stamp,
        "coalesced": s.coalesced,
        "duplicates": s.duplicates,
        "other_alerts": s.other_alerts,
        "other_messages": s.other_messages,
        "keepalives": s.keepalives,
        "close_reason": s.close_reason,
        "error": s.error,
    } for s in subs]
    for s in subs:
        s.close()
    return results


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def subscriber_main(ids, host, port, path, pipe, check_prefix, concurrency, timeout, nice):
    """Child process: hold the connections until told to stop, then send the arrivals."""
    try:
        if nice:
            os.nice(nice)
        limit = raise_nofile(len(ids) + 64)
        if limit < len(ids) + 16:
            pipe.send(("error", "RLIMIT_NOFILE is %d, too low for %d connections"
                       % (limit, len(ids))))
            return
        results = asyncio.run(_subscribers(ids, host, port, path, pipe, check_prefix,
                                           concurrency, timeout))
        pipe.send(("results", results))
    except Exception as e:  # reported by the parent
        try:
            pipe.send(("error", "%s: %s" % (type(e).__name__, e)))
        except OSError:
            pass


# ----------------------------------------------------------------------------------------
# Load (threads of the parent process)
# ----------------------------------------------------------------------------------------

def _connect(host, port, timeout):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _post(conn, path, body, headers):
    conn.request("POST", path, body, headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.will_close


class Loader(threading.Thread):
    """Posts batches on a fixed schedule (late batches go at once: the rate is reported)."""

    def __init__(self, idx, args, parts_list, start_at, end_at, interval, offset):
        super().__init__(name="loader-%d" % idx, daemon=True)
        self.args = args
        self.parts_list = parts_list
        self.start_at, self.end_at = start_at, end_at
        self.interval, self.offset = interval, offset
        u = urllib.parse.urlsplit(args.url)
        self.host, self.port = u.hostname, u.port
        self.batches = 0
        self.events_sent = 0
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.status_503 = 0
        self.other_status = {}
        self.reconnects = 0
        self.latencies = []
        self.late = 0  # batches started more than 50 ms after their due time
        self.max_late = 0.0
        self.last_ack = None
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        args = self.args
        headers = {"Content-Type": "application/x-ndjson"}
        conn = _connect(self.host, self.port, args.timeout)
        n = 0
        while True:
            due = self.start_at + self.offset + n * self.interval
            if due >= self.end_at:
                break
            now = clock()
            if now < due:
                time.sleep(due - now)
            else:
                lag = now - due
                self.max_late = max(self.max_late, lag)
                if lag > 0.05:
                    self.late += 1
            body = ingest.batch_body(self.parts_list[n % len(self.parts_list)], n)
            n += 1
            first = clock()
            while True:
                try:
                    status, data, will_close = _post(conn, "/v1/events", body, headers)
                except (OSError, http.client.HTTPException) as e:
                    self.reconnects += 1
                    if self.reconnects > 20:
                        raise RuntimeError("connection keeps failing: %s" % e)
                    time.sleep(0.05)
                    conn.close()
                    conn = _connect(self.host, self.port, args.timeout)
                    continue
                if will_close:
                    conn.close()
                    conn = _connect(self.host, self.port, args.timeout)
                if status == 503:
                    self.status_503 += 1
                    time.sleep(0.02)
                    continue
                break
            end = clock()
            self.batches += 1
            self.events_sent += args.batch
            if status != 200:
                self.other_status[status] = self.other_status.get(status, 0) + 1
                continue
            answer = json.loads(data)
            self.accepted += answer.get("accepted", 0)
            self.duplicates += answer.get("duplicates", 0)
            self.rejected += len(answer.get("rejected", ()))
            self.latencies.append(end - first)
            self.last_ack = end
        conn.close()


def alert_line(prefix, k):
    event = {"event": ALERT_EVENT, "id": "alert-%s-%06d" % (prefix, k), "game": "bench",
             "env": "prod", "session": "s-alert-%s-%06d" % (prefix, k),
             "attrs": {"checkId": "chk-%s-%06d" % (prefix, k), "auditRef": "bench-alert-latency",
                       "latencyMs": 1.0, "safetyFlags": ["prohibited-capability"],
                       "text": "flagged by the alert-latency benchmark"}}
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


class AlertPoster(threading.Thread):
    """Posts its share of the flagged events, one per request, each when due."""

    def __init__(self, idx, args, prefix, schedule):
        super().__init__(name="alerts-%d" % idx, daemon=True)
        self.args = args
        self.prefix = prefix
        self.schedule = schedule  # [(alert number, due time)]
        u = urllib.parse.urlsplit(args.url)
        self.host, self.port = u.hostname, u.port
        self.posted = {}  # alert number -> {send, ack, late, accepted, status}
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.error = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        headers = {"Content-Type": "application/x-ndjson"}
        conn = _connect(self.host, self.port, self.args.timeout)
        for k, due in self.schedule:
            body = alert_line(self.prefix, k)
            now = clock()
            if now < due:
                time.sleep(due - now)
            for attempt in range(20):
                send_mono, send = clock(), wall()
                try:
                    status, data, will_close = _post(conn, "/v1/events", body, headers)
                except (OSError, http.client.HTTPException):
                    time.sleep(0.05)
                    conn.close()
                    conn = _connect(self.host, self.port, self.args.timeout)
                    continue
                ack = wall()
                if will_close:
                    conn.close()
                    conn = _connect(self.host, self.port, self.args.timeout)
                if status == 503:
                    time.sleep(0.02)
                    continue
                break
            else:
                self.posted[k] = {"send": send, "ack": None, "late": send_mono - due,
                                  "accepted": 0, "status": None}
                continue
            accepted = 0
            if status == 200:
                accepted = json.loads(data).get("accepted", 0)
            # With a retry (503, reconnect) the latency starts at the request that was stored.
            self.posted[k] = {"send": send, "ack": ack, "late": send_mono - due,
                              "accepted": accepted, "status": status, "attempts": attempt + 1}
        conn.close()


# ----------------------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------------------

def metrics_values(url):
    """The stream counters of /metrics (and the group commit, for context)."""
    status, body = http_get(url)
    if status != 200:
        raise OSError("GET %s answered %d" % (url, status))
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        for key in ("playtrace_stream_subscribers", "playtrace_stream_messages_total",
                    "playtrace_stream_lag_disconnects_total", "playtrace_stream_resets_total",
                    "playtrace_send_timeouts_total", "playtrace_commit_batch_events_sum",
                    "playtrace_commit_batch_events_count"):
            if name == key or name.startswith(key + "{"):
                out[key] = out.get(key, 0) + v
    return out


def proc_cpu(pids):
    return ingest.cpu_seconds(pids)


def machine_cpu():
    """(busy CPU seconds of the whole machine, CPU pressure stall seconds 'some')."""
    tick = os.sysconf("SC_CLK_TCK")
    busy = None
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / tick  # all but idle and iowait (guest is in user)
    except (OSError, ValueError, IndexError):
        pass
    stall = None
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    stall = int(line.rsplit("total=", 1)[1]) / 1e6
    except (OSError, ValueError, IndexError):
        pass
    return busy, stall


def ms_stats(values):
    s = sorted(values)
    if not s:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": len(s), "p50": round(percentile(s, 50) * 1000, 3),
            "p99": round(percentile(s, 99) * 1000, 3), "max": round(s[-1] * 1000, 3)}


def cmd_bench(args):
    u = urllib.parse.urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("bench: refusing a non-loopback URL: %s" % args.url)
    host, port = u.hostname, u.port
    base = "http://%s:%d" % (host, port)
    rng = random.Random(args.seed)
    prefix = args.run_id or os.urandom(3).hex()
    check_prefix = "chk-%s-" % prefix
    stream_path = "/v1/stream?topics=alerts"
    log = lambda msg: print("bench: run %s: %s" % (args.run, msg), file=sys.stderr, flush=True)

    # Subscriber processes first (fork before any thread exists).
    ctx = multiprocessing.get_context("fork")
    procs = []
    per = -(-args.subscribers // args.procs)
    for p in range(args.procs):
        ids = list(range(p * per, min(args.subscribers, (p + 1) * per)))
        if not ids:
            continue
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=subscriber_main, name="subscribers-%d" % p,
                           args=(ids, host, port, stream_path, child_end, check_prefix,
                                 args.connect_concurrency, args.connect_timeout,
                                 args.subscriber_nice), daemon=True)
        proc.start()
        child_end.close()
        procs.append((proc, parent_end, len(ids)))

    def stop_children():
        for proc, _, _ in procs:
            if proc.is_alive():
                proc.terminate()
        for proc, _, _ in procs:
            proc.join(5)

    try:
        return _bench(args, rng, prefix, base, procs, log)
    finally:
        stop_children()


def _bench(args, rng, prefix, base, procs, log):
    # Load bodies, generated before anything is timed (the ingest benchmark's event mix).
    t0 = clock()
    base_ms = int(time.time() * 1000)
    templates = [[ingest.make_template(rng, "%s%d" % (prefix, c), c, args.batch,
                                       args.contest_share, args.line_bytes, base_ms + 1000 * t)
                  for t in range(args.templates)] for c in range(args.loaders)]
    gen_s = clock() - t0
    avg_line = len(ingest.batch_body(templates[0][0], 0)) / args.batch

    # Subscribers connected, then the server's gauge agrees.
    connect_errors = []
    connected = 0
    connect_s = 0.0
    deadline = clock() + args.connect_timeout + 30
    for proc, pipe, n in procs:
        left = deadline - clock()
        if left <= 0 or not pipe.poll(left):
            sys.exit("bench: subscriber process %s not ready in time" % proc.name)
        msg = pipe.recv()
        if msg[0] != "ready":
            sys.exit("bench: subscriber process %s: %s" % (proc.name, msg[1]))
        connected += msg[1]
        connect_s = max(connect_s, msg[2])
        connect_errors.extend(msg[3])
    log("%d/%d subscribers connected in %.1f s" % (connected, args.subscribers, connect_s))
    if connected < args.subscribers:
        sys.exit("bench: only %d of %d subscribers connected: %s"
                 % (connected, args.subscribers, "; ".join(connect_errors)))
    gauge = None
    deadline = clock() + 30
    while clock() < deadline:
        gauge = metrics_values(base + "/metrics").get("playtrace_stream_subscribers")
        if gauge is not None and gauge >= args.subscribers:
            break
        time.sleep(0.1)
    else:
        sys.exit("bench: /metrics shows %s stream subscribers, expected %d"
                 % (gauge, args.subscribers))
    m_before = metrics_values(base + "/metrics")

    # Schedules.
    n_alerts = int(round(args.seconds * args.alerts_per_second))
    start_at = clock() + 0.3
    end_at = start_at + args.seconds
    interval = args.batch * args.loaders / args.rate  # each loader's period
    loaders = [Loader(i, args, templates[i], start_at, end_at, interval,
                      i * interval / args.loaders) for i in range(args.loaders)]
    # Flagged events evenly spaced (so that two rarely share a subscriber's read, see Sub.feed),
    # each shifted by a random part of the gap between two load batches, so that they sample
    # every phase of the load's requests and commits.
    batch_gap = interval / args.loaders
    slots = [(k, start_at + k / args.alerts_per_second + rng.random() * batch_gap)
             for k in range(n_alerts)]
    posters = [AlertPoster(j, args, prefix, slots[j::args.alert_posters])
               for j in range(args.alert_posters)]

    server_pids = ingest.proc_tree(args.pid) if args.pid else []
    sub_pids = [proc.pid for proc, _, _ in procs]

    def snapshot():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return (clock(), proc_cpu(server_pids), r.ru_utime + r.ru_stime, proc_cpu(sub_pids),
                ingest.thread_cpu(server_pids), machine_cpu())

    for t in loaders + posters:
        t.start()
    rss_max_kib = 0
    marks = {}
    while any(t.is_alive() for t in loaders + posters):
        now = clock()
        if "start" not in marks and now >= start_at:
            marks["start"] = snapshot()
        if "end" not in marks and now >= end_at:
            marks["end"] = snapshot()
        if server_pids:
            rss_max_kib = max(rss_max_kib, sum(ingest.status_kib(p, "VmRSS") for p in server_pids))
        if now > end_at + args.timeout + 5:
            sys.exit("bench: loaders did not finish in time")
        wake = now + 0.1
        for t in (start_at, end_at):
            if now < t < wake:
                wake = t
        time.sleep(max(0.0, wake - clock()))
    load_done = clock()
    marks.setdefault("start", marks.get("end") or snapshot())
    marks.setdefault("end", snapshot())
    # Grace period for alerts still on their way.
    while clock() < load_done + args.grace:
        if server_pids:
            rss_max_kib = max(rss_max_kib, sum(ingest.status_kib(p, "VmRSS") for p in server_pids))
        time.sleep(0.1)
    m_after = metrics_values(base + "/metrics")  # before the subscribers hang up
    hwm_kib = sum(ingest.status_kib(p, "VmHWM") for p in server_pids)

    # Arrivals.
    subs = []
    for proc, pipe, _ in procs:
        pipe.send("stop")
    for proc, pipe, _ in procs:
        if not pipe.poll(60):
            sys.exit("bench: subscriber process %s sent no results" % proc.name)
        msg = pipe.recv()
        if msg[0] != "results":
            sys.exit("bench: subscriber process %s: %s" % (proc.name, msg[1]))
        subs.extend(msg[1])
    for proc, _, _ in procs:
        proc.join(10)

    # Latencies: every (subscriber, alert) pair of the alerts the server accepted.
    posted = {}
    for p in posters:
        posted.update(p.posted)
    ok = {k: v for k, v in posted.items() if v["accepted"] == 1}
    lat, ack_lat, first_lat, spread = [], [], [], []
    after_ack = []
    per_alert = {k: [] for k in ok}
    early = 0
    client_delay = [d for s in subs for d in s["client_delay"].values()]
    for s in subs:
        for k, t in s["arrivals"].items():
            p = ok.get(k)
            if p is None:
                continue
            d = t - p["send"]
            if d < 0:
                early += 1
            lat.append(d)
            per_alert[k].append(t)
            if p["ack"] is not None:
                after_ack.append(t - p["ack"])
    for k, times in per_alert.items():
        if times:
            first_lat.append(min(times) - ok[k]["send"])
            spread.append(max(times) - min(times))
    for v in ok.values():
        ack_lat.append(v["ack"] - v["send"])
    expected = args.subscribers * len(ok)
    received = len(lat)
    missing_per_alert = sorted(((args.subscribers - len(t), k) for k, t in per_alert.items()),
                               reverse=True)
    dropped = [s for s in subs if s["close_reason"]]
    t_s, srv_s, cli_s, sub_s, th_s, (busy_s, stall_s) = marks["start"]
    t_e, srv_e, cli_e, sub_e, th_e, (busy_e, stall_e) = marks["end"]
    window = max(1e-9, t_e - t_s)
    machine_busy = other_cpu = cpu_pressure = None
    if busy_s is not None and busy_e is not None:
        machine_busy = round((busy_e - busy_s) / window, 2)
        other_cpu = round(machine_busy - ((srv_e - srv_s) + (cli_e - cli_s) + (sub_e - sub_s))
                          / window, 2)
    if stall_s is not None and stall_e is not None:
        cpu_pressure = round((stall_e - stall_s) / window * 100, 1)
    acked = [l.last_ack for l in loaders if l.last_ack]
    load_elapsed = max(args.seconds, (max(acked) - start_at) if acked else 0)
    errors = [x.error for x in loaders + posters if x.error]
    batch_lat = sorted(x for l in loaders for x in l.latencies)
    result = {
        "run": args.run,
        "url": args.url,
        "run_id": prefix,
        "seconds": args.seconds,
        "rate": args.rate,
        "loaders": args.loaders,
        "batch": args.batch,
        "alerts_per_second": args.alerts_per_second,
        "alert_posters": args.alert_posters,
        "subscribers": args.subscribers,
        "procs": len(procs),
        "subscriber_nice": args.subscriber_nice,
        "grace": args.grace,
        "avg_line_bytes": round(avg_line, 1),
        "generate_seconds": round(gen_s, 2),
        "connect_seconds": round(connect_s, 2),
        # load
        "events_sent": sum(l.events_sent for l in loaders) + len(posted),
        "events_accepted": sum(l.accepted for l in loaders) + sum(v["accepted"] for v in
                                                                  posted.values()),
        "duplicates": sum(l.duplicates for l in loaders),
        "rejected": sum(l.rejected for l in loaders),
        "events_per_s": sum(l.accepted for l in loaders) / load_elapsed,
        "load_elapsed": round(load_elapsed, 3),
        "batches": sum(l.batches for l in loaders),
        "batches_late": sum(l.late for l in loaders),
        "max_batch_late_ms": round(max(l.max_late for l in loaders) * 1000, 1),
        "batch_ack_ms": ms_stats(batch_lat),
        "status_503": sum(l.status_503 for l in loaders),
        "other_status": {str(k): sum(l.other_status.get(k, 0) for l in loaders)
                         for k in set().union(*(l.other_status for l in loaders))},
        "reconnects": sum(l.reconnects for l in loaders),
        # alerts
        "alerts_scheduled": n_alerts,
        "alerts_posted_ok": len(ok),
        "alerts_failed": n_alerts - len(ok),
        "alerts_late_ms": ms_stats([max(0.0, v["late"]) for v in posted.values()]),
        "alert_ack_ms": ms_stats(ack_lat),
        "expected_deliveries": expected,
        "deliveries": received,
        "missing": expected - received,
        "worst_alerts_missing": [[k, m] for m, k in missing_per_alert[:5] if m > 0],
        "early_arrivals": early,
        "duplicate_deliveries": sum(s["duplicates"] for s in subs),
        "other_alerts": sum(s["other_alerts"] for s in subs),
        "other_messages": sum(s["other_messages"] for s in subs),
        "keepalives": sum(s["keepalives"] for s in subs),
        "subscribers_dropped": len(dropped),
        "drop_reasons": sorted({s["close_reason"] for s in dropped})[:5],
        "subscriber_errors": sorted({s["error"] for s in subs if s["error"]})[:5],
        "latency_ms": ms_stats(lat),
        "first_subscriber_ms": ms_stats(first_lat),
        "fanout_spread_ms": ms_stats(spread),
        "after_ack_ms": ms_stats(after_ack),
        "client_delay_ms": ms_stats(client_delay),
        "no_kernel_stamp": sum(s["no_kernel_stamp"] for s in subs),
        "coalesced_arrivals": sum(s["coalesced"] for s in subs),
        # server
        "metrics_before": m_before,
        "metrics_after": m_after,
        "lag_disconnects": m_after.get("playtrace_stream_lag_disconnects_total", 0)
        - m_before.get("playtrace_stream_lag_disconnects_total", 0),
        "send_timeouts": m_after.get("playtrace_send_timeouts_total", 0)
        - m_before.get("playtrace_send_timeouts_total", 0),
        "subscribers_gauge_before": m_before.get("playtrace_stream_subscribers"),
        "subscribers_gauge_after": m_after.get("playtrace_stream_subscribers"),
        "pids": server_pids,
        "peak_rss_kib": max(hwm_kib, rss_max_kib) if server_pids else None,
        "server_cpu_cores": round((srv_e - srv_s) / window, 2) if server_pids else None,
        "loader_cpu_cores": round((cli_e - cli_s) / window, 2),
        "subscriber_cpu_cores": round((sub_e - sub_s) / window, 2),
        "machine_cpu_cores": machine_busy,
        "other_cpu_cores": other_cpu,
        "cpu_pressure_pct": cpu_pressure,
        "server_threads": {name: round((th_e[name] - th_s.get(name, 0)) / window, 3)
                           for name in th_e},
        "errors": errors,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    L = result["latency_ms"]
    log("%.0f events/s, %d alerts x %d subscribers: p50 %s ms, p99 %s ms, max %s ms, missing %d, "
        "dropped %d, lag disconnects %d" % (result["events_per_s"], len(ok), args.subscribers,
                                            L["p50"], L["p99"], L["max"], result["missing"],
                                            len(dropped), result["lag_disconnects"]))
    if errors:
        for e in errors:
            log("client error: %s" % e)
        sys.exit(1)


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------

TARGET_P99_MS = 20.0
RATE_SHORTFALL = 0.95  # warn below 95 % of the requested events/s
CLIENT_CPU_WARN = 0.5  # cores used by the subscriber processes


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def summarize(runs):
    def med(f):
        return median([f(r) for r in runs])
    return {
        "runs": len(runs),
        "events_per_s": med(lambda r: r["events_per_s"]),
        "p50_ms": med(lambda r: r["latency_ms"]["p50"]),
        "p99_ms": med(lambda r: r["latency_ms"]["p99"]),
        "max_ms": med(lambda r: r["latency_ms"]["max"]),
        "worst_max_ms": max((r["latency_ms"]["max"] for r in runs
                             if r["latency_ms"]["max"] is not None), default=None),
        "expected_deliveries": sum(r["expected_deliveries"] for r in runs),
        "deliveries": sum(r["deliveries"] for r in runs),
        "missing": sum(r["missing"] for r in runs),
        "subscribers_dropped": sum(r["subscribers_dropped"] for r in runs),
        "lag_disconnects": sum(r["lag_disconnects"] for r in runs),
        "send_timeouts": sum(r["send_timeouts"] for r in runs),
        "alerts_failed": sum(r["alerts_failed"] for r in runs),
        "peak_rss_mib": med(lambda r: r["peak_rss_kib"] / 1024 if r.get("peak_rss_kib") else None),
        "peak_rss_mib_max": max((r["peak_rss_kib"] / 1024 for r in runs if r.get("peak_rss_kib")),
                                default=None),
        "server_cpu_cores": med(lambda r: r.get("server_cpu_cores")),
        "loader_cpu_cores": med(lambda r: r.get("loader_cpu_cores")),
        "subscriber_cpu_cores": med(lambda r: r.get("subscriber_cpu_cores")),
        "other_cpu_cores": med(lambda r: r.get("other_cpu_cores")),
        "cpu_pressure_pct": med(lambda r: r.get("cpu_pressure_pct")),
        "alert_ack_p50_ms": med(lambda r: r["alert_ack_ms"]["p50"]),
        "alert_ack_p99_ms": med(lambda r: r["alert_ack_ms"]["p99"]),
        "first_p50_ms": med(lambda r: r["first_subscriber_ms"]["p50"]),
        "first_p99_ms": med(lambda r: r["first_subscriber_ms"]["p99"]),
        "spread_p50_ms": med(lambda r: r["fanout_spread_ms"]["p50"]),
        "spread_p99_ms": med(lambda r: r["fanout_spread_ms"]["p99"]),
        "after_ack_p50_ms": med(lambda r: r["after_ack_ms"]["p50"]),
        "after_ack_p99_ms": med(lambda r: r["after_ack_ms"]["p99"]),
        "client_delay_p50_ms": med(lambda r: r["client_delay_ms"]["p50"]),
        "client_delay_p99_ms": med(lambda r: r["client_delay_ms"]["p99"]),
        "batch_ack_p50_ms": med(lambda r: r["batch_ack_ms"]["p50"]),
        "batch_ack_p99_ms": med(lambda r: r["batch_ack_ms"]["p99"]),
    }


def warnings_of(runs):
    out = []
    for r in runs:
        tag = "run %s" % r["run"]
        if r.get("errors"):
            out.append("%s: client errors: %s" % (tag, "; ".join(r["errors"])))
        if r["events_per_s"] < RATE_SHORTFALL * r["rate"]:
            out.append("%s: the load reached %.0f events/s, below %.0f %% of the %d requested "
                       "(%d batches started > 50 ms late)"
                       % (tag, r["events_per_s"], RATE_SHORTFALL * 100, r["rate"],
                          r["batches_late"]))
        if r["events_accepted"] != r["events_sent"] or r["duplicates"] or r["rejected"]:
            out.append("%s: sent %d events, answers say accepted %d, duplicates %d, rejected %d"
                       % (tag, r["events_sent"], r["events_accepted"], r["duplicates"],
                          r["rejected"]))
        if r["status_503"]:
            out.append("%s: %d answers were 503 (queue full)" % (tag, r["status_503"]))
        if r["other_status"]:
            out.append("%s: unexpected HTTP statuses %s" % (tag, r["other_status"]))
        if r["reconnects"]:
            out.append("%s: %d loader reconnects" % (tag, r["reconnects"]))
        if r["alerts_failed"]:
            out.append("%s: %d flagged events were not accepted" % (tag, r["alerts_failed"]))
        if r["alerts_late_ms"]["p99"] and r["alerts_late_ms"]["p99"] > 20:
            out.append("%s: flagged events were posted late (p99 %.1f ms after due): the "
                       "loader process is short of CPU" % (tag, r["alerts_late_ms"]["p99"]))
        if r["subscribers_dropped"]:
            out.append("%s: %d subscribers were disconnected (%s)"
                       % (tag, r["subscribers_dropped"], "; ".join(r["drop_reasons"])))
        if r["lag_disconnects"] or r["send_timeouts"]:
            out.append("%s: server counted %d lag disconnects, %d send timeouts"
                       % (tag, r["lag_disconnects"], r["send_timeouts"]))
        if r["duplicate_deliveries"]:
            out.append("%s: %d alerts arrived twice at the same subscriber"
                       % (tag, r["duplicate_deliveries"]))
        if r.get("no_kernel_stamp"):
            out.append("%s: %d arrivals had no kernel receive stamp (SO_TIMESTAMPNS) and were "
                       "stamped when read: client CPU is then part of their latency"
                       % (tag, r["no_kernel_stamp"]))
        if r.get("coalesced_arrivals"):
            out.append("%s: %d arrivals shared a read with a later alert and carry its stamp "
                       "(upper bounds; the subscribers fell > 1 alert behind)"
                       % (tag, r["coalesced_arrivals"]))
        if r.get("other_cpu_cores") is not None and r["other_cpu_cores"] > 0.2:
            out.append("%s: other processes used %.2f cores during the load: the machine was "
                       "not quiet" % (tag, r["other_cpu_cores"]))
        if r["early_arrivals"]:
            out.append("%s: %d arrivals stamped before their POST (clock?)"
                       % (tag, r["early_arrivals"]))
        if r["subscriber_cpu_cores"] is not None and r["subscriber_cpu_cores"] > CLIENT_CPU_WARN:
            out.append("%s: the subscriber processes used %.2f cores of this machine's %d: "
                       "client CPU competes with the server and inflates latency"
                       % (tag, r["subscriber_cpu_cores"], os.cpu_count() or 0))
        if "exit_code" in r and r["exit_code"] != 0:
            out.append("%s: server exited with %s after SIGTERM" % (tag, r["exit_code"]))
    return out


def cmd_report(args):
    runs = []
    for path in args.files:
        with open(path) as f:
            runs.append(json.load(f))
    runs.sort(key=lambda r: r.get("run", 0))
    s = summarize(runs)
    delivered_all = (s["missing"] == 0 and s["subscribers_dropped"] == 0
                     and s["lag_disconnects"] == 0 and s["alerts_failed"] == 0
                     and s["expected_deliveries"] > 0)
    targets = [
        {"target": "p99 alert latency < %g ms" % TARGET_P99_MS, "value": s["p99_ms"],
         "pass": s["p99_ms"] is not None and s["p99_ms"] < TARGET_P99_MS},
        {"target": "no subscriber missed an alert",
         "value": "missing %d of %d, dropped %d, lag disconnects %d"
                  % (s["missing"], s["expected_deliveries"], s["subscribers_dropped"],
                     s["lag_disconnects"]),
         "pass": delivered_all},
    ]
    warnings = warnings_of(runs)
    passed = all(t["pass"] for t in targets)
    first = runs[0]
    meta = {k: first.get(k) for k in ("subscribers", "procs", "rate", "seconds", "loaders",
                                      "batch", "alerts_per_second", "grace", "avg_line_bytes")}
    meta["runs"] = len(runs)

    out = sys.stdout
    if args.format == "json":
        json.dump({"config": meta, "summary": s, "targets": targets, "pass": passed,
                   "warnings": warnings, "results": runs}, out, indent=1)
        out.write("\n")
        out = sys.stderr
    print("alert-latency: %(subscribers)s SSE subscribers (%(procs)s processes) on topics=alerts; "
          "%(rate)s events/s for %(seconds)s s (%(loaders)s loaders x %(batch)s-event batches, "
          "avg line %(avg_line_bytes)s B) + %(alerts_per_second)s flagged events/s, one per "
          "request; %(runs)s run(s)" % meta, file=out)
    print("", file=out)
    head = "%-7s %10s %7s %11s %8s %8s %8s %8s %8s %9s %8s %8s" % (
        "run", "events/s", "alerts", "deliveries", "missing", "p50 ms", "p99 ms", "max ms",
        "RSS MiB", "lag disc.", "srv CPU", "cli CPU")
    print(head, file=out)
    print("-" * len(head), file=out)

    def row(name, r_eps, alerts, deliv, missing, p50, p99, mx, rss, lag, srv, cli):
        print("%-7s %10s %7s %11s %8s %8s %8s %8s %8s %9s %8s %8s" % (
            name, fmt(r_eps, ",.0f"), fmt(alerts, "d"), fmt(deliv, ",d"), fmt(missing, ",d"),
            fmt(p50, ".2f"), fmt(p99, ".2f"), fmt(mx, ".2f"), fmt(rss, ".1f"), fmt(lag, ".0f"),
            fmt(srv, ".2f"), fmt(cli, ".2f")), file=out)

    for r in runs:
        cli = None
        if r.get("subscriber_cpu_cores") is not None:
            cli = r["subscriber_cpu_cores"] + (r.get("loader_cpu_cores") or 0)
        row(str(r["run"]), r["events_per_s"], r["alerts_posted_ok"], r["deliveries"],
            r["missing"], r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["max"],
            r["peak_rss_kib"] / 1024 if r.get("peak_rss_kib") else None, r["lag_disconnects"],
            r.get("server_cpu_cores"), cli)
    if len(runs) > 1:
        cli = None
        if s["subscriber_cpu_cores"] is not None:
            cli = s["subscriber_cpu_cores"] + (s["loader_cpu_cores"] or 0)
        row("median", s["events_per_s"], None, s["deliveries"], s["missing"], s["p50_ms"],
            s["p99_ms"], s["max_ms"], s["peak_rss_mib"], s["lag_disconnects"],
            s["server_cpu_cores"], cli)
    print("", file=out)
    print("  (missing, deliveries and lag disconnects are totals; the rest medians of the runs)"
          if len(runs) > 1 else "", file=out, end="\n" if len(runs) > 1 else "")
    print("  where the latency goes (medians, ms):", file=out)
    print("    flagged POST -> its durable ack       p50 %s  p99 %s" % (
        fmt(s["alert_ack_p50_ms"], ".2f"), fmt(s["alert_ack_p99_ms"], ".2f")), file=out)
    print("    flagged POST -> first subscriber      p50 %s  p99 %s" % (
        fmt(s["first_p50_ms"], ".2f"), fmt(s["first_p99_ms"], ".2f")), file=out)
    print("    first -> last subscriber (fan-out)    p50 %s  p99 %s" % (
        fmt(s["spread_p50_ms"], ".2f"), fmt(s["spread_p99_ms"], ".2f")), file=out)
    print("    its ack -> arrival (< 0: before ack)  p50 %s  p99 %s" % (
        fmt(s["after_ack_p50_ms"], ".2f"), fmt(s["after_ack_p99_ms"], ".2f")), file=out)
    print("    client: kernel stamp -> read by Python p50 %s  p99 %s  (not in the latency)" % (
        fmt(s["client_delay_p50_ms"], ".2f"), fmt(s["client_delay_p99_ms"], ".2f")), file=out)
    print("  load: batch ack p50 %s ms, p99 %s ms" % (
        fmt(s["batch_ack_p50_ms"], ".1f"), fmt(s["batch_ack_p99_ms"], ".1f")), file=out)
    print("  CPU cores: server %s, loader %s, subscribers %s (nice %s), other processes %s; "
          "CPU pressure (some) %s %%" % (
              fmt(s["server_cpu_cores"], ".2f"), fmt(s["loader_cpu_cores"], ".2f"),
              fmt(s["subscriber_cpu_cores"], ".2f"), first.get("subscriber_nice", "-"),
              fmt(s["other_cpu_cores"], ".2f"), fmt(s["cpu_pressure_pct"], ".0f")), file=out)
    threads = {}
    for r in runs:
        for t, cores in (r.get("server_threads") or {}).items():
            threads.setdefault(t, []).append(cores)
    if threads:
        top = sorted(((median(v), t) for t, v in threads.items()), reverse=True)
        print("  server CPU by thread (cores): %s" % ", ".join(
            "%s %.2f" % (t, c) for c, t in top if c >= 0.01), file=out)
    for r in runs:
        mb, ma = r["metrics_before"], r["metrics_after"]
        print("  run %s /metrics: stream_subscribers %s -> %s, stream_lag_disconnects_total %s, "
              "send_timeouts_total %s, stream_messages_total +%s" % (
                  r["run"], fmt(r["subscribers_gauge_before"], ".0f"),
                  fmt(r["subscribers_gauge_after"], ".0f"),
                  fmt(ma.get("playtrace_stream_lag_disconnects_total"), ".0f"),
                  fmt(ma.get("playtrace_send_timeouts_total"), ".0f"),
                  fmt(ma.get("playtrace_stream_messages_total", 0)
                      - mb.get("playtrace_stream_messages_total", 0), ".0f")), file=out)
    print("", file=out)
    for t in targets:
        v = t["value"]
        print("%s  %s (%s)" % ("PASS" if t["pass"] else "FAIL", t["target"],
                               fmt(v, ".2f") if isinstance(v, float) else v), file=out)
    for w in warnings:
        print("WARNING: %s" % w, file=out)
    if args.require_target and not passed:
        sys.exit(3)
    if any(r.get("errors") for r in runs):
        sys.exit(1)


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    bp = sub.add_parser("bench", help="one run against a running server; write a result file")
    bp.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:7071")
    bp.add_argument("--out", required=True, help="result JSON file")
    bp.add_argument("--pid", type=int, help="server pid (RSS and CPU)")
    bp.add_argument("--run", type=int, default=1)
    bp.add_argument("--run-id", help="id prefix (default: random)")
    bp.add_argument("--seconds", type=float, default=20.0)
    bp.add_argument("--rate", type=int, default=20000, help="events/s of normal load")
    bp.add_argument("--loaders", type=int, default=4, help="loader threads (connections)")
    bp.add_argument("--batch", type=int, default=500, help="events per load request")
    bp.add_argument("--alerts-per-second", type=float, default=10.0)
    bp.add_argument("--alert-posters", type=int, default=4,
                    help="threads (connections) posting the flagged events")
    bp.add_argument("--subscribers", type=int, default=1000)
    bp.add_argument("--procs", type=int, default=2, help="subscriber processes")
    bp.add_argument("--subscriber-nice", type=int, default=19,
                    help="nice increment of the subscriber processes (0: same priority as the "
                         "server)")
    bp.add_argument("--grace", type=float, default=2.0, help="s to wait for late alerts")
    bp.add_argument("--connect-concurrency", type=int, default=50,
                    help="connections opened at once per subscriber process")
    bp.add_argument("--connect-timeout", type=float, default=30.0)
    bp.add_argument("--templates", type=int, default=4, help="distinct bodies per loader")
    bp.add_argument("--line-bytes", type=int, default=300)
    bp.add_argument("--contest-share", type=float, default=0.10)
    bp.add_argument("--timeout", type=float, default=30.0, help="socket timeout, s")
    bp.add_argument("--seed", type=int, default=7)
    bp.set_defaults(func=cmd_bench)

    wp = sub.add_parser("wait", help="wait until a URL answers 200")
    wp.add_argument("url")
    wp.add_argument("--timeout", type=float, default=60.0)
    wp.add_argument("--pid", type=int)
    wp.set_defaults(func=ingest.cmd_wait)

    ap = sub.add_parser("annotate", help="add key=value pairs to a result file")
    ap.add_argument("file")
    ap.add_argument("pairs", nargs="*")
    ap.set_defaults(func=ingest.cmd_annotate)

    rp = sub.add_parser("report", help="table (or JSON) of result files")
    rp.add_argument("files", nargs="+")
    rp.add_argument("--format", choices=["table", "json"], default="table")
    rp.add_argument("--require-target", action="store_true", help="exit 3 if a target fails")
    rp.set_defaults(func=cmd_report)

    args = p.parse_args()
    for name in ("seconds", "rate", "loaders", "batch", "alerts_per_second", "alert_posters",
                 "subscribers", "procs"):
        if getattr(args, name, 1) <= 0:
            p.error("--%s must be positive" % name.replace("_", "-"))
    args.func(args)


if __name__ == "__main__":
    main()
