# jq reference implementation of `playtrace monitor` (the subset the benchmark validates).
# Run as:  jq -n -R -c -f monitor.jq FILE
#
# Raw lines are parsed with fromjson and turned into small event tuples by the generator of
# a single streaming `reduce`; the reduce body then does exactly ONE update of one top-level
# key of a flat state object. That shape matters with jq 1.6: updating a nested path
# (.c[$id] = ...), two updates in a row, `.bad += 1` (use .bad = (.bad + 1)) or a `//` inside
# the update (.[$k] = ((.[$k] // 0) + 1)) each make jq copy the whole state object on the
# lines that take that branch, i.e. quadratic time (191 s for 50 MB instead of ~5 s).
#
# State keys (all top level):
#   "bad"              number of lines that are not valid JSON (blank/whitespace-only lines skipped)
#   "a:<hub>\u0001<room>\u0001<contestKey>"   max(createdAt) of telemetry.contest.armed lines
#   "c:<contestId>"    [max armingDurationMs, max startedAt (launched), triple key (launched),
#                       has resolved line, max resolutionDurationMs (resolved), max resolvedAt (resolved)]
#   "e:<n>"            histogram of armingDurationMs of telemetry.contest.expired lines (value -> count)

def tkey: "\(.hubId)\u0001\(.roomId)\u0001\(.contestKey)";

# nearest rank: index = ceil(p * n) - 1 on the sorted samples
def summary:
  sort as $s | ($s | length) as $n
  | if $n == 0 then {samples: 0, p50: null, p95: null, p99: null, max: null}
    else {samples: $n,
          p50: $s[((0.50 * $n) | ceil) - 1],
          p95: $s[((0.95 * $n) | ceil) - 1],
          p99: $s[((0.99 * $n) | ceil) - 1],
          max: $s[$n - 1]}
    end;

def clamp0: if . == null then null elif . < 0 then 0 else . end;

# line -> event tuple (runs in the reduce generator, never touches the state)
def event:
  . as $line
  | [fromjson?] as $p
  | if ($p | length) == 0 then
      (if test("^\\s*$") then ["skip"] else ["bad"] end)
    else $p[0] as $o
    | if ($o | type) != "object" then ["skip"]
      else ($o.message // "") as $m
      | if $m == "telemetry.contest.armed" then ["armed", "a:" + ($o | tkey), $o.createdAt]
        elif $m == "telemetry.contest.expired" then
          (if $o.armingDurationMs != null then ["expired", "e:" + ($o.armingDurationMs | tostring)]
           else ["skip"] end)
        elif ($o.contestId != null and ($m | type) == "string"
              and ($m | startswith("telemetry.contest."))
              and $m != "telemetry.contest.workflowFailed"
              and $m != "telemetry.contest.sentiment") then
          ($m == "telemetry.contest.launched") as $l
          | ($m == "telemetry.contest.resolved") as $r
          | ["contest", "c:" + ($o.contestId | tostring), $o.armingDurationMs,
             (if $l then $o.startedAt else null end),
             (if $l then ($o | tkey) else null end),
             $r,
             (if $r then $o.resolutionDurationMs else null end),
             (if $r then $o.resolvedAt else null end)]
        else ["skip"] end
      end
    end;

reduce (inputs | event) as $e ({bad: 0};
  if $e[0] == "contest" then
    .[$e[1]] = (.[$e[1]] as $s
                | if $s == null then [$e[2], $e[3], $e[4], $e[5], $e[6], $e[7]]
                  else [([$s[0], $e[2]] | max),
                        ([$s[1], $e[3]] | max),
                        (if $s[2] == null then $e[4] else $s[2] end),
                        ($s[3] or $e[5]),
                        ([$s[4], $e[6]] | max),
                        ([$s[5], $e[7]] | max)]
                  end)
  elif $e[0] == "armed" then .[$e[1]] = ([.[$e[1]], $e[2]] | max)
  elif $e[0] == "expired" then .[$e[1]] = (.[$e[1]] as $n | if $n == null then 1 else $n + 1 end)
  elif $e[0] == "bad" then .bad = (.bad + 1)
  else . end
)
| . as $st
| [to_entries[] | select(.key | startswith("c:")) | .value] as $cs
| {
    malformed: $st.bad,
    contestsObserved: ($cs | length),
    arming: ([$cs[]
              | if .[0] != null then .[0]
                elif .[1] != null and .[2] != null and $st["a:" + .[2]] != null
                  then (.[1] - $st["a:" + .[2]]) | clamp0
                else empty end] | summary),
    resolution: ([$cs[] | select(.[3])
                  | if .[4] != null then .[4]
                    elif .[5] != null and .[1] != null then (.[5] - .[1]) | clamp0
                    else empty end] | summary),
    expiredArming: ([$st | to_entries[] | select(.key | startswith("e:"))
                     | (.key[2:] | tonumber) as $v | range(.value) | $v] | summary)
  }
