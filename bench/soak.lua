-- wrk script for bench/soak.sh. One traffic kind per wrk process, so that each process's
-- failures belong to one category: wrk's response() cannot tell which connection or request
-- a response belongs to.
--   wrk ... -s soak.lua <url> -- <get|post> <host,host,...> <delay ms>
-- done() prints one line "SOAKJSON {...}": totals, wrk's error categories, a count per
-- status and the Unix second of every non-2xx answer (the first 20000), for soak_tool.py.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "get"
  hosts = {}
  for h in string.gmatch(args[2] or "", "[^,]+") do
    table.insert(hosts, h)
  end
  pause = tonumber(args[3] or "0")
  statuses = {}
  failures = {}
  failed = 0
  payload = string.rep("p", 256)
  math.randomseed(os.time())
end

function request()
  local host = hosts[math.random(#hosts)]
  local path = "/item/" .. math.random(100000)
  if mode == "post" then
    return wrk.format("POST", path, { ["Host"] = host, ["Content-Type"] = "text/plain" }, payload)
  end
  return wrk.format("GET", path, { ["Host"] = host })
end

-- A pause per connection between requests keeps the load below saturation: a soak looks for
-- errors and growth over time, not for the maximum rate.
function delay()
  return pause
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    failed = failed + 1
    if failed <= 20000 then
      failures[failed] = os.time() .. ":" .. status
    end
  end
end

function done(summary, latency, requests)
  local counts, times = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      counts[k] = (counts[k] or 0) + v
    end
    for _, v in ipairs(t:get("failures")) do
      table.insert(times, '"' .. v .. '"')
    end
  end
  local parts = {}
  for k, v in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'SOAKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%d,"p50":%d,"p99":%d,"max":%d},"statuses":{%s},"failure_times":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(parts, ","), table.concat(times, ",")))
end
