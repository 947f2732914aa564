#!/usr/bin/env bash
# wrk against the PeerHTTP server (one loop, 200 with a 2-byte body, keep-alive) and, in the same
# minute, against nginx (one worker, static 2-byte file). Needs Debian's wrk and nginx(-light).
#   Benchmarks/http-server/run.sh [DURATION]     (default 10s)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${1:-10s}
work="$root/.build-bench/http-server"
mkdir -p "$work/pkg/Sources/http-server" "$work/nginx/www"

# A throwaway package that depends on this one by path, so the benchmark adds no product here.
cat > "$work/pkg/Package.swift" <<PKG
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "http-server-bench",
    dependencies: [.package(path: "$root"), .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0")],
    targets: [.executableTarget(name: "http-server", dependencies: [
        .product(name: "PeerHTTP", package: "$(basename "$root")"), .product(name: "RaftIO", package: "$(basename "$root")"),
        .product(name: "HTTPTypes", package: "swift-http-types")])]
)
PKG
cp "$root/Benchmarks/http-server/main.swift" "$work/pkg/Sources/http-server/main.swift"
swift build -c release --package-path "$work/pkg" --scratch-path "$work/build" 2>&1 | tail -1
bin="$work/build/release/http-server"

ours=18080; theirs=18081
"$bin" $ours & pid=$!
trap 'kill $pid 2>/dev/null || true; [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ours/" && break; sleep 0.05; done

printf ok > "$work/nginx/www/index.html"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    server { listen 127.0.0.1:$theirs; root $work/nginx/www; }
}
CONF
nginx -c "$work/nginx/nginx.conf"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$theirs/" && break; sleep 0.05; done

echo "== PeerHTTP: wrk -t2 -c64 -d$duration http://127.0.0.1:$ours/"
wrk -t2 -c64 -d"$duration" "http://127.0.0.1:$ours/"
echo "== nginx (1 worker): wrk -t2 -c64 -d$duration http://127.0.0.1:$theirs/"
wrk -t2 -c64 -d"$duration" "http://127.0.0.1:$theirs/"
