-- keel quickstart. The provider layer (chat, tools, embeddings over OpenAI
-- and Anthropic) lands with the providers issue; until then this shows the
-- transport the rest is built on.
local keel = require "keel"
print("keel " .. keel.version .. " — demo arrives with the provider issue")
print("transport: " .. keel.http.curl_version())
