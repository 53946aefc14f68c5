#!/usr/bin/env bash
# CPU to serve one watched 720p H.264 camera (the GStreamer test camera, 1280x720 at 12 fps) with
# passthrough (`hls_native`: the camera's stream relayed with -c:v copy) against transcoding
# (`hls_stable_apple_tv`: decoded, scaled and encoded with libx264 at 1280x720). Each output is
# primed alone; after a warm-up, utime+stime from /proc of the service and all its children
# (MediaMTX and the publisher's FFmpeg) over the window (default 20 s), the camera excluded.
# PATTERN=pan makes the camera's picture busier (bars panning past) than its default ball on black.
# BREAKDOWN=1 also prints each process's ticks on stderr.
# Usage: bench/passthrough.sh [seconds]   (needs ../shared/bin/mediamtx or TOPOSYNC_STREAMING_ENGINE_PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-20}
. bench/with-engine.sh
cam_port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
/usr/bin/python3 tests/cameras/rtsp_test_camera.py "$cam_port" 1280x720 12 h264 "${PATTERN:-ball}" >/dev/null &
camera=$!
trap 'kill $camera 2>/dev/null; kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
sleep 1
curl -sf -o /dev/null -X POST "$base/../../api/cameras" -H 'content-type: application/json' \
  -d "{\"id\":\"cam\",\"name\":\"Cam\",\"sources\":[{\"id\":\"main\",\"role\":\"main\",\"is_default\":true,\"origin\":{\"rtsp_url\":\"rtsp://127.0.0.1:$cam_port/cam\"}}]}"
tx=tx-camera-cam-main-main
# The service and every descendant, alive now.
tree() { local p=$1; echo "$p"; for c in $(pgrep -P "$p"); do tree "$c"; done; }
ticks() { for p in $(tree "$pid"); do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0; done | paste -sd+ | bc; }
encoding() {
  curl -sf "$base/transmissions/$tx/demand" | python3 -c "import json,sys; print(sum(o['encoding'] for o in json.load(sys.stdin)['outputs']))"
}
codec_of() {
  curl -sf "$base/runtime/outputs" | python3 -c "
import json,sys
for o in json.load(sys.stdin)['outputs']:
    if o['output_key'] == '$tx:$1' and o.get('publisher_pid'):
        print(o['target']['video_codec'])"
}
hz=$(getconf CLK_TCK)
printf '| output | video | CPU, service + children (%% of a core) |\n|---|---|---|\n'
for output in hls_native hls_stable_apple_tv; do
  for _ in $(seq 120); do [ "$(encoding)" = 0 ] && break; sleep 0.5; done
  curl -sf -o /dev/null -X POST "$base/transmissions/$tx/demand/prime?output_id=$output&ttl_seconds=$((window + 10))" \
    -H 'content-type: application/json' -d '{}'
  video=""
  for _ in $(seq 60); do video=$(codec_of $output); [ -n "$video" ] && break; sleep 0.5; done
  sleep 4
  t0=$(ticks)
  per0=$(for p in $(tree "$pid"); do echo "$p $(awk '{print $14+$15}' /proc/$p/stat) $(tr '\0' ' ' </proc/$p/cmdline | cut -c1-40)"; done)
  sleep "$window"
  t1=$(ticks)
  if [ -n "${BREAKDOWN:-}" ]; then
    echo "$per0" | while read -r p t rest; do
      echo "  $p $(( $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo "$t") - t )) ticks: $rest" >&2
    done
  fi
  printf '| %s | %s | %s |\n' "$output" "$video" "$(echo "scale=1; 100 * ($t1 - $t0) / $hz / $window" | bc)"
done
