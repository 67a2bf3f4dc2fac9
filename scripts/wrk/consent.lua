-- POST /v1/consent with a distinct visitor id on every request (a banner's peak: many visitors,
-- one choice each), so every write is a new record and a new log entry.
local n = 0
init = function(args)
  math.randomseed(os.time())
end
request = function()
  n = n + 1
  -- Random in every group, as crypto.randomUUID() is: the server refuses ids that do not look random.
  local id = string.format("%08x-%04x-4%03x-%04x-%08x%04x", math.random(0, 0x7fffffff), math.random(0, 0xffff),
    math.random(0, 0xfff), 0x8000 + math.random(0, 0x3fff), math.random(0, 0x7fffffff), n % 0x10000)
  local body = string.format(
    '{"visitor_id":"%s","purposes":{"personalize":true,"measure":%s,"advertise":false},"source":"banner","policy_version":"2026-11"}',
    id, (n % 2 == 0) and "true" or "false")
  return wrk.format("POST", "/v1/consent", {["Content-Type"] = "application/json"}, body)
end
