-- Pipelines batch with identify calls among the tracks: POST /v1/batch with
-- `size` (default 100) calls shaped as customerio-cdp-analytics sends them,
-- every tenth an identify (userId and traits: email, name and plan, which stay
-- the same for a customer, and last_login, the second of the request, which
-- changes), the rest the track calls of cdp_batch.lua. Random customers out
-- of `customers`, a random UUID messageId per call (as the Python SDK's uuid4),
-- a batch-level sentAt.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "./"
local common = dofile(here .. "common.lua")

local opts
local headers
local plans = { "free", "basic", "premium" }

function init(args)
  opts = common.parse_args(args)
  headers = common.headers(opts)
end

local CONTEXT = '"integrations":{},"anonymousId":null,'
  .. '"context":{"library":{"name":"analytics-python","version":"1.1.0"}},'

local function identify(customer, second)
  local number = tonumber(customer:match("(%d+)$")) or 0
  return '{"type":"identify",' .. CONTEXT .. '"userId":"' .. customer
    .. '","traits":{"email":"' .. customer .. '@example.com","name":"Customer '
    .. number .. '","plan":"' .. plans[(number % 3) + 1] .. '","last_login":"'
    .. second .. '000Z"},"timestamp":"' .. second .. '000Z","messageId":"'
    .. common.uuid4() .. '"}'
end

local function track(customer, second)
  local name, data = common.event_fields()
  return '{"type":"track",' .. CONTEXT .. '"userId":"' .. customer .. '","event":"'
    .. name .. '","properties":' .. data .. ',"timestamp":"' .. second .. '000Z'
    .. '","messageId":"' .. common.uuid4() .. '"}'
end

function request()
  local parts = {}
  local second = os.date("!%Y-%m-%dT%H:%M:%S.", os.time())
  for i = 1, opts.size do
    local customer = common.customer_id(opts)
    if i % 10 == 0 then
      parts[i] = identify(customer, second)
    else
      parts[i] = track(customer, second)
    end
  end
  local body = '{"batch":[' .. table.concat(parts, ",")
    .. '],"sentAt":"2023-11-14T22:13:20.633764+00:00"}'
  return wrk.format("POST", "/v1/batch", headers, body)
end
