#!/bin/bash
# End-to-end benchmark of a 3-member raftexample cluster on loopback: wrk PUTs at fixed
# concurrency through member 1, then a read-back of each wrk thread's last key.
#
#   Examples/bench/raftexample-bench.sh swift|etcd [seconds] [wrk threads] [connections]
#
# swift: .build-kv/release/raftexample (swift build -c release --product raftexample)
# etcd:  etcd 3.4's contrib/raftexample from Debian's golang-etcd-server-dev, built in GOPATH mode:
#        GOPATH=/usr/share/gocode GO111MODULE=off go build -o /tmp/etcd-raftexample/raftexample \
#            go.etcd.io/etcd/contrib/raftexample
# Prints: answered PUTs/s (2xx only) with wrk's p50/p99 latency (etcd's raftexample answers a PUT once it is
# proposed; ours once it is committed and applied), and commits/s = answered PUTs / (run time +
# the time until every thread's last key reads back from member 1).
set -euo pipefail
kind=${1:?swift or etcd}; seconds=${2:-10}; threads=${3:-2}; connections=${4:-32}
here=$(cd "$(dirname "$0")" && pwd)
case $kind in
  swift) bin=${SWIFT_RAFTEXAMPLE:-$here/../../.build-kv/release/raftexample} ;;
  etcd)  bin=${ETCD_RAFTEXAMPLE:-/tmp/etcd-raftexample/raftexample} ;;
  *) echo "usage: $0 swift|etcd [seconds] [threads] [connections]" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/raftexample-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cluster=http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379
cd "$work"
for i in 1 2 3; do
  # shellcheck disable=SC2086 # EXTRA_FLAGS: extra flags for the member (e.g. --snapshot-count 1000000000)
  "$bin" --id $i --cluster $cluster --port ${i}2380 ${EXTRA_FLAGS:-} > member$i.log 2>&1 &
  pids+=($!)
done
# Ready once a write reads back from member 1 (etcd's PUT answers before commit).
for _ in $(seq 1 300); do
  curl -s -o /dev/null -XPUT -d ready http://127.0.0.1:12380/ready || true
  [ "$(curl -s http://127.0.0.1:12380/ready || true)" = ready ] && break
  sleep 0.1
done
[ "$(curl -s http://127.0.0.1:12380/ready)" = ready ] || { echo "cluster not ready" >&2; tail member*.log >&2; exit 1; }
start=$(date +%s.%N)
wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$here/put.lua" http://127.0.0.1:12380 > wrk.txt
end=$(date +%s.%N)
missing=0
for key in $(sed -n 's/^last-key //p' wrk.txt); do
  found=0
  for _ in $(seq 1 600); do  # 30 s at most per key
    if [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:12380$key)" = 200 ]; then found=1; break; fi
    sleep 0.05
  done
  [ $found = 1 ] || missing=$((missing + 1))
done
applied=$(date +%s.%N)
answered=$(sed -n 's/^answered \([0-9]*\) non2xx \([0-9]*\).*/\1 \2/p' wrk.txt | awk '{ print $1 - $2 }')
read -r p50 p99 < <(sed -n 's/^latency-us p50 \([0-9]*\) p99 \([0-9]*\)/\1 \2/p' wrk.txt)
awk -v k="$kind" -v a="$answered" -v s="$start" -v e="$end" -v ap="$applied" -v p50="$p50" -v p99="$p99" 'BEGIN {
  run = e - s; drain = ap - e
  printf "%-6s answered PUTs/s %8.0f   p50 %6.2f ms   p99 %7.2f ms   commits/s %8.0f   (run %.1f s, read-back drain %.2f s)\n",
         k, a / run, p50 / 1000, p99 / 1000, a / (run + drain), run, drain }'
[ $missing = 0 ] || echo "$kind: $missing last key(s) not readable 30 s after the run: commits/s above is not valid"
grep -E "Non-2xx|Socket errors" wrk.txt || true
# Which member led (ours logs its raft state; etcd's raft logs "became leader").
grep -hoE "local-member-id=[0-9a-f]+ role=leader|[0-9a-f]+ became leader at term [0-9]+" member*.log | sed 's/^/leader: /' | sort -u || true
