-- Pipelines batch: POST /v1/batch with `size` (default 100) track calls shaped
-- as customerio-cdp-analytics (Python) sends them: userId, event, properties
-- (~270 bytes), context.library, integrations, an ISO timestamp with millisecond
-- precision and a random UUID messageId each, as the SDK's uuid4 (so every
-- event is also a dedup key, and the keys arrive in random order),
-- and a batch-level sentAt. Random customers out of `customers`. Timestamps are
-- those of live traffic: the second the request is made, milliseconds varied
-- (a client stamps each call when it is made and sends within seconds).
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "./"
local common = dofile(here .. "common.lua")

local opts
local headers
local millis = {}

function init(args)
  opts = common.parse_args(args)
  headers = common.headers(opts)
  for i = 1, 1000 do
    millis[i] = string.format("%03d", (i * 7) % 1000) .. "+00:00"
  end
end

local PREFIX = '{"type":"track","integrations":{},"anonymousId":null,'
  .. '"context":{"library":{"name":"analytics-python","version":"1.1.0"}},"userId":"'

function request()
  local parts, k = { '{"batch":[' }, 1
  local second = os.date("!%Y-%m-%dT%H:%M:%S.", os.time())
  for i = 1, opts.size do
    local name, data, n = common.event_fields()
    parts[k + 1] = (i > 1) and "," .. PREFIX or PREFIX
    parts[k + 2] = common.customer_id(opts)
    parts[k + 3] = '","event":"'
    parts[k + 4] = name
    parts[k + 5] = '","properties":'
    parts[k + 6] = data
    parts[k + 7] = ',"timestamp":"'
    parts[k + 8] = second .. millis[(n % 1000) + 1]
    parts[k + 9] = '","messageId":"' .. common.uuid4() .. '"}'
    k = k + 9
  end
  parts[k + 1] = '],"sentAt":"2023-11-14T22:13:20.633764+00:00"}'
  return wrk.format("POST", "/v1/batch", headers, table.concat(parts))
end
