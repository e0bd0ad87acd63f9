-- scale-random.lua: a uniformly random Host per request among s<lo>..s<hi-1>.scale.local,
-- the names BenchTools load writes (ScaleHosts.Name). Usage: wrk ... -s scale-random.lua URL -- LO HI
-- The request is built per call (a 1M-entry pre-built table would cost wrk ~150 MB and seconds
-- of start-up); the few microseconds of Lua are on the client core, which has room to spare
-- at the router's rate.
-- The shared request line and BENCH line, from this script's folder.
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "scale-common.lua")
local lo, hi = 0, 1000000

function init(args)
   lo = tonumber(args[1]) or lo
   hi = tonumber(args[2]) or hi
   math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
   return common.request(math.random(lo, hi - 1))
end
