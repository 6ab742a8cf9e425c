# Peer: python3's http.client on one kept-alive connection.
import http.client, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
body = open(sys.argv[2], "rb").read()
n = int(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
def one():
    c.request("POST", u.path, body, h)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit("status %d" % r.status)
one()
t0 = time.perf_counter()
for _ in range(n):
    one()
print("%.3f" % ((time.perf_counter() - t0) * 1e6 / n))
