-- The official JSON Schema test suite (../shared/data/json-schema-test-suite,
-- see its SOURCE.txt) through keel.schema: every required test of 2020-12,
-- 2019-09, draft 7, 6 and 4, and the optional ones (formats asserted in
-- optional/format). One `it` per file; a file passes when exactly its known
-- failures (below, each with its reason) fail. A known failure that starts
-- passing fails too, so this list cannot go stale.
-- spec/support/schema_suite.lua prints the per-dialect pass counts.
local suite = require "spec.support.schema_suite"

-- "dialect|file|group|test" = reason
local KNOWN = {}
local function known(dialect, file, group, tests, why)
  for _, t in ipairs(tests) do KNOWN[dialect .. "|" .. file .. "|" .. group .. "|" .. t] = why end
end
-- draft 7 lets contentMediaType/contentEncoding assert ("MAY"); keel treats
-- them as annotations in every dialect, as 2019-09 and later require
known("draft7", "optional/content.json", "validation of string-encoded content based on media type",
  { "an invalid JSON document" }, "content* are annotations")
known("draft7", "optional/content.json", "validation of binary string-encoding",
  { "an invalid base64 string (% is not a valid character)" }, "content* are annotations")
known("draft7", "optional/content.json", "validation of binary-encoded media type documents",
  { "a validly-encoded invalid JSON document", "an invalid base64 string that is valid JSON" },
  "content* are annotations")
-- Debian 12's PCRE2 10.42 allows only fixed-length lookbehind (10.43 lifts it)
for _, d in ipairs { "2020-12", "2019-09", "draft7" } do
  known(d, "optional/format/ecmascript-regex.json", "ECMA 262 lookbehind is valid, including variable width",
    { "a variable-width lookbehind (ES2018)" }, "PCRE2 10.42: fixed-length lookbehind only")
end
-- the meta-schema .../2020-12/meta/format-assertion is not in the npm
-- packages keel takes the meta-schemas from (make metaschema)
for _, g in ipairs { "false", "true" } do
  known("2020-12", "optional/format-assertion.json", "schema that uses custom metaschema with format-assertion: " .. g,
    { "format-assertion: " .. g .. ": valid string", "format-assertion: " .. g .. ": invalid string" },
    "meta/format-assertion meta-schema not available")
end

local have_suite = io.open(suite.root .. "/tests/draft2020-12/type.json") ~= nil

describe("JSON Schema test suite", function()
  if not have_suite then
    pending("the suite is not at " .. suite.root .. " (set KEEL_SCHEMA_SUITE)")
    return
  end
  for _, d in ipairs(suite.dialects) do
    local req, opt = suite.files(d.dir)
    for _, list in ipairs { req, opt } do
      for _, f in ipairs(list) do
        it(d.name .. " " .. f.name, function()
          local unexpected, stale = {}, {}
          for _, r in ipairs(suite.run_file(f, d.name)) do
            local key = d.name .. "|" .. f.name .. "|" .. r.group .. "|" .. r.test
            if not r.ok and not KNOWN[key] then unexpected[#unexpected + 1] = r.group .. " / " .. r.test .. ": " .. r.why end
            if r.ok and KNOWN[key] then stale[#stale + 1] = r.group .. " / " .. r.test .. " (now passes)" end
          end
          assert.are.same({}, unexpected)
          assert.are.same({}, stale)
        end)
      end
    end
  end
end)
