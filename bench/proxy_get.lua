-- wrk: GET one payment through a Payroc API pass-through, the service key as Bearer token:
-- `wrk ... -s proxy_get.lua URL -- KEY`. Prints the same RESULT line as post.lua.
init = function(args)
  wrk.method = "GET"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%d non2xx=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    errors, summary.errors.status, summary.requests))
end
