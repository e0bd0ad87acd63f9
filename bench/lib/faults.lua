-- wrk script for bench/faults.sh: answers per second and answers by status class, so that a
-- stall (every connection stuck on a paused backend) shows even though wrk's own timeout count
-- only covers requests that end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  per_second = {}
  by_class = {}
end

function response(status, headers, body)
  local s = os.time()
  per_second[s] = (per_second[s] or 0) + 1
  local class = math.floor(status / 100) .. "xx"
  by_class[class] = (by_class[class] or 0) + 1
end

function done(summary, latency, requests)
  local seconds, classes = {}, {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("per_second")) do seconds[s] = (seconds[s] or 0) + n end
    for c, n in pairs(t:get("by_class")) do classes[c] = (classes[c] or 0) + n end
  end
  local first, last = nil, nil
  for s, _ in pairs(seconds) do
    if not first or s < first then first = s end
    if not last or s > last then last = s end
  end
  local counts = {}
  local stalled, slowest = 0, nil
  if first then
    for s = first, first + math.floor(summary.duration / 1e6) - 1 do
      local n = seconds[s] or 0
      table.insert(counts, n)
      if not slowest or n < slowest then slowest = n end
    end
    local best = 0
    for _, n in ipairs(counts) do if n > best then best = n end end
    for _, n in ipairs(counts) do if n < best / 10 then stalled = stalled + 1 end end
  end
  io.write(string.format("FAULTS per_second=%s stalled_s=%d min_per_s=%d 2xx=%d 5xx=%d other=%d unfinished=%d\n",
    table.concat(counts, ","), stalled, slowest or 0, classes["2xx"] or 0, classes["5xx"] or 0,
    (classes["1xx"] or 0) + (classes["3xx"] or 0) + (classes["4xx"] or 0), summary.errors.timeout))
end
