-- DuckDB reference implementation of `playtrace monitor` (the subset the benchmark validates).
-- bench.py substitutes __FILE__ with the log path as a SQL string literal and runs this
-- with `SET threads=2` in a fresh python3 process.
--
-- With ignore_errors=true DuckDB yields one all-NULL row per malformed line and skips
-- blank lines, so malformed lines = rows whose message IS NULL (every valid line has one).
-- Clamping uses CASE rather than greatest(0, x): DuckDB's greatest() ignores NULLs, so
-- greatest(0, NULL) would be 0 instead of "no sample".
WITH raw AS MATERIALIZED (
    SELECT message, contestId, hubId, roomId, contestKey,
           armingDurationMs, resolutionDurationMs, createdAt, startedAt, resolvedAt
    FROM read_ndjson(__FILE__, ignore_errors = true, columns = {
        message: 'VARCHAR', contestId: 'VARCHAR', hubId: 'VARCHAR', roomId: 'VARCHAR',
        contestKey: 'VARCHAR', armingDurationMs: 'BIGINT', resolutionDurationMs: 'BIGINT',
        createdAt: 'BIGINT', startedAt: 'BIGINT', resolvedAt: 'BIGINT'})
),
-- lines that define contests: telemetry.contest.* except workflowFailed / expired / sentiment
contest_lines AS (
    SELECT * FROM raw
    WHERE contestId IS NOT NULL
      AND starts_with(message, 'telemetry.contest.')
      AND message NOT IN ('telemetry.contest.workflowFailed',
                          'telemetry.contest.expired',
                          'telemetry.contest.sentiment')
),
contests AS (
    SELECT contestId,
           max(armingDurationMs)                                                   AS arming_explicit,
           max(startedAt)            FILTER (WHERE message = 'telemetry.contest.launched') AS started_at,
           any_value(hubId)          FILTER (WHERE message = 'telemetry.contest.launched') AS hub_id,
           any_value(roomId)         FILTER (WHERE message = 'telemetry.contest.launched') AS room_id,
           any_value(contestKey)     FILTER (WHERE message = 'telemetry.contest.launched') AS contest_key,
           bool_or(message = 'telemetry.contest.resolved')                         AS has_resolved,
           max(resolutionDurationMs) FILTER (WHERE message = 'telemetry.contest.resolved') AS resolution_explicit,
           max(resolvedAt)           FILTER (WHERE message = 'telemetry.contest.resolved') AS resolved_at
    FROM contest_lines
    GROUP BY contestId
),
armed AS (
    SELECT hubId, roomId, contestKey, max(createdAt) AS created_at
    FROM raw
    WHERE message = 'telemetry.contest.armed'
    GROUP BY hubId, roomId, contestKey
),
per_contest AS (
    SELECT c.contestId,
           coalesce(c.arming_explicit, CASE WHEN c.started_at - a.created_at < 0 THEN 0
                                             ELSE c.started_at - a.created_at END) AS arming,
           CASE WHEN c.has_resolved
                THEN coalesce(c.resolution_explicit, CASE WHEN c.resolved_at - c.started_at < 0 THEN 0
                                                     ELSE c.resolved_at - c.started_at END)
           END AS resolution
    FROM contests c
    LEFT JOIN armed a
           ON a.hubId = c.hub_id AND a.roomId = c.room_id AND a.contestKey = c.contest_key
),
expired AS (
    SELECT armingDurationMs AS arming
    FROM raw
    WHERE message = 'telemetry.contest.expired' AND armingDurationMs IS NOT NULL
)
SELECT
    (SELECT count(*) FILTER (WHERE message IS NULL) FROM raw)  AS malformed,
    (SELECT count(*) FROM contests)                           AS contestsObserved,
    (SELECT {samples: count(arming),
             p50: quantile_disc(arming, 0.50), p95: quantile_disc(arming, 0.95),
             p99: quantile_disc(arming, 0.99), max: max(arming)}
       FROM per_contest WHERE arming IS NOT NULL)             AS arming,
    (SELECT {samples: count(resolution),
             p50: quantile_disc(resolution, 0.50), p95: quantile_disc(resolution, 0.95),
             p99: quantile_disc(resolution, 0.99), max: max(resolution)}
       FROM per_contest WHERE resolution IS NOT NULL)         AS resolution,
    (SELECT {samples: count(arming),
             p50: quantile_disc(arming, 0.50), p95: quantile_disc(arming, 0.95),
             p99: quantile_disc(arming, 0.99), max: max(arming)}
       FROM expired)                                          AS expiredArming;
