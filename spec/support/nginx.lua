-- A throwaway nginx on loopback for specs and benches: plain HTTP/1.1, or
-- TLS with HTTP/2 and a self-signed certificate made on the spot (no key
-- material lives in the repo).
local sh = require "spec.support.sh"

local M = {}

local function free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end
M.free_port = free_port

function M.available()
  return sh.ok("command -v nginx >/dev/null 2>&1") or sh.ok("test -x /usr/sbin/nginx")
end

local function nginx_bin()
  if sh.ok("command -v nginx >/dev/null 2>&1") then return "nginx" end
  return "/usr/sbin/nginx"
end

--- start{tls = bool, locations = "nginx location blocks"} -> server
--- server.url, server.cert (when tls), server:stop()
function M.start(opts)
  opts = opts or {}
  local dir = sh.tmpname()
  assert(sh.ok("mkdir -p " .. sh.q(dir)))
  local port = free_port()
  local listen = ("listen 127.0.0.1:%d%s;"):format(port, opts.tls and " ssl http2" or "")
  local tls = ""
  if opts.tls then
    local cmd = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes " ..
      "-keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=127.0.0.1 " ..
      "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"):format(sh.q(dir), sh.q(dir))
    assert(sh.ok(cmd), "openssl could not make a certificate")
    tls = ("ssl_certificate %s/cert.pem; ssl_certificate_key %s/key.pem;"):format(dir, dir)
  end
  local conf = ([[
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    %s
    %s
    %s
    location = /host { default_type text/plain; return 200 "$host"; }
    location = /connection { default_type text/plain; return 200 "$connection"; }
    location / { default_type text/plain; return 200 "ok"; }
  }
}
]]):format(dir, dir, dir, dir, dir, dir, dir, listen, tls, opts.locations or "")
  sh.write(dir .. "/nginx.conf", conf)
  local proc = sh.spawn(("exec %s -e %s/error.log -p %s -c %s/nginx.conf"):format(
    nginx_bin(), sh.q(dir), sh.q(dir), sh.q(dir)))
  local scheme = opts.tls and "https" or "http"
  local server = { url = ("%s://127.0.0.1:%d"):format(scheme, port), port = port, dir = dir, proc = proc,
    cert = opts.tls and dir .. "/cert.pem" or nil }
  -- Ready when the port accepts connections.
  local socket = require "socket"
  local up = sh.wait_for(function()
    local c = socket.tcp()
    c:settimeout(0.2)
    local ok = c:connect("127.0.0.1", port)
    c:close()
    return ok
  end, 10)
  if not up then
    sh.kill(proc)
    error("nginx did not start: " .. tostring(sh.read(dir .. "/error.log")) .. tostring(sh.read(proc.out)))
  end
  function server.stop()
    sh.kill(proc, "QUIT")
    os.execute("rm -rf " .. sh.q(dir))
  end
  return server
end

return M
