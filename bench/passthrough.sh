#!/usr/bin/env bash
# CPU to serve one watched 720p H.264 camera (the GStreamer test camera, 1280x720 at 12 fps) with
# passthrough (`hls_native`: MediaMTX pulls the camera's stream itself, no FFmpeg) against
# transcoding (`hls_stable_apple_tv`: decoded, scaled and encoded with libx264 at 1280x720). Each
# output is watched alone by one RTSP reader (ffmpeg -c copy to null, not a child of the service:
# its own CPU is not counted); nothing is primed, the reader's request is the demand. After a
# warm-up, utime+stime from /proc of the service and all its children (MediaMTX and, when
# transcoding, the publisher's FFmpeg) over the window (default 20 s), the camera excluded.
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
codec_of() {
  curl -sf "$base/runtime/outputs" | python3 -c "
import json,sys
for o in json.load(sys.stdin)['outputs']:
    if o['output_key'] == '$tx:$1' and (o.get('publisher_pid') or o['publisher_state'] == 'relayed'):
        print(o['target']['video_codec'])"
}
rtsp=$(echo "$status" | python3 -c "import json,sys; print(json.load(sys.stdin)['ports']['rtsp'])")
hz=$(getconf CLK_TCK)
printf '| output | video | CPU, service + children (%% of a core) |\n|---|---|---|\n'
# Transcoding first: whatever lingers after its reader leaves counts against passthrough.
for output in hls_stable_apple_tv hls_native; do
  ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/$tx-$output" \
    -c copy -f null - &
  reader=$!
  video=""
  for _ in $(seq 60); do video=$(codec_of $output); [ -n "$video" ] && break; sleep 0.5; done
  sleep 6
  t0=$(ticks)
  per0=$(for p in $(tree "$pid"); do echo "$p $(awk '{print $14+$15}' /proc/$p/stat) $(tr '\0' ' ' </proc/$p/cmdline | cut -c1-40)"; done)
  sleep "$window"
  t1=$(ticks)
  kill "$reader" 2>/dev/null || { echo "the reader of $output stopped early" >&2; exit 1; }
  wait "$reader" 2>/dev/null || true
  if [ -n "${BREAKDOWN:-}" ]; then
    echo "$per0" | while read -r p t rest; do
      echo "  $p $(( $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo "$t") - t )) ticks: $rest" >&2
    done
  fi
  printf '| %s | %s | %s |\n' "$output" "$video" "$(echo "scale=1; 100 * ($t1 - $t0) / $hz / $window" | bc)"
  # The publisher stops a few seconds after its last reader.
  sleep 10
done
