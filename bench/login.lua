-- wrk script: successful password sign-ins through the real login form.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "tp_csrf=" .. os.getenv("TP_CSRF_COOKIE")
wrk.body = "csrf_token=" .. os.getenv("TP_CSRF_TOKEN") .. "&username=bench&password=correct+horse+battery+staple"

local codes = {}
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("sign-ins/s: %.1f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("p50 latency: %.1f ms, p99 latency: %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
