-- `luarocks make rockspec/keel-scm-1.rockspec` from the repository root
-- builds and installs offline with the project's Makefile. lua-cjson and
-- libcurl/libevent come from the system (Debian packages), not from rocks,
-- so nothing is fetched.
rockspec_format = "3.0"
package = "keel"
version = "scm-1"
source = {
  url = "git+https://keel.invalid/keel.git", -- unused by `luarocks make`
}
description = {
  summary = "Production-grade LLM API calls from Lua: transport, streaming, retries, validation",
  detailed = [[
keel is a C library exposed as a Lua module: non-blocking libcurl transport
with keep-alive and HTTP/2, server-sent events, a coroutine scheduler, and
the bundled `keel` interpreter.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
-- Headers and libraries are found by the Makefile through pkg-config
-- (Debian puts curl.h under a multiarch directory luarocks does not search).
build = {
  type = "make",
  build_target = "lua54",
  build_variables = {
    LUA54_CFLAGS = "-I$(LUA_INCDIR)",
    LUA = "$(LUA)",
  },
  install_target = "install",
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
  },
}
