-- scale-random.lua: a uniformly random Host per request among s<lo>..s<hi-1>.scale.local,
-- the names BenchTools load writes (ScaleHosts.Name). Usage: wrk ... -s scale-random.lua URL -- LO HI
-- The request is built per call (a 1M-entry pre-built table would cost wrk ~150 MB and seconds
-- of start-up); the few microseconds of Lua are on the client core, which has room to spare
-- at the router's rate.
local lo, hi = 0, 1000000

function init(args)
   lo = tonumber(args[1]) or lo
   hi = tonumber(args[2]) or hi
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
   return "GET / HTTP/1.1\r\nHost: " .. string.format("s%07d.scale.local", math.random(lo, hi - 1)) ..
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
