-- scale-cold.lua: hosts in order s<lo>, s<lo+1>, ... (never the same twice while fewer than
-- HI-LO requests are sent), so each request is the first one the router sees for its host.
-- Usage: wrk -t1 -c1 ... -s scale-cold.lua URL -- LO HI. One thread: the counter is per thread.
-- The shared request line and BENCH line, from this script's folder.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "scale-common.lua")
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
   return common.request(i)
end
