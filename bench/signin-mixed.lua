-- wrk script: password sign-ins through the login form, alternating a known user with the
-- right password and unknown users (different names), each thread stopping after
-- TP_PER_THREAD responses. Counts statuses.
local per_thread = tonumber(os.getenv("TP_PER_THREAD") or "1000")
local csrf_cookie = os.getenv("TP_CSRF_COOKIE")
local csrf_token = os.getenv("TP_CSRF_TOKEN")
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  sent = 0
  codes = {}
end

function request()
  sent = sent + 1
  local body
  if sent % 2 == 0 then
    body = "csrf_token=" .. csrf_token .. "&username=bench&password=correct+horse+battery+staple"
  else
    body = "csrf_token=" .. csrf_token .. "&username=nobody" .. id .. "x" .. sent .. "&password=wrong+guess"
  end
  return wrk.format("POST", "/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "tp_csrf=" .. csrf_cookie,
  }, body)
end

function response(status, headers, body)
  n = n + 1
  codes[status] = (codes[status] or 0) + 1
  if n >= per_thread then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. ":" .. v) end
  table.sort(parts)
  io.write(string.format("responses %d (%s), %.1f sign-ins/s, p50 %.1f ms, p99 %.1f ms\n",
    summary.requests, table.concat(parts, " "), summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
