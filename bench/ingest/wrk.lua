-- wrk script of the ingest benchmark (bench/ingest/load.py's `wrk` subcommand drives it).
--
-- Every request posts the NDJSON body of load.py's generator (BODY_FILE: the template, split
-- around the batch-number placeholder by "\0" separators), with the placeholder replaced by a
-- number unique over the whole run: thread index + threads x request count. So, as with the
-- Python client, every event id is unique and a duplicate in the answers is a real finding.
--
-- At the end it prints one line `WRK_RESULT {json}` with the counts the report needs
-- (requests, non-200 answers, accepted, duplicates, latency percentiles in microseconds).

local body_file = os.getenv("BODY_FILE")
local threads = {}
local counter = 0

local function read_parts(path)
    local f = assert(io.open(path, "rb"))
    local text = f:read("*a")
    f:close()
    local parts = {}
    for part in string.gmatch(text .. "\0", "([^%z]*)%z") do
        parts[#parts + 1] = part
    end
    return parts
end

function setup(thread)
    thread:set("index", #threads)
    thread:set("nthreads", tonumber(os.getenv("WRK_THREADS") or "1"))
    table.insert(threads, thread)
end

function init(args)
    parts = read_parts(body_file)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/x-ndjson"
    accepted, duplicates, non200, answers = 0, 0, 0, 0
    counter = index + (tonumber(os.getenv("BATCH_OFFSET") or "0"))
end

function request()
    local number = string.format("%08d", counter)
    counter = counter + nthreads
    return wrk.format(nil, nil, nil, table.concat(parts, number))
end

function response(status, headers, body)
    answers = answers + 1
    if status ~= 200 then
        non200 = non200 + 1
        return
    end
    local a = string.match(body, '"accepted":(%d+)')
    local d = string.match(body, '"duplicates":(%d+)')
    accepted = accepted + (tonumber(a) or 0)
    duplicates = duplicates + (tonumber(d) or 0)
end

function done(summary, latency, requests)
    local acc, dup, bad, ans = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        acc = acc + (t:get("accepted") or 0)
        dup = dup + (t:get("duplicates") or 0)
        bad = bad + (t:get("non200") or 0)
        ans = ans + (t:get("answers") or 0)
    end
    local e = summary.errors
    io.write(string.format(
        'WRK_RESULT {"duration_us":%d,"requests":%d,"answers":%d,"bytes":%d,"accepted":%d,' ..
        '"duplicates":%d,"non200":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,' ..
        '"timeout":%d},"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
        summary.duration, summary.requests, ans, summary.bytes, acc, dup, bad, e.connect, e.read,
        e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99),
        latency.max))
end
