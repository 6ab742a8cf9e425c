-- Every provider request raises inside the handler: the mock answers 500
-- with the message and logs it to stderr.
return function(req)
  error("scenario exploded on " .. req.path)
end
