#!/usr/bin/env bash
# Idle cost of the release service with the real engine up, 50 transmissions (two outputs each)
# and no viewer: CPU (utime+stime from /proc) of the service alone and of the service plus its
# children (MediaMTX), over a window (default 60 s), and the service's RSS.
# Usage: bench/idle-engine.sh [seconds]   (needs ../shared/bin/mediamtx or TOPOSYNC_STREAMING_ENGINE_PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-60}
. bench/with-engine.sh
for n in $(seq 1 50); do
  curl -sf -o /dev/null -X POST "$base/transmissions" -H 'content-type: application/json' \
    -d "{\"id\":\"t$n\",\"name\":\"Camera $n\",\"path\":\"cam-$n\",\"outputs\":[{\"id\":\"hls_main\",\"protocol\":\"hls\"},{\"id\":\"rtsp\",\"protocol\":\"rtsp\"}]}"
done
# Let creation settle (nothing was primed: creating a transmission demands nothing).
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
engine=$(pgrep -P "$pid" -f mediamtx | head -1)
s0=$(ticks "$pid"); e0=$(ticks "$engine")
sleep "$window"
s1=$(ticks "$pid"); e1=$(ticks "$engine")
hz=$(getconf CLK_TCK)
mib() { echo "scale=1; $(awk "/^$1:/ {print \$2}" "/proc/$pid/status") / 1024" | bc; }
share() { echo "scale=3; 100 * $1 / $hz / $window" | bc; }
# RSS split: anonymous (the service's own memory) and file-backed (its binary's mapped code).
printf '| window | service CPU | service + MediaMTX CPU | service RSS (anon + file) |\n|---|---|---|---|\n'
printf '| %s s | %s %% of a core | %s %% of a core | %s MiB (%s + %s) |\n' "$window" \
  "$(share $((s1 - s0)))" "$(share $((s1 - s0 + e1 - e0)))" "$(mib VmRSS)" "$(mib RssAnon)" "$(mib RssFile)"
