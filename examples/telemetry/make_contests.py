#!/usr/bin/env python3
"""Writes examples/telemetry/contests.ndjson: a small, deterministic contest log.

24 contests in three rooms of two hubs, in both event dialects: explicit durations, durations
left for PlayTrace to derive (createdAt/startedAt/resolvedAt only), one arming timeout, one
workflow failure, one contest that never resolves, sentiment samples, and one slow room
(room-pier) that breaks the budgets there while the overall p95 stays within them.

    python3 examples/telemetry/make_contests.py
"""
import datetime
import json
import os
import random

r = random.Random(7)
out = []
t0 = 1762300800000  # 2025-11-05T00:00:00Z


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (ms % 1000)


def line(ms, msg, level='info', **fields):
    d = {"level": level, "timestamp": iso(ms), "message": msg}
    d.update(fields)
    out.append((ms, json.dumps(d, separators=(',', ':'), ensure_ascii=False)))


def native(ms, name, **attrs):
    d = {"event": name, "ts": iso(ms), "game": "glass-frontier", "env": "staging", "attrs": attrs}
    out.append((ms, json.dumps(d, separators=(',', ':'))))


rooms = [("hub-market", "room-arena"), ("hub-market", "room-tavern"), ("hub-docks", "room-pier")]
t = t0
for i in range(24):
    hub, room = rooms[i % 3]
    key = f"verb.sparringMatch:actor-{i}::actor-{i + 100}"
    cid = f"contest-{i:03d}"
    cap = 4 if i % 7 == 0 else 2
    n = 3 if i % 7 == 0 else 2
    arm = 9400 if i == 5 else r.randint(400, 6000)
    res = r.randint(200, 650) if room != "room-pier" else r.randint(300, 700)
    if i == 8:
        res = 1300  # the one slow resolution, in room-pier
    created = t
    line(t, "telemetry.contest.armed", hubId=hub, roomId=room, contestKey=key, participantCount=1,
         participantCapacity=cap, windowMs=10000, label="Sparring Match", move="sparring-match",
         type="pvp", createdAt=created)
    t += r.randint(50, 400)
    if i == 11:  # times out while arming
        line(created + 10250, "telemetry.contest.expired", hubId=hub, roomId=room, contestKey=key,
             participantCount=1, participantCapacity=cap, label="Sparring Match", move="sparring-match",
             type="pvp", expiredAt=created + 10250, windowMs=10000, armingDurationMs=10250)
        continue
    started = created + arm
    derived = i % 5 == 3  # no duration fields: PlayTrace derives them
    common = dict(hubId=hub, roomId=room, contestId=cid, contestKey=key, participantCount=n,
                  participantCapacity=cap)
    if derived:
        line(started, "telemetry.contest.launched", **common, label="Sparring Match",
             move="sparring-match", type="pvp", startedAt=started)
    elif i % 6 == 1:  # a service sending native envelopes
        native(started, "telemetry.contest.launched", **common, armingDurationMs=arm,
               move="sparring-match", type="pvp")
    else:
        line(started, "telemetry.contest.launched", **common, armingDurationMs=arm,
             label="Sparring Match", move="sparring-match", type="pvp", startedAt=started)
    line(started + 5, "telemetry.contest.workflowStarted", hubId=hub, roomId=room, contestId=cid,
         contestKey=key, workflowId=f"wf-{i}", runId=f"run-{i}")
    if i == 17:
        line(started + 900, "telemetry.contest.workflowFailed", level="error", hubId=hub, roomId=room,
             contestId=cid, contestKey=key, error="resolver_timeout")
        continue
    if i == 22:  # launched, never resolved
        continue
    resolved = started + res
    tier = r.choice(["success", "mixed-success", "fail-forward"])
    if derived:
        line(resolved, "telemetry.contest.resolved", **common, outcomeTier=tier,
             sharedComplicationCount=1, resolvedAt=resolved)
    else:
        line(resolved, "telemetry.contest.resolved", **common, outcomeTier=tier,
             sharedComplicationCount=r.randint(0, 2), armingDurationMs=arm, resolutionDurationMs=res)
    if i % 4 == 0:
        s = r.choice(["positive", "neutral", "negative"])
        line(resolved + 2000, "telemetry.contest.sentiment", hubId=hub, roomId=room, contestKey=key,
             actorId=f"actor-{i}", sentiment=s, tone="frustrated" if s == "negative" else "banter",
             phase="cooldown", messageLength=r.randint(10, 80), remainingCooldownMs=r.randint(0, 30000),
             cooldownMs=30000, issuedAt=iso(resolved + 2000))
    t += r.randint(200, 900)

out.sort(key=lambda x: x[0])
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contests.ndjson")
with open(path, "w") as f:
    for _, text in out:
        f.write(text + "\n")
print(f"wrote {len(out)} lines to {path}")
