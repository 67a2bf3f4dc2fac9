-- POST /v1/events: conversions of a declared goal (segment_rules/goals.toml) from US visitors (an
-- opt-out country: measure by default, so every one is counted into the sketches). The country header
-- is believed because wrk connects from 127.0.0.1, a trusted proxy in config/default.toml.
local goals = { "signup", "contact_request" }
local pages = {
  "https://bank.example/savings/easy-access-isa",
  "https://bank.example/mortgages/fixed-rate",
  "https://bank.example/students/account",
  "https://bank.example/business/current-account",
}
-- Built once (see decide.lua): 1,000 distinct requests over 1,000 visitors.
local function build(n)
  local body = string.format(
    '{"type":"conversion","goal":"%s","site":"bank.example","page":{"url":"%s","referrer":""},"session":{"pages_viewed":%d,"returning":true},"visitor_id":"v-%d-7d2e-8b41-3c4d5e6f7a8b","tz_offset_minutes":60}',
    goals[(n % #goals) + 1], pages[(n % #pages) + 1], 1 + n % 7, n % 50000)
  return wrk.format("POST", "/v1/events", {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["CF-IPCountry"] = "US",
  }, body)
end
local pool = {}
init = function(args)
  for i = 1, 1000 do pool[i] = build(i) end
end
local n = 0
request = function()
  n = n % #pool + 1
  return pool[n]
end
