#!/usr/bin/env python3
"""Generates the qa benchmark's input (bench/qa/run drives it).

  gen.py --sessions N --out FILE --decisions FILE [--seed S]

N session-closure records (docs/qa.md) of 8-20 world deltas each over 3-10 entities, written as
one {"sessions": [...]} file; about a third of the sessions carry a flagged delta (a
critical capability, a conflict or a confidence under 0.6), and the decisions file approves
every flagged session, so the whole batch goes through publishing and search sync.
Deterministic for a given (--sessions, --seed). Python 3 standard library only.
"""

import argparse
import json
import random

NAMES = ["Echo Ledger Conclave", "Glass Frontier Watch", "Tempered Accord", "Salt Road Guild",
         "Ninefold Archive", "Ashen Pier", "Lantern Market", "Verdant Choir", "Iron Tithe"]
TYPES = ["faction", "location", "npc", "artifact"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--out", required=True)
    ap.add_argument("--decisions", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sessions, decisions = [], []
    deltas_total = 0
    for i in range(a.sessions):
        sid = f"bench-{i:05d}"
        n = rng.randint(8, 20)
        entities = rng.randint(3, min(10, n))
        flagged = rng.random() < 0.33
        deltas = []
        for k in range(n):
            e = k % entities
            kind = TYPES[e % len(TYPES)]
            name = f"{NAMES[(i + e) % len(NAMES)]} {e}"
            cap = flagged and k == 0
            deltas.append({
                "deltaId": f"{sid}-d{k}",
                "entityId": f"{kind}.{sid}-{e}",
                "entityType": kind,
                "canonicalName": name,
                "confidence": 0.45 if (flagged and k == 1) else round(rng.uniform(0.6, 0.99), 2),
                "capabilityRefs": ([{"capabilityId": "capability.temporal-retcon", "severity": "critical"}]
                                   if cap else [{"capabilityId": "capability.trade", "severity": "low"}]),
                "conflicts": [{"field": "ruler", "reason": "two rulers"}] if (flagged and k == 2) else [],
                "before": {"status": "unknown"},
                "after": {"status": rng.choice(["allied", "hostile", "ruined", "thriving"]),
                          "note": f"changed in scene {k} of {sid}"},
                "mentions": rng.randint(1, 4),
            })
        deltas_total += n
        sessions.append({"sessionId": sid, "sessionClosedAt": "2025-11-05T06:15:00Z", "deltas": deltas})
        if flagged:
            decisions.append({"sessionId": sid, "decision": "approve"})
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"sessions": sessions}, f)
    with open(a.decisions, "w", encoding="utf-8") as f:
        json.dump({"decisionId": "bench-moderation", "decisions": decisions}, f)
    print(json.dumps({"sessions": a.sessions, "deltas": deltas_total, "flagged": len(decisions)}))


if __name__ == "__main__":
    main()
