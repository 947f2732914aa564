# Measures how many connection attempts a flood of POST /raft heartbeats from made-up senders, whose
# X-PeerURLs name a listener we control, causes at that listener (the observer answers each sender).
# Usage: python3 docs/scripts/learned-dial-flood.py <rafthttp binary> [rafthttp peer flags...]
import socket, threading, time, random, subprocess, sys, http.client, os
binary, extra, seconds = sys.argv[1], sys.argv[2:], 10
# The listener a hostile sender names: accepts, counts, never answers.
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); lst.bind(("127.0.0.1", 0)); lst.listen(4096)
lport = lst.getsockname()[1]; accepted = [0]; held = []
def acceptor():
    while True:
        c, _ = lst.accept(); accepted[0] += 1; held.append(c)
threading.Thread(target=acceptor, daemon=True).start()
port = random.randint(24000, 24900)
url = f"http://127.0.0.1:{port}"
p = subprocess.Popen([binary, "peer", "--name", "s", "--initial-cluster", f"s={url}", "--listen-peer-urls", url,
                      "--initial-advertise-peer-urls", url, "--data-dir", f"/tmp/learned-dial-flood-{port}", "--log-level", "error"] + extra)
for _ in range(200):
    try: socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.05)
def varint(n):
    out = b""
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def post(conn, sender, cid):
    body = b"\x08" + varint(8) + b"\x10" + varint(0) + b"\x18" + varint(sender) + b"\x20" + varint(5)
    conn.request("POST", "/raft", body, {"X-Server-From": format(sender, "x"), "X-Server-Version": "3.4.23",
                 "X-Min-Cluster-Version": "3.0.0", "X-Etcd-Cluster-ID": cid, "X-PeerURLs": f"http://127.0.0.1:{lport}",
                 "Content-Type": "application/protobuf"})
    r = conn.getresponse(); r.read(); return r
conn = http.client.HTTPConnection("127.0.0.1", port)
cid = post(conn, 0xdead, "1").getheader("X-Etcd-Cluster-ID")
n = 0; statuses = {}; start = time.time()
while time.time() - start < seconds:
    r = post(conn, random.randint(1 << 32, 1 << 62), cid); n += 1; statuses[r.status] = statuses.get(r.status, 0) + 1
time.sleep(1)
print(f"flags {extra or 'default'}: {n} posts in {seconds}s from new senders {statuses}, connection attempts at the named listener: {accepted[0]}")
p.terminate(); p.wait()
