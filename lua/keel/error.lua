-- keel.error: the one error value of keel (DESIGN.md, Conventions: Errors).
-- Runtime failures return nil, err where err is one of these; misuse raises.
-- The metatable is created in C (keel.core.error_meta) so C and Lua errors
-- are the same kind of value; the kinds come from src/core/kerr.h.
local core = require "keel.core"

local meta = core.error_meta
local M = { kinds = {}, meta = meta }
for _, k in ipairs(core.error_kinds) do M.kinds[k] = k end

--- new(kind, message [, fields]) -> err
function M.new(kind, message, fields)
  if not M.kinds[kind] then error(("keel.error: unknown kind '%s'"):format(tostring(kind)), 2) end
  local e = {}
  if fields then for k, v in pairs(fields) do e[k] = v end end
  e.kind, e.message = kind, message or kind
  return setmetatable(e, meta)
end

--- is(v [, kind]): v is a keel.error (of that kind).
function M.is(v, kind)
  return getmetatable(v) == meta and (kind == nil or v.kind == kind)
end

return M
