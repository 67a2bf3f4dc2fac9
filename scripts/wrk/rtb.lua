-- OpenRTB 2.6 bid requests on varied pages, with the rtb token from the environment.
local token = os.getenv("PERSONIFY_LOAD_TOKEN") or "load-token-0123456789abcdef0123456789"
local pages = {
  "https://bank.example/mortgages/fixed-rate",
  "https://bank.example/savings/easy-access-isa",
  "https://bank.example/business/loans",
  "https://bank.example/students",
}
-- Built once (see decide.lua): 1,000 distinct requests.
local function build(n)
  local body = string.format(
    '{"id":"b%d","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"domain":"bank.example","page":"%s","ref":"https://www.google.com/"},"device":{"ua":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36","devicetype":2,"geo":{"country":"USA"}},"user":{},"regs":{"gdpr":0,"us_privacy":"1YNN"}}',
    n, pages[(n % #pages) + 1])
  return wrk.format("POST", "/v1/rtb/segments", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
-- Built in init, not at load: wrk sets the Host header only after loading the script.
local pool = {}
init = function(args)
  for i = 1, 1000 do pool[i] = build(i) end
end
local n = 0
request = function()
  n = n % #pool + 1
  return pool[n]
end
