-- keel.providers.base: what every provider shares — turning an HTTP failure
-- (status, headers, a body that may be JSON, HTML or nothing) into one
-- keel.error, and small helpers the provider files use.
--
-- Classification (README "Errors"): 401/403 auth, 408 timeout, 429
-- rate_limit (a quota that is used up is rate_limit with retryable=false),
-- 400 with a context-length code or message context_length, a refusal by a
-- content filter content_filter, other 4xx client, 5xx and 529 server.
local kerror = require "keel.error"
local json = require "keel.json"

local M = {}
local null = json.null

--- int(v): a token count from decoded JSON as a Lua integer (cjson gives
--- floats under 5.4); nil and null stay nil.
local tointeger = math.tointeger or function(x) return x end
function M.int(v)
  if type(v) ~= "number" then return nil end
  return tointeger(v) or v
end

--- str(v): a string field of decoded JSON; null and non-strings are nil.
function M.str(v)
  if type(v) == "string" then return v end
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Seconds from 1970 for a civil UTC date (Howard Hinnant's days_from_civil):
-- os.time would read the date as local time.
local floor = math.floor
local function epoch(y, m, d, hh, mm, ss)
  y = m <= 2 and y - 1 or y
  local era = floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss
end

--- retry_after(headers) -> seconds | nil. Reads retry-after-ms (OpenAI),
--- then Retry-After as seconds or as an HTTP date.
function M.retry_after(headers)
  local ms = tonumber(headers["retry-after-ms"])
  if ms and ms >= 0 then return ms / 1000 end
  local v = headers["retry-after"]
  if not v then return nil end
  local digits = v:match("^%s*(%d+%.?%d*)%s*$")
  if digits then return tonumber(digits) end
  local d, mon, y, hh, mm, ss = v:match("^%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+) GMT$")
  if d and MONTHS[mon] then
    local t = epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss))
    local wait = t - os.time()
    return wait > 0 and wait or 0
  end
  return nil
end

-- Messages and codes that mean "the prompt does not fit", across OpenAI,
-- Anthropic and the compatible servers (vLLM, llama.cpp, Ollama).
local CONTEXT_CODES = { context_length_exceeded = true, exceed_context_size_error = true,
  string_above_max_length = true }
local CONTEXT_PATTERNS = { "maximum context length", "context length", "prompt is too long",
  "exceed context limit", "exceeds? the available context", "context window", "too many tokens" }
local FILTER_CODES = { content_policy_violation = true, content_filter = true, invalid_prompt = true }
local FILTER_PATTERNS = { "content filter", "content management policy", "safety system",
  "content policy", "usage policy" }

local function matches(list, s)
  if not s then return false end
  s = s:lower()
  for i = 1, #list do if s:find(list[i]) then return true end end
  return false
end

--- kind_of(status, code, etype, message) -> kind
function M.kind_of(status, code, etype, message)
  if CONTEXT_CODES[code] or CONTEXT_CODES[etype] or (status == 400 or status == 413 or not status)
      and matches(CONTEXT_PATTERNS, message) then
    return "context_length"
  end
  if FILTER_CODES[code] or FILTER_CODES[etype] or matches(FILTER_PATTERNS, message) then
    return "content_filter"
  end
  if not status then return nil end
  if status == 401 or status == 403 then return "auth" end
  if status == 408 then return "timeout" end
  if status == 429 then return "rate_limit" end
  if status >= 500 or status == 409 then return "server" end
  -- A redirect the transport did not follow (keel does not follow them on
  -- POST) is a wrong base_url: retrying will not fix it.
  return "client"
end

-- A readable one-line message from a body that is not JSON: an HTML page's
-- title, or the start of the text.
local function text_message(body)
  if not body or body == "" then return nil end
  local title = body:match("<[Tt][Ii][Tt][Ll][Ee][^>]*>(.-)</[Tt][Ii][Tt][Ll][Ee]>")
      or body:match("<[Hh]1[^>]*>(.-)</[Hh]1>")
  if title then return "HTML error page: " .. title:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "") end
  local s = body:sub(1, 200):gsub("%s+", " ")
  if #body > 200 then s = s .. "..." end
  return s
end

--- http_error(provider, status, headers, body, detail, fields) -> keel.error
--- detail(obj) -> message, code, type: reads the provider's error body.
function M.http_error(provider, status, headers, body, detail, fields)
  local obj = body and body ~= "" and json.decode(body)
  local message, code, etype
  if type(obj) == "table" then message, code, etype = detail(obj) end
  local from_json = message ~= nil
  message = message or text_message(body) or "no error body"
  local kind = M.kind_of(status, code, etype, message)
  local e = {
    status = status,
    provider = provider,
    code = code,
    type = etype,
    retry_after = M.retry_after(headers),
    request_id = headers["x-request-id"] or headers["request-id"],
  }
  if fields then for k, v in pairs(fields) do e[k] = v end end
  if code == "insufficient_quota" or etype == "billing_error" then
    e.retryable = false  -- waiting will not bring the money back
  end
  if status == 529 then e.overloaded = true end
  local prefix = ("HTTP %d from %s"):format(status, provider)
  if status >= 300 and status < 400 then
    message = ("a redirect%s: check base_url"):format(headers.location and " (Location header present)" or "")
  end
  return kerror.new(kind, from_json and (prefix .. ": " .. message) or (prefix .. " (" .. message .. ")"), e)
end

--- event_error(provider, message, code, etype, fields) -> keel.error: an
--- error reported inside a stream that had already answered 200.
function M.event_error(provider, message, code, etype, kind_by_type, fields)
  local kind = M.kind_of(nil, code, etype, message) or (kind_by_type and kind_by_type[etype]) or "server"
  local e = { provider = provider, code = code, type = etype }
  if fields then for k, v in pairs(fields) do e[k] = v end end
  return kerror.new(kind, ("error event from %s: %s"):format(provider, message or "unknown error"), e)
end

--- bad_response(provider, what, fields) -> keel.error: a 2xx whose body is
--- not what the API promises (malformed JSON, a missing field). The provider
--- is at fault and a retry may well succeed: kind server.
function M.bad_response(provider, what, fields)
  local e = { provider = provider }
  if fields then for k, v in pairs(fields) do e[k] = v end end
  return kerror.new("server", ("malformed response from %s: %s"):format(provider, what), e)
end

--- finish_mapper(words) -> function(reason): the provider's finish words
--- to keel's; an unknown word passes through, a missing one is nil.
function M.finish_mapper(words)
  return function(r)
    if type(r) ~= "string" then return nil end
    return words[r] or r
  end
end

--- unreported_usage() -> usage of a server that reported none: zeros,
--- marked so nobody mistakes them for a count.
function M.unreported_usage()
  return { input_tokens = 0, output_tokens = 0, cached_tokens = 0, reasoning_tokens = 0, total_tokens = 0,
    reported = false }
end

--- stream_response(st, finish_reason, usage_of) -> the fields every
--- provider's stream state assembles the same way (st.text pieces, ids,
--- stop reason, usage, a bounded raw).
function M.stream_response(st, finish_reason, usage_of)
  return {
    id = st.id,
    model = st.model,
    content = table.concat(st.text),
    stop_reason = st.stop_reason,
    finish_reason = finish_reason(st.stop_reason),
    usage = usage_of(st.usage),
    -- Not every event: a long stream would hold thousands of tables.
    raw = { events = st.nraw, first = st.first_raw, last = st.last_raw },
  }
end

--- is_null(v): v is absent or JSON null.
function M.is_null(v) return v == nil or v == null end

return M
