-- POST /v1/consent with a distinct visitor id on every request (a banner's peak: many visitors,
-- one choice each), so every write is a new record and a new log entry.
local n = 0
local seed = 0
init = function(args)
  math.randomseed(os.time())
  seed = math.random(0, 0xfffff)
end
request = function()
  n = n + 1
  local id = string.format("%08x-%04x-4%03x-8%03x-%012x", seed, n % 0x10000, n % 0x1000, math.floor(n / 0x1000) % 0x1000, n)
  local body = string.format(
    '{"visitor_id":"%s","purposes":{"personalize":true,"measure":%s,"advertise":false},"source":"banner","policy_version":"2026-11"}',
    id, (n % 2 == 0) and "true" or "false")
  return wrk.format("POST", "/v1/consent", {["Content-Type"] = "application/json"}, body)
end
