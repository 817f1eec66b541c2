-- Track v2 batch: POST /api/v2/batch with `size` (default 100) person event
-- operations of ~300 bytes each, random customers out of `customers`.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*/)") or "./"
local common = dofile(here .. "common.lua")

local opts
local headers

function init(args)
  opts = common.parse_args(args)
  headers = common.headers(opts)
end

function request()
  -- One table of pieces and a single concat: cheaper for wrk than 100 formats.
  local parts, k = { '{"batch":[' }, 1
  for i = 1, opts.size do
    local name, data, n = common.event_fields()
    local id = ""
    if opts.ids == 1 then
      id = ',"id":"evt_' .. opts.seed .. "_" .. (thread_index or 1) .. "_" .. n .. '"'
    end
    parts[k + 1] = (i > 1) and ',{"type":"person","identifiers":{"id":"'
      or '{"type":"person","identifiers":{"id":"'
    parts[k + 2] = common.customer_id(opts)
    parts[k + 3] = '"},"action":"event","name":"'
    parts[k + 4] = name
    parts[k + 5] = '","attributes":'
    parts[k + 6] = data
    parts[k + 7] = ',"timestamp":'
    parts[k + 8] = 1700000000 + n
    parts[k + 9] = id
    parts[k + 10] = "}"
    k = k + 10
  end
  parts[k + 1] = "]}"
  return wrk.format("POST", "/api/v2/batch", headers, table.concat(parts))
end
