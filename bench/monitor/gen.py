#!/usr/bin/env python3
"""Deterministic synthetic telemetry generator for the `playtrace monitor` benchmark.

Writes NDJSON in the "structured log" dialect:

    {"level":"info","timestamp":"2025-03-01T00:00:00.123Z","message":"telemetry.contest.armed",...}

Contest lifecycle (each contest is one entry in a pool of at most 10,000 open
contests; every step either arms a new contest or advances a random open one):

    armed -> expired                                     (~3 %)
    armed -> launched [-> workflowStarted] -> resolved   (~96 %)
    armed -> launched [-> workflowStarted] -> workflowFailed  (~1 % of launched)

plus optional `telemetry.contest.sentiment` lines anywhere after `armed`.
About 3 % of contests carry no armingDurationMs / resolutionDurationMs at all;
their durations are derivable from createdAt / startedAt / resolvedAt (which
every contest carries and which always agree with the explicit durations).
About 1 % of all lines are malformed (truncated JSON, plain text, unterminated
string). Contests still open when the size target is reached are left
unfinished (as in a real log cut).

Shapes (--shape):

    long   ~380 B lines, UUID contest ids, JSON escapes in labels and tones (the default;
           byte-for-byte what this generator always wrote)
    short  ~300 B lines, short contest ids, no escapes anywhere
    mixed  the long shape's contest lines plus 30 % non-contest lines (chat messages,
           session starts and ends, heartbeats with a nested object) that a monitor must
           read past: what a real game server's log looks like

Only the Python standard library is used. Output is byte-for-byte
deterministic for a given (--shape, --size-mb, --seed).

Usage: python3 gen.py [--shape long] [--size-mb 1024] [--seed 42] --out FILE [--stats FILE.json]
"""

import argparse
import json
import math
import os
import random
import sys
import time

MAX_OPEN = 10_000
P_ARM = 0.35                # chance a step arms a new contest (when the pool has room)
P_EXPIRE = 0.03             # armed contest expires instead of launching
P_NO_DURATIONS = 0.03       # contest carries no *DurationMs fields at all
P_WORKFLOW_STARTED = 0.40
P_WORKFLOW_FAILED = 0.01
P_SENTIMENT = 0.15          # contest gets 1..2 sentiment lines
P_MALFORMED = 0.01 / 0.99   # per valid line -> malformed lines are 1 % of all lines

START_MS = 1_740_787_200_000  # 2025-03-01T00:00:00Z

N_HUBS = 36
N_ROOMS = 320

# (move, type, label-as-JSON-escaped-text). Labels exercise JSON escapes.
MOVES = [
    ("verb.sparringMatch", "duel", r"Sparring \"Match\""),
    ("verb.armWrestle", "duel", "Arm Wrestle"),
    ("verb.staringContest", "duel", "Staring Contest"),
    ("verb.riddleDuel", "duel", r"Riddle Duel \u2013 Finals"),
    ("verb.danceOff", "showdown", "Dance-Off"),
    ("verb.brawl", "melee", r"Tavern Brawl\t(open)"),
    ("verb.footRace", "race", "Foot Race"),
]
# Tones (already JSON-escaped text): escapes, a raw UTF-8 string, a surrogate pair.
TONES = [
    "playful", "sarcastic", "earnest", "playful", "sarcastic", "earnest",
    r"gg \"wp\"", r"line one\nline two", r"caf\u00e9 banter", r"tab\tseparated",
    r"na\u00efve \u2014 sincere", r"trash-talk \\o/", "déjà vu", r"smug \ud83d\ude0f",
    r"slash\/path",
]
SENTIMENTS = ["positive", "neutral", "negative"]
OUTCOMES = ["decisive", "narrow", "draw", "upset", "rout"]
WF_ERRORS = [
    r"activity \"ResolveContest\" timed out after 30s",
    "workflow task failed: nondeterministic history",
    r"upstream unavailable:\n\tconnection reset by peer",
    "participant left before resolution",
]
# The short shape's plain-text variants (no escapes).
PLAIN_LABELS = {
    "verb.sparringMatch": "Sparring Match", "verb.riddleDuel": "Riddle Duel",
    "verb.brawl": "Tavern Brawl",
}
PLAIN_TONES = ["playful", "sarcastic", "earnest", "deadpan", "smug", "sincere"]
PLAIN_WF_ERRORS = ["activity timed out after 30s", "nondeterministic history",
                   "connection reset by peer", "participant left before resolution"]
SHORT_MOVES = [(m.split(".")[1], t, PLAIN_LABELS.get(m, lab)) for m, t, lab in MOVES]

SHAPES = ("long", "short", "mixed")
P_NOISE = 0.30              # mixed: share of all lines that are not contest events
CHAT_TEXTS = [
    "gg", "anyone up for a rematch?", r"that was \"close\"", "lag again...",
    r"brb\ncoffee", "nice one!", r"caf\u00e9 after?", "déjà vu", "ok", r"lol \ud83d\ude02",
]
PLATFORMS = ["pc", "ps5", "xbox", "switch", "ios", "android"]
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "sa-east"]

TEXT_LINES = [
    "    at com.playtrace.hub.contest.ContestWorkflow.resolve(ContestWorkflow.kt:{n})",
    "    at com.playtrace.hub.room.RoomActor.onMessage(RoomActor.kt:{n})",
    "java.lang.IllegalStateException: contest state machine in unexpected state {n}",
    "Caused by: io.grpc.StatusRuntimeException: UNAVAILABLE: upstream connect error {n}",
    "\t... {n} more",
    "panic: runtime error: index out of range [{n}] with length {n}",
    "Exception in thread \"contest-worker-{n}\" java.lang.OutOfMemoryError: Java heap space",
    "WARN  [main] c.p.h.Bootstrap - config reload took {n} ms",
]


def uuid_from(bits):
    h = "%032x" % bits
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def nearest_rank(sorted_vals, p):
    n = len(sorted_vals)
    if n == 0:
        return None
    idx = math.ceil(p / 100 * n) - 1
    return sorted_vals[max(0, min(n - 1, idx))]


def summarize(vals):
    vals.sort()
    return {
        "samples": len(vals),
        "p50": nearest_rank(vals, 50),
        "p95": nearest_rank(vals, 95),
        "p99": nearest_rank(vals, 99),
        "max": vals[-1] if vals else None,
    }


def noise_line(ts, rng, room_hub, rooms):
    """One non-contest line of the mixed shape: chat, session start/end or a heartbeat."""
    rnd, randrange = rng.random, rng.randrange
    kind = rnd()
    if kind < 0.5:
        r = randrange(N_ROOMS)
        text = CHAT_TEXTS[randrange(len(CHAT_TEXTS))]
        return (f'{{"level":"info","timestamp":"{ts}","message":"game.chat.message",'
                f'"hubId":"{room_hub[r]}","roomId":"{rooms[r]}","actorId":"actor-{randrange(1, 100_000)}",'
                f'"channel":"room","text":"{text}","messageLength":{len(text)}}}\n')
    session = uuid_from(rng.getrandbits(128))
    if kind < 0.8:
        ended = kind >= 0.65
        tail = f',"durationMs":{randrange(1000, 3_600_000)},"reason":"quit"' if ended else ""
        return (f'{{"level":"info","timestamp":"{ts}","message":"session.{"ended" if ended else "started"}",'
                f'"sessionId":"{session}","playerId":"player-{randrange(1, 1_000_000)}",'
                f'"platform":"{PLATFORMS[randrange(len(PLATFORMS))]}",'
                f'"region":"{REGIONS[randrange(len(REGIONS))]}","clientVersion":"1.4.{randrange(3)}"{tail}}}\n')
    return (f'{{"level":"debug","timestamp":"{ts}","message":"net.heartbeat","sessionId":"{session}",'
            f'"rttMs":{randrange(8, 250)},"loss":0.0{randrange(10)},'
            f'"position":{{"x":{randrange(-5000, 5000) / 4},"y":{randrange(-5000, 5000) / 4},'
            f'"zone":"zone-{randrange(12)}"}},"flags":["ok","v2"]}}\n')


def generate(size_mb, seed, out_path, shape="long"):
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; use one of {', '.join(SHAPES)}")
    short = shape == "short"
    moves = SHORT_MOVES if short else MOVES
    tones = PLAIN_TONES if short else TONES
    wf_errors = PLAIN_WF_ERRORS if short else WF_ERRORS
    target = int(size_mb * 1024 * 1024)
    rng = random.Random(seed)
    rnd = rng.random
    randrange = rng.randrange
    getrandbits = rng.getrandbits
    lognorm = rng.lognormvariate

    if short:
        room_hub = [f"h{(r * 7) % N_HUBS}" for r in range(N_ROOMS)]
        rooms = [f"r{r}" for r in range(N_ROOMS)]
    else:
        room_hub = [f"hub-{(r * 7) % N_HUBS:02d}" for r in range(N_ROOMS)]
        rooms = [f"room-{r:03d}" for r in range(N_ROOMS)]

    # Expected values (ground truth), computed from what is actually written.
    exp_arming, exp_resolution, exp_expired = [], [], []
    n_noise = 0

    pool = []
    buf = []
    buf_chars = 0
    written = 0
    n_lines = n_bad = n_contests = n_launched = 0
    clock = START_MS
    last_sec = -1
    sec_prefix = ""

    f = open(out_path, "wb")

    def flush():
        nonlocal buf, buf_chars, written
        if buf:
            data = "".join(buf).encode("utf-8")
            f.write(data)
            written += len(data)
            buf = []
            buf_chars = 0

    def iso(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)

    while written + buf_chars < target:
        # --- clock / timestamp -------------------------------------------------
        clock += randrange(0, 4)
        sec = clock // 1000
        if sec != last_sec:
            last_sec = sec
            sec_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        ts = "%s.%03dZ" % (sec_prefix, clock % 1000)

        if shape == "mixed" and rnd() < P_NOISE:
            line = noise_line(ts, rng, room_hub, rooms)
            n_noise += 1
        elif len(pool) < MAX_OPEN and (not pool or rnd() < P_ARM):
            # --- arm a new contest ---------------------------------------------
            idx = n_contests
            n_contests += 1
            r = randrange(N_ROOMS)
            hub = room_hub[r]
            room = rooms[r]
            move, ctype, label = moves[randrange(len(moves))]
            cap = (2, 2, 2, 4, 4, 6)[randrange(6)]
            cnt = 2 if cap == 2 else randrange(2, cap + 1)
            a1 = randrange(1, 100_000)
            a2 = randrange(1, 100_000)
            key = f"{a1}:{a2}#{idx}" if short else f"{move}:actor-{a1}::actor-{a2}#{idx}"
            window = (5000, 10000, 15000, 30000)[randrange(4)]
            explicit = rnd() >= P_NO_DURATIONS
            created = clock
            if explicit and rnd() < P_EXPIRE:
                plan = ["E"]
                if rnd() < P_SENTIMENT:
                    plan.append("S")
                arm = window + randrange(0, 250)
                res = 0
            else:
                plan = ["L"]
                if rnd() < P_WORKFLOW_STARTED:
                    plan.append("W")
                plan.append("F" if rnd() < P_WORKFLOW_FAILED else "R")
                if rnd() < P_SENTIMENT:
                    for _ in range(1 + (rnd() < 0.3)):
                        plan.insert(randrange(len(plan) + 1), "S")
                arm = int(lognorm(7.3, 0.9))          # median ~1500 ms
                arm = 100 if arm < 100 else 12000 if arm > 12000 else arm
                res = int(lognorm(5.99, 0.5))         # median ~400 ms
                res = 100 if res < 100 else 1500 if res > 1500 else res
            cid = f"c{idx:x}" if short else uuid_from(getrandbits(128))
            # state: [plan, step, hub, room, key, cid, move, ctype, label, cnt, cap,
            #         window, explicit, created, arm, res, a1, a2]
            pool.append([plan, 0, hub, room, key, cid, move, ctype, label, cnt, cap,
                         window, explicit, created, arm, res, a1, a2])
            line = (f'{{"level":"info","timestamp":"{ts}","message":"telemetry.contest.armed",'
                    f'"hubId":"{hub}","roomId":"{room}","contestKey":"{key}",'
                    f'"participantCount":{cnt},"participantCapacity":{cap},"windowMs":{window},'
                    f'"label":"{label}","move":"{move}","type":"{ctype}","createdAt":{created}}}\n')
        else:
            # --- advance a random open contest ---------------------------------
            i = int(rnd() * len(pool))
            c = pool[i]
            plan, step, hub, room, key, cid, move, ctype, label, cnt, cap, window, explicit, \
                created, arm, res, a1, a2 = c
            ev = plan[step]
            step += 1
            if step == len(plan):
                last = pool.pop()
                if i < len(pool):
                    pool[i] = last
            else:
                c[1] = step
            started = created + arm
            if ev == "L":
                n_launched += 1
                exp_arming.append(arm)
                ad = f'"armingDurationMs":{arm},' if explicit else ""
                line = (f'{{"level":"info","timestamp":"{ts}","message":"telemetry.contest.launched",'
                        f'"hubId":"{hub}","roomId":"{room}","contestId":"{cid}",'
                        f'"contestKey":"{key}","participantCount":{cnt},"participantCapacity":{cap},'
                        f'{ad}"label":"{label}","move":"{move}","type":"{ctype}","startedAt":{started}}}\n')
            elif ev == "R":
                exp_resolution.append(res)
                if explicit:
                    dd = f'"armingDurationMs":{arm},"resolutionDurationMs":{res},'
                else:
                    dd = ""
                line = (f'{{"level":"info","timestamp":"{ts}","message":"telemetry.contest.resolved",'
                        f'"hubId":"{hub}","roomId":"{room}","contestId":"{cid}",'
                        f'"contestKey":"{key}","participantCount":{cnt},"participantCapacity":{cap},'
                        f'"outcomeTier":"{OUTCOMES[randrange(len(OUTCOMES))]}",'
                        f'"sharedComplicationCount":{randrange(4)},{dd}"resolvedAt":{started + res}}}\n')
            elif ev == "W":
                line = (f'{{"level":"info","timestamp":"{ts}","message":"telemetry.contest.workflowStarted",'
                        f'"hubId":"{hub}","roomId":"{room}","contestId":"{cid}",'
                        f'"contestKey":"{key}","workflowId":"contest-{cid}",'
                        f'"runId":"{("r%x" % getrandbits(32)) if short else uuid_from(getrandbits(128))}"}}\n')
            elif ev == "F":
                line = (f'{{"level":"error","timestamp":"{ts}","message":"telemetry.contest.workflowFailed",'
                        f'"hubId":"{hub}","roomId":"{room}","contestId":"{cid}",'
                        f'"contestKey":"{key}","workflowId":"contest-{cid}",'
                        f'"error":"{wf_errors[randrange(len(wf_errors))]}"}}\n')
            elif ev == "E":
                exp_expired.append(arm)
                line = (f'{{"level":"warn","timestamp":"{ts}","message":"telemetry.contest.expired",'
                        f'"hubId":"{hub}","roomId":"{room}","contestKey":"{key}",'
                        f'"participantCount":{cnt},"participantCapacity":{cap},"label":"{label}",'
                        f'"move":"{move}","type":"{ctype}","expiredAt":{created + arm},'
                        f'"windowMs":{window},"armingDurationMs":{arm}}}\n')
            else:  # "S"
                phase = "post-expiration" if "E" in plan else ("cooldown", "post-cooldown")[randrange(2)]
                cooldown = (3000, 5000, 8000)[randrange(3)]
                remaining = randrange(cooldown) if phase == "cooldown" else 0
                line = (f'{{"level":"info","timestamp":"{ts}","message":"telemetry.contest.sentiment",'
                        f'"hubId":"{hub}","roomId":"{room}","contestKey":"{key}",'
                        f'"actorId":"actor-{a1 if rnd() < 0.5 else a2}",'
                        f'"sentiment":"{SENTIMENTS[randrange(3)]}","tone":"{tones[randrange(len(tones))]}",'
                        f'"phase":"{phase}","messageLength":{randrange(1, 280)},'
                        f'"remainingCooldownMs":{remaining},"cooldownMs":{cooldown},'
                        f'"issuedAt":"{ts}"}}\n')

        buf.append(line)
        buf_chars += len(line)
        n_lines += 1

        # --- malformed lines (1 % of all lines) --------------------------------
        if rnd() < P_MALFORMED:
            kind = rnd()
            if kind < 0.5:
                # Valid line cut at a random character strictly before its end
                # (its closing brace): a proper prefix of a JSON object is never
                # valid JSON. Cut on characters, not bytes -> stays valid UTF-8.
                body = line[:-1]
                bad = body[:randrange(1, len(body))] + "\n"
            elif kind < 0.8:
                bad = TEXT_LINES[randrange(len(TEXT_LINES))].format(n=randrange(2, 500)) + "\n"
            else:
                # string value that is never closed before the end of the line
                part = f"partial {randrange(1000)}" if short else f'{{\\"partial\\": {randrange(1000)}}}'
                bad = (f'{{"level":"error","timestamp":"{ts}","message":"telemetry.contest.resolved",'
                       f'"hubId":"{room_hub[0]}","error":"log record cut by rotation, {part}\n')
            buf.append(bad)
            buf_chars += len(bad)
            n_lines += 1
            n_bad += 1

        if len(buf) >= 16384:
            flush()

    flush()
    f.close()

    return {
        "file": os.path.abspath(out_path),
        "shape": shape,
        "sizeMb": size_mb,
        "seed": seed,
        "bytes": written,
        "lines": n_lines,
        "malformed": n_bad,
        "nonContest": n_noise,
        "contestsArmed": n_contests,
        "contestsObserved": n_launched,
        "contestsStillOpen": len(pool),
        "expected": {
            "malformed": n_bad,
            "contestsObserved": n_launched,
            "arming": summarize(exp_arming),
            "resolution": summarize(exp_resolution),
            "expiredArming": summarize(exp_expired),
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=1024, help="target size in MiB (default 1024)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--shape", choices=SHAPES, default="long",
                    help="long (default): ~380 B lines, UUIDs, escapes; short: ~300 B lines, short ids, "
                         "no escapes; mixed: long plus 30%% non-contest lines")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", help="also write generation stats + expected results as JSON here")
    args = ap.parse_args()

    t0 = time.perf_counter()
    st = generate(args.size_mb, args.seed, args.out, args.shape)
    st["seconds"] = round(time.perf_counter() - t0, 2)
    if args.stats:
        with open(args.stats, "w") as fh:
            json.dump(st, fh, indent=2)
            fh.write("\n")
    print(
        f"gen.py: {args.shape} shape, wrote {st['bytes']} bytes, {st['lines']} lines "
        f"({st['malformed']} malformed, {st['nonContest']} non-contest), {st['contestsArmed']} contests armed, "
        f"{st['contestsObserved']} launched, {st['contestsStillOpen']} still open, "
        f"avg {st['bytes'] / max(1, st['lines']):.0f} B/line, in {st['seconds']} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
