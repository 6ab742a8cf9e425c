-- Rate-limits the first two provider requests (429 with Retry-After: 1, in
-- the shape of the provider asked), then answers normally. The count is the
-- mock's own request count, so POST /_mock/reset starts it over.
return function(req, mock)
  if req.n <= 2 then
    local p = mock[req.provider or "openai"]
    return p.error(429, "rate limited by scenario (request " .. req.n .. ")", { retry_after = 1 })
  end
  -- nil: the default behaviour
end
