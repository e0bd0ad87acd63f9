-- scale-cold.lua: hosts in order s<lo>, s<lo+1>, ... (never the same twice while fewer than
-- HI-LO requests are sent), so each request is the first one the router sees for its host.
-- Usage: wrk -t1 -c1 ... -s scale-cold.lua URL -- LO HI. One thread: the counter is per thread.
local lo, hi, next = 0, 1000000, 0

function init(args)
   lo = tonumber(args[1]) or lo
   hi = tonumber(args[2]) or hi
   next = lo
end

function request()
   local i = next
   next = next + 1
   if next >= hi then next = lo end   -- wrapped: scale.sh refuses the run (requests > HI-LO)
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
