#!/bin/bash
# Idle CPU (needs a built debug binary: cargo build) of the service with the real engine up: utime+stime over 30 s.
set -e
cd "$(dirname "$0")/.."
D=$(mktemp -d)
export TOPOSYNC_STREAMING_ENGINE_PATH=$(realpath ../shared/bin/mediamtx)
HOME=$D TOPOSYNC_AUTH_MODE=bypass ./target/debug/toposync-streaming serve --port 0 --data-dir $D > $D/out.log 2>&1 &
PID=$!
for i in $(seq 50); do grep -q listening $D/out.log && break; sleep 0.2; done
URL=$(grep -o 'http://[^ ]*' $D/out.log | head -1)
curl -s -X POST $URL/api/streams/engine/start -H 'content-type: application/json' -d '{}' > /dev/null
sleep 5
T0=$(awk '{print $14+$15}' /proc/$PID/stat)
sleep 30
T1=$(awk '{print $14+$15}' /proc/$PID/stat)
echo "service CPU over 30 s: $(( T1 - T0 )) ticks ($(echo "scale=2; ($T1-$T0)/30" | bc) % of a core)"
kill -INT $PID; wait $PID || true
