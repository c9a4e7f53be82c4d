-- wrk: POST session requests spread over many terminals, one per account of the tenants file
-- bench.py writes: `wrk ... -s accounts.lua URL -- FIRST COUNT` asks, request after request,
-- for terminals FIRST, FIRST+1, ..., FIRST+COUNT-1 and round again (each wrk thread starts at
-- its own place). The requests are formatted once, in init, so a request costs wrk no more
-- than post.lua's. Prints the same RESULT line as post.lua.
local requests, n, i = {}, 0, 0
local threads = 0

setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end

init = function(args)
  local first, count = tonumber(args[1]), tonumber(args[2])
  local headers = { ["Content-Type"] = "application/json" }
  for t = 0, count - 1 do
    local body = string.format('{"processingTerminalId":"%d","scenario":"payment"}', first + t)
    requests[t + 1] = wrk.format("POST", nil, headers, body)
  end
  n = count
  i = ((offset or 0) * 7919) % n
end

request = function()
  i = i % n + 1
  return requests[i]
end

done = function(summary, latency, _)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d non2xx=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    errors, summary.errors.status, summary.requests))
end
