-- Command-line parsing shared by keel's Lua subcommands: --name VALUE,
-- --name=VALUE, --flag, -h, "--" ending options, "-" as a word (stdin).
local M = {}

--- parse(args, valued, flags) -> options, words | nil, message
--- valued / flags: sets of option names taking a value / taking none.
function M.parse(args, valued, flags)
  local o, words = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    if a == "--" then
      for j = i + 1, #args do words[#words + 1] = args[j] end
      break
    elseif name and valued[name] then
      local v = inline
      if not v then
        i = i + 1
        v = args[i]
        if v == nil then return nil, ("option --%s needs a value"):format(name) end
      end
      o[name] = v
    elseif name and flags[name] and not inline then
      o[name] = true
    elseif a == "-h" then
      o.help = true
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return nil, ("unknown option %s"):format(a)
    else
      words[#words + 1] = a
    end
    i = i + 1
  end
  return o, words
end

return M
