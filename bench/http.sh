#!/usr/bin/env bash
# HTTP API benchmark: requests/s and p99 of GET /transmissions/{id}/urls at 1 and 8
# connections (wrk, 1 thread for 1 connection, else 2), and the service's idle RSS holding 50 transmissions.
# Usage: bench/http.sh   (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet
data=$(mktemp -d)
out=$(mktemp)
TOPOSYNC_AUTH_MODE=bypass ./target/release/toposync-streaming serve --port 0 --data-dir "$data" >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
base="$(sed -n 's/.*listening on //p' "$out")/api/streams"
for n in $(seq 1 50); do
  curl -sf -o /dev/null -X POST "$base/transmissions" -H 'content-type: application/json' \
    -d "{\"id\":\"t$n\",\"name\":\"Camera $n\",\"path\":\"cam-$n\",\"outputs\":[{\"id\":\"hls_main\",\"protocol\":\"hls\"},{\"id\":\"rtsp\",\"protocol\":\"rtsp\"}]}"
done
sleep 1
rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
url="$base/transmissions/t25/urls"
printf '| connections | requests/s | p50 | p99 |\n|---|---|---|---|\n'
for c in 1 8; do
  wrk -t$(( c < 2 ? 1 : 2 )) -c$c -d10s --latency "$url" >"$out.wrk"
  rps=$(awk '/Requests\/sec/ {print $2}' "$out.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$out.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$out.wrk")
  printf '| %s | %s | %s | %s |\n' "$c" "$rps" "$p50" "$p99"
done
rm -f "$out.wrk"
printf '\nidle RSS with 50 transmissions: %s KiB\n' "$rss_kib"
