-- wrk script of benches/load/run: one request shape per run, set through the environment,
-- a per-thread request cap, and a JSON summary line written to BENCH_OUT.
--
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          request body
--   BENCH_CONTENT_TYPE  its Content-Type (default application/json)
--   BENCH_TOKEN         bearer token (Authorization header)
--   BENCH_ACCEPT        Accept header (MCP needs "application/json, text/event-stream")
--   BENCH_HEADER        one more header, "Name: value" (e.g. If-None-Match)
--   BENCH_MCP_SESSION   Mcp-Session-Id header, when the MCP endpoint handed one out
--   BENCH_MAX_REQUESTS  stop a thread after this many responses (0: only the -d bound)
--   BENCH_OUT           file the summary JSON is written to
--   BENCH_ITEMS_FILE    one value per line; each request replaces __ITEM__ in the body with
--                       the next unused one (single-use values: OAuth codes, refresh tokens)
--   BENCH_CHAIN         a Lua pattern with one capture: the capture of each 200 response's
--                       body is queued as a further item (a rotated refresh token)
--   BENCH_THREADS       wrk's -t, so that each thread takes its own share of the items

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
local token = os.getenv("BENCH_TOKEN") or ""
local accept = os.getenv("BENCH_ACCEPT") or ""
local header = os.getenv("BENCH_HEADER") or ""
local session = os.getenv("BENCH_MCP_SESSION") or ""
local out = os.getenv("BENCH_OUT") or "/dev/stdout"
local items_file = os.getenv("BENCH_ITEMS_FILE") or ""
local chain = os.getenv("BENCH_CHAIN") or ""
local threads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1

wrk.method = method
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = content_type
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if accept ~= "" then
  wrk.headers["Accept"] = accept
end
if header ~= "" then
  local name, value = header:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
if session ~= "" then
  wrk.headers["Mcp-Session-Id"] = session
end

-- Wall-clock microseconds (LuaJIT's FFI; os.time() has whole seconds only).
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local function now_us()
  local tv = ffi.new("bench_timeval")
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local counter = 0
local next_thread = 0
local all_threads = {}

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  all_threads[#all_threads + 1] = thread
end

-- Single-use items: this thread's share of the file (line i goes to thread i mod threads),
-- then whatever BENCH_CHAIN captures. An exhausted queue sends an invalid item, which the
-- server refuses: it shows up as an error, never as a silent reuse.
local items = {}
local first, last = 1, 0
local function push(item)
  last = last + 1
  items[last] = item
end
function init(args)
  started_us = now_us()
  if items_file == "" then return end
  local i = 0
  for line in io.lines(items_file) do
    if line ~= "" then
      if i % threads == (thread_index or 0) then push(line) end
      i = i + 1
    end
  end
end

local function next_item()
  if first > last then return "exhausted" end
  local item = items[first]
  items[first] = nil
  first = first + 1
  return item
end

-- BENCH_BODY may contain __ID__: each request then gets its own number there (JSON-RPC ids must
-- be unique among a session's requests in flight), unique across threads too.
local has_id = body:find("__ID__", 1, true) ~= nil
local has_item = body:find("__ITEM__", 1, true) ~= nil
if has_id or has_item then
  function request()
    local b = body
    if has_id then
      counter = counter + 1
      local id = tostring((thread_index or 0) * 1000000000 + counter)
      b = b:gsub("__ID__", id, 1)
    end
    if has_item then
      local item = next_item()
      b = b:gsub("__ITEM__", function() return item end, 1)
    end
    return wrk.format(nil, nil, nil, b)
  end
end

-- Per thread (each wrk thread has its own Lua state).
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0") or 0
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if chain ~= "" and status == 200 then
    local captured = body:match(chain)
    if captured then push(captured) end
  end
  if max_requests > 0 and seen >= max_requests and not stopped_us then
    stopped_us = now_us()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
  -- wrk counts the whole -d even when every thread stopped at its request cap: then the run
  -- lasted from the first thread's start to the last thread's stop.
  local t0, t1, capped = nil, nil, #all_threads > 0
  for _, t in ipairs(all_threads) do
    local s, e = t:get("started_us"), t:get("stopped_us")
    if not (s and e) then capped = false; break end
    if not t0 or s < t0 then t0 = s end
    if not t1 or e > t1 then t1 = e end
  end
  if capped and t1 > t0 then secs = (t1 - t0) / 1e6 end
  local rps = 0
  if secs > 0 then rps = summary.requests / secs end
  local f = assert(io.open(out, "w"))
  f:write(string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"errors":%d,"non_2xx_3xx":%d,"socket_errors":%d}\n',
    summary.requests, secs, rps,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors, e.status, e.connect + e.read + e.write + e.timeout))
  f:close()
end
