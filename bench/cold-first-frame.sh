#!/usr/bin/env bash
# Cold time to first frame from a reader's first request, with no prime: the release service
# with the real engine, one transmission (placeholder frames, 640x360, RTSP and HLS outputs).
# Each run waits until nothing encodes, then times `ffmpeg -frames:v 1` from its start to its
# first decoded frame, on RTSP and on the engine's HLS; prints each run and the median of 5.
# Usage: bench/cold-first-frame.sh [runs]   (needs ../shared/bin/mediamtx or TOPOSYNC_STREAMING_ENGINE_PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
. bench/with-engine.sh
port() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['ports']['$1'])" "$status"; }
rtsp=$(port rtsp); hls=$(port hls)
curl -sf -o /dev/null -X POST "$base/transmissions" -H 'content-type: application/json' \
  -d '{"id":"cold","name":"Cold","path":"cold","outputs":[{"id":"main","protocol":"rtsp","resolution":{"width":640,"height":360}},{"id":"web","protocol":"hls","resolution":{"width":640,"height":360}}]}'
encoding() {
  curl -sf "$base/transmissions/cold/demand" | python3 -c "import json,sys; print(sum(o['encoding'] for o in json.load(sys.stdin)['outputs']))"
}
wait_idle() { for _ in $(seq 120); do [ "$(encoding)" = 0 ] && return; sleep 0.5; done; echo "never idle" >&2; exit 1; }
# Seconds from the reader's start to its first decoded frame (ffmpeg exits after one frame).
first_frame() {
  local t0 t1
  t0=$(date +%s.%N)
  ffmpeg -v error "$@" -frames:v 1 -f null - </dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
sleep 2
# Two readers: ffmpeg with its default probing (it reads about two seconds of a 12 fps stream to
# estimate the frame rate before it decodes), and a player that starts at once (-analyzeduration 0),
# which shows the service's and the engine's own share.
printf '| transport | reader | runs (s) | median (s) |\n|---|---|---|---|\n'
for transport in rtsp hls; do
  if [ $transport = rtsp ]; then
    input=(-rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/cold-main")
  else
    input=(-i "http://127.0.0.1:$hls/cold-web/index.m3u8")
  fi
  for reader in default immediate; do
    probe=()
    [ $reader = immediate ] && probe=(-analyzeduration 0 -probesize 32)
    times=()
    for _ in $(seq "$runs"); do
      wait_idle
      times+=("$(first_frame "${probe[@]}" "${input[@]}")")
    done
    printf '| %s | %s | %s | %s |\n' "$transport" "$reader" "$(printf '%.2f ' "${times[@]}")" \
      "$(printf '%s\n' "${times[@]}" | median | xargs printf '%.2f')"
  done
done
