-- wrk script for every operation of bench/sidebyside/run.sh: POSTs a JSON
-- GraphQL body, counts answers that are not a clean success (HTTP status
-- other than 200, or a body with "errors"), and prints one machine-readable
-- line at the end, which the driver parses:
--
--   WRK_RESULT requests=… duration_us=… p50_us=… p99_us=… socket_errors=… http_errors=… graphql_errors=…
--   WRK_SAMPLE <the first failed answer, if any>
--
-- Configuration comes from the environment (wrk passes no options to Lua
-- but a script's own arguments, and the environment is easier to quote):
--   BENCH_BODY      the JSON body; @ACCOUNT@, @MEMBER@ and @NAME@ are
--                   replaced per request (see below)
--   BENCH_TOKEN     sent as Authorization: Bearer <token> when set
--   BENCH_ACCOUNT   sent as X-Account-ID when set
--   BENCH_ACCOUNTS  a file of account ids, one a line: each request picks
--                   one at random for X-Account-ID and @ACCOUNT@
--   BENCH_MEMBERS   a file of user ids: each request picks one for @MEMBER@
-- @NAME@ becomes a random name, so that updates change something.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
  table.insert(threads, thread)
end

local function read_lines(path)
  if path == nil or path == "" then
    return nil
  end
  local list = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(list, line)
    end
  end
  assert(#list > 0, "no ids in " .. path)
  return list
end

local body, headers, accounts, members, fixed

function init(args)
  -- Each thread is its own Lua state: seed each differently.
  math.randomseed(os.time() * 100 + id)
  http_errors, graphql_errors, sample = 0, 0, ""
  body = assert(os.getenv("BENCH_BODY"), "BENCH_BODY is not set")
  headers = { ["Content-Type"] = "application/json" }
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  local account = os.getenv("BENCH_ACCOUNT")
  if account and account ~= "" then
    headers["X-Account-ID"] = account
  end
  accounts = read_lines(os.getenv("BENCH_ACCOUNTS"))
  members = read_lines(os.getenv("BENCH_MEMBERS"))
  if not accounts and not body:find("@", 1, true) then
    -- Nothing varies: format the request once.
    fixed = wrk.format("POST", wrk.path, headers, body)
  end
end

function request()
  if fixed then
    return fixed
  end
  local b = body
  if accounts then
    local a = accounts[math.random(#accounts)]
    headers["X-Account-ID"] = a
    b = b:gsub("@ACCOUNT@", a)
  end
  if members then
    b = b:gsub("@MEMBER@", members[math.random(#members)])
  end
  b = b:gsub("@NAME@", "Bench name " .. math.random(1, 1000000000))
  return wrk.format("POST", wrk.path, headers, b)
end

function response(status, _, resp)
  if status ~= 200 then
    http_errors = http_errors + 1
  elseif resp:find('"errors"', 1, true) then
    graphql_errors = graphql_errors + 1
  else
    return
  end
  if sample == "" then
    sample = "HTTP " .. status .. " " .. resp:sub(1, 400):gsub("[\r\n]", " ")
  end
end

function done(summary, latency, _)
  local h, g, s = 0, 0, ""
  for _, t in ipairs(threads) do
    h = h + t:get("http_errors")
    g = g + t:get("graphql_errors")
    if s == "" then
      s = t:get("sample")
    end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d http_errors=%d graphql_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, h, g))
  if s ~= "" then
    io.write("WRK_SAMPLE " .. s .. "\n")
  end
end
