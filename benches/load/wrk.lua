-- wrk script of benches/load/run: one request shape per run, set through the environment,
-- a per-thread request cap, and a JSON summary line written to BENCH_OUT.
--
--   BENCH_METHOD        GET (default) or POST
--   BENCH_BODY          request body (sent as application/json)
--   BENCH_TOKEN         bearer token (Authorization header)
--   BENCH_ACCEPT        Accept header (MCP needs "application/json, text/event-stream")
--   BENCH_MCP_SESSION   Mcp-Session-Id header, when the MCP endpoint handed one out
--   BENCH_MAX_REQUESTS  stop a thread after this many responses (0: only the -d bound)
--   BENCH_OUT           file the summary JSON is written to

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local token = os.getenv("BENCH_TOKEN") or ""
local accept = os.getenv("BENCH_ACCEPT") or ""
local session = os.getenv("BENCH_MCP_SESSION") or ""
local out = os.getenv("BENCH_OUT") or "/dev/stdout"

wrk.method = method
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if accept ~= "" then
  wrk.headers["Accept"] = accept
end
if session ~= "" then
  wrk.headers["Mcp-Session-Id"] = session
end

-- BENCH_BODY may contain __ID__: each request then gets its own number there (JSON-RPC ids must
-- be unique among a session's requests in flight), unique across threads too.
local counter = 0
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

if body:find("__ID__", 1, true) then
  local prefix, suffix = body:match("^(.-)__ID__(.*)$")
  function request()
    counter = counter + 1
    local id = tostring((thread_index or 0) * 1000000000 + counter)
    return wrk.format(nil, nil, nil, prefix .. id .. suffix)
  end
end

-- Per thread (each wrk thread has its own Lua state).
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0") or 0
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if max_requests > 0 and seen >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
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
