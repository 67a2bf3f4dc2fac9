-- Varied page views as a browser SDK sends them: different pages, referrers and visitors.
local pages = {
  "https://bank.example/mortgages/fixed-rate?utm_source=google&utm_medium=cpc",
  "https://bank.example/mortgages/first-time-buyers/deposit-guide",
  "https://bank.example/savings/easy-access-isa",
  "https://bank.example/students/account",
  "https://bank.example/business/current-account",
  "https://bank.example/?utm_campaign=isa_season_2027&utm_medium=email",
  "https://bank.example/help/opening-hours",
  "https://bank.example/",
}
local referrers = { "https://www.google.co.uk/", "https://www.moneysupermarket.com/", "", "https://bank.example/" }
-- The requests are built once, so the load generator's own CPU (it shares the machine) goes to
-- sending them, not to formatting strings: 1,000 distinct bodies over 8 pages and 1,000 visitors.
-- With PERSONIFY_LOAD_GENERATED set, the pages of a `personify generate-rules` set instead.
local generated = os.getenv("PERSONIFY_LOAD_GENERATED")
local function page(n)
  if generated then
    return string.format("https://shop.example/c/cat%d/item-%d?utm_campaign=campaign_%d", n % 50, n, n % 700)
  end
  return pages[(n % #pages) + 1]
end
-- With PERSONIFY_LOAD_GEO set, requests come as browsers behind a trusted proxy (Origin and
-- X-Forwarded-For, addresses of tests/fixtures/geo/country-v1.mmdb in the US, IPv4 and IPv6 in turn):
-- `lookup` sends no country header, so each address is looked up; `header` adds CF-IPCountry: US, which
-- wins, so nothing is (the same requests otherwise: the difference is the lookup).
local geo = os.getenv("PERSONIFY_LOAD_GEO")
local addresses = { "8.8.8.%d", "2001:4860:%x::1" }
local function headers(n)
  local h = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ["Accept-Language"] = "en-GB,en;q=0.9",
    ["CF-IPCountry"] = "US",
  }
  if geo then
    h["Origin"] = "https://bank.example"
    h["X-Forwarded-For"] = string.format(addresses[(n % 2) + 1], n % 250)
    if geo == "lookup" then h["CF-IPCountry"] = nil end
  end
  return h
end
local function build(n)
  local body = string.format(
    '{"site":"%s","page":{"url":"%s","referrer":"%s"},"session":{"pages_viewed":%d,"categories":["savings"],"returning":%s},"visitor_id":"v-%d-4c1e-9a55-1d2e3f4a5b6c","tz_offset_minutes":60}',
    generated and "shop.example" or "bank.example", page(n), referrers[(n % #referrers) + 1], n % 7, (n % 2 == 0) and "true" or "false", n % 50000)
  return wrk.format("POST", "/v1/decide", headers(n), body)
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
