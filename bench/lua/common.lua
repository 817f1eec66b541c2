-- Shared by the wrk scripts: arguments, per-thread seeding, realistic event
-- payloads, and a done() hook that prints one machine-readable result line.
--
-- Arguments come after `--` on the wrk command line as key=value:
--   auth=<base64 of site_id:api_key>  customers=<N>  seed=<int>  ids=0|1  size=<ops>

local M = {}

local thread_count = 0

function M.setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

function M.parse_args(args)
  local opts = { auth = "", customers = 10000, seed = 1, ids = 0, size = 100 }
  for _, arg in ipairs(args or {}) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    if key then
      opts[key] = tonumber(value) or value
    end
  end
  math.randomseed(opts.seed * 1000 + (thread_index or 1))
  -- Warm LuaJIT's generator: the first draws after seeding are poorly spread.
  for _ = 1, 10 do math.random() end
  return opts
end

local names = { "purchase", "viewed_product", "added_to_cart", "checkout_started" }
local products = {
  { "SKU-4821", "Trail running shoes", "footwear", 129.95 },
  { "SKU-1177", "Merino wool socks (3 pack)", "accessories", 24.50 },
  { "SKU-9034", "Waterproof shell jacket", "outerwear", 219.00 },
  { "SKU-3310", "Insulated water bottle", "accessories", 34.99 },
}
local plans = { "free", "basic", "premium" }
local counter = 0

-- One event's name and data (about 270 bytes of JSON data).
local function make_event(n)
  local p = products[math.random(#products)]
  local name = names[math.random(#names)]
  local data = string.format(
    '{"order_id":"ord_%d_%d","sku":"%s","product":"%s","category":"%s",'
      .. '"price":%.2f,"quantity":%d,"currency":"USD","coupon":null,'
      .. '"source":"web","session_id":"sess_%08x","plan":"%s","first_order":%s}',
    thread_index or 1, n, p[1], p[2], p[3], p[4], math.random(1, 4),
    math.random(0, 0x7fffffff), plans[math.random(#plans)],
    (math.random() < 0.2) and "true" or "false")
  return { name, data }
end

-- Bodies are drawn from a pool made once per thread so that wrk spends its
-- time sending, not formatting; customer ids and timestamps vary per event.
local pool = {}
local POOL_SIZE = 1024

-- (name, data, n): a random pooled event and a per-thread sequence number.
function M.event_fields()
  if #pool == 0 then
    for i = 1, POOL_SIZE do pool[i] = make_event(i) end
  end
  counter = counter + 1
  local e = pool[math.random(POOL_SIZE)]
  return e[1], e[2], counter
end

-- A random (version 4) UUID, the messageId customerio-cdp-analytics (Python)
-- gives every call: dedup keys in random order, as the server gets them.
function M.uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    0x8000 + math.random(0, 0x3fff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end

-- JSON request headers, with HTTP Basic auth when `auth` was given.
function M.headers(opts)
  local headers = { ["Content-Type"] = "application/json" }
  if opts.auth ~= "" then
    headers["Authorization"] = "Basic " .. opts.auth
  end
  return headers
end

function M.customer_id(opts)
  return "cust_" .. math.random(1, opts.customers)
end

function M.json_line(t)
  local parts = {}
  for key, value in pairs(t) do
    parts[#parts + 1] = string.format('"%s":%s', key, tostring(value))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.done(summary, latency, requests)
  local errors = summary.errors
  io.write("BENCH_RESULT ", M.json_line({
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    connect_errors = errors.connect,
    read_errors = errors.read,
    write_errors = errors.write,
    status_errors = errors.status,
    timeouts = errors.timeout,
    latency_mean_us = string.format("%.1f", latency.mean),
    latency_max_us = latency.max,
    latency_p50_us = latency:percentile(50),
    latency_p90_us = latency:percentile(90),
    latency_p99_us = latency:percentile(99),
    latency_p999_us = latency:percentile(99.9),
  }), "\n")
end

-- wrk's per-thread hooks, the same for every script: loading this file sets them.
setup = M.setup
done = M.done

return M
