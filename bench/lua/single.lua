-- Track v1 single event: POST /api/v1/customers/{id}/events with a ~300-byte
-- body, a random customer out of `customers` per request.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "./"
local common = dofile(here .. "common.lua")

local opts
local headers

function init(args)
  opts = common.parse_args(args)
  headers = common.headers(opts)
end

function request()
  local name, data, n = common.event_fields()
  local id = ""
  if opts.ids == 1 then
    id = string.format(',"id":"evt_%d_%d_%d"', opts.seed, thread_index or 1, n)
  end
  local body = string.format('{"name":"%s","data":%s,"timestamp":%d%s}',
    name, data, 1700000000 + n, id)
  local path = "/api/v1/customers/" .. common.customer_id(opts) .. "/events"
  return wrk.format("POST", path, headers, body)
end
