# Sourced by the engine benches: builds the release service, starts it (authentication bypassed,
# a fresh data dir) with the real engine running, and stops it on exit. Sets `pid` (the
# service), `base` (its API root) and `status` (the engine's start answer, with its ports).
export TOPOSYNC_STREAMING_ENGINE_PATH=${TOPOSYNC_STREAMING_ENGINE_PATH:-$(realpath ../shared/bin/mediamtx)}
cargo build --release --quiet
data=$(mktemp -d)
out=$(mktemp)
TOPOSYNC_AUTH_MODE=bypass HOME=$data ./target/release/toposync-streaming serve --port 0 --data-dir "$data" >"$out" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
base="$(sed -n 's/.*listening on //p' "$out" | head -1)/api/streams"
status=$(curl -sf -X POST "$base/engine/start" -H 'content-type: application/json' -d '{}')
