-- scale-common.lua: what scale-cold.lua and scale-random.lua share, loaded by both with
-- dofile from their own folder: the host names BenchTools load writes (ScaleHosts.Name), the
-- request line, and the BENCH summary line scale.sh parses.
local common = {}

function common.request(i)
   return "GET / HTTP/1.1\r\nHost: " .. string.format("s%07d.scale.local", i) ..
      "\r\nConnection: keep-alive\r\n\r\n"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency:percentile(99.9), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end

return common
