-- Paths the transport specs need beyond the default provider behaviour.
--   /slow  three events, one second apart
--   /big   64 events of 64 KiB each (4 MiB): enough to pause a slow consumer
return function(req)
  if req.path == "/slow" then
    return { status = 200, headers = { ["Content-Type"] = "text/event-stream" },
      chunks = { "data: a\n\n", 1, "data: b\n\n", 1, "data: c\n\n" } }
  elseif req.path == "/big" then
    local piece = "data: " .. string.rep("x", 65536) .. "\n\n"
    local i = 0
    return { status = 200, headers = { ["Content-Type"] = "text/event-stream" },
      chunks = function()
        i = i + 1
        if i <= 64 then return piece end
      end }
  end
end
