-- report.lua - the done() every bench/wrk script shares: after wrk's own
-- summary it prints one line "WRK_JSON {...}" that bench/http_bench.py
-- parses: requests, seconds, requests/s, latency percentiles in
-- microseconds, and wrk's error counts ("status" counts replies that were
-- not 2xx/3xx, so a server answering 415 to every request shows up there
-- rather than as a fast run).
--
-- It also holds the helpers the request scripts use; they load it with
-- dofile() from their own directory, so each script runs alone:
--   wrk -t2 -c32 -d10s -s bench/wrk/forward_json.lua URL

local M = {}

function M.slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.6f,"rps":%.2f,"bytes":%d,' ..
    '"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return M
