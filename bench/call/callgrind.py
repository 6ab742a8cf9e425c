#!/usr/bin/env python3
"""bench/call: where client:chat's Lua-layer instructions go.

usage: callgrind.py STUB.out DECODE.out CALLS
Two callgrind profiles of keel_call.lua (mode stub and mode decode, the same
number of calls): the difference per call is what client:chat adds to a bare
cjson.decode of the response, i.e. the Lua layer without the network. Prints
that difference by group (VM, tables, strings, calls, GC, malloc, encoder,
...) and the top functions. Function names inside Lua need a binary linked
with liblua5.4.a (the run script builds one); with the shared liblua they
show as addresses.
"""
import collections
import re
import subprocess
import sys

GROUPS = [
    ("Lua VM (bytecode)", r"^luaV_execute$"),
    ("tables: new keys, rehash, lookups", r"^(luaH_|getgeneric|mainposition|luaV_finish(get|set)$|luaT_gettm|numusehash|rehash|setnodevector|luaV_fastget)"),
    ("strings: interning", r"^(internshrstr|luaS_|createstrobj|luaV_concat|copy2buff)"),
    ("function calls", r"^(luaD_|luaF_|luaT_callTM|ccall|prepCallInfo|moveresults|luaE_)"),
    ("GC", r"^(propagatemark|reallymarkobject|sweep|luaC_|singlestep|atomic|freeobj|traverse|markbeingfnz|clearby|GCTM|entersweep|youngcollection|genstep|incstep|remarkupvals|convergeephemerons|udata2finalize|separatetobefnz|correctgraylist)"),
    ("allocator (malloc/free)", r"^(l_alloc|luaM_|_int_free|_int_malloc|malloc|free|realloc|_int_realloc|malloc_consolidate|unlink_chunk|tcache|cfree)"),
    ("keel.json.encode (src/lua/json.c)", r"^json\.c:"),
    ("JSON decode (cjson or src/core/jsondec.c)", r"(cjson|strtod|jsondec\.c:)"),
    ("Lua C API and auxlib", r"^(lua_|luaL_|index2value|aux_|luaB_|str_find_aux|lmemfind|tonum|l_str2|luaO_)"),
]


def load(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    fns = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or m.group(2).startswith("PROGRAM TOTALS"):
            continue
        ir = int(m.group(1).replace(",", ""))
        name = re.sub(r"\s*\[[^\]]*\]\s*$", "", m.group(2))   # the object file
        name = re.sub(r"'\d+", "", name)                        # recursion levels
        src = re.search(r"(json\.c|jsondec\.c):", name)
        if src:
            name = src.group(1) + ":" + name.split(":")[-1]
        else:
            name = name.split(":")[-1]                          # drop "???:" and source paths
        if "cjson" in m.group(2):
            name = "cjson:" + name
        fns[name] += ir
    return fns


def group_of(name):
    for label, pat in GROUPS:
        if re.search(pat, name):
            return label
    return "other"


def main():
    stub, dec, calls = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
    diff = collections.Counter()
    for k in set(stub) | set(dec):
        d = stub[k] - dec[k]
        if d:
            diff[k] = d
    total = sum(diff.values())
    print(f"client:chat over a bare cjson.decode: {total / calls:,.0f} instructions per call"
          f" (stub {sum(stub.values()) / calls:,.0f}, decode {sum(dec.values()) / calls:,.0f})")
    groups = collections.Counter()
    for k, v in diff.items():
        groups[group_of(k)] += v
    for label, v in groups.most_common():
        if abs(v) / calls >= 50:
            print(f"  {v / calls:8,.0f}  {100 * v / total:5.1f}%  {label}")
    print("  top functions:")
    for k, v in diff.most_common(16):
        print(f"    {v / calls:8,.0f}  {k}")


if __name__ == "__main__":
    main()
