-- junk-flood.lua: a flood of Host headers never seen before (junk<thread>-<n>.flood.local, each
-- unique) mixed with real hosts (r<n>.flood.local, n < REAL): args REAL JUNK_PERCENT.
local real, junk_percent, counter = 1000, 90, 0
local thread_id = 0
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   real = tonumber(args[1] or real)
   junk_percent = tonumber(args[2] or junk_percent)
   thread_id = id or 0
   math.randomseed(os.time() + thread_id)
end

function request()
   counter = counter + 1
   local host
   if math.random(100) <= junk_percent then
      host = string.format("junk%d-%d.flood.local", thread_id, counter)
   else
      host = string.format("r%04d.flood.local", math.random(real) - 1)
   end
   return "GET / HTTP/1.1\r\nHost: " .. host .. "\r\nConnection: keep-alive\r\n\r\n"
end
