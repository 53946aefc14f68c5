#!/usr/bin/env bash
# The add-on's entry point (under tini, the image's PID 1): maps the options Home Assistant writes
# to /data/options.json onto the service's environment, then execs the service on the ingress
# port (8100, all interfaces of the add-on's network) with its data in /data/toposync. Options
# are read with jq; token values are never printed.
#
# ADDON_DATA replaces /data, to try the script outside Home Assistant.
set -euo pipefail

data=${ADDON_DATA:-/data}
state=$data/toposync

say() { echo "toposync add-on: $*" >&2; }

json='{}'
if [[ -e $data/options.json ]]; then
  if ! json=$(jq -c 'if type == "object" then . else error("not a JSON object") end' \
    "$data/options.json"); then
    say "$data/options.json is unreadable; fix the add-on's configuration"
    exit 1
  fi
else
  say "no $data/options.json; using the defaults"
fi

# The option as text, trimmed; nothing when it is absent, null or blank.
text() {
  jq -r --arg key "$1" '.[$key] // empty | tostring | gsub("^\\s+|\\s+$"; "")' <<<"$json"
}
# A bool option as true|false (absent is false).
flag() {
  jq -r --arg key "$1" 'if .[$key] == true then "true" else "false" end' <<<"$json"
}
# A bool option as true|false, or nothing when it is absent (an options file from before it).
maybe_flag() {
  jq -r --arg key "$1" 'if .[$key] == null then empty elif .[$key] == true then "true" else "false" end' \
    <<<"$json"
}
# Exports $1=$2 unless $2 is empty: an unset variable leaves the service's own default.
export_set() {
  if [[ -n $2 ]]; then
    export "$1=$2"
  fi
}
# A list option as the comma-separated list the service reads; blank entries dropped.
list() {
  jq -r --arg key "$1" \
    '[.[$key] // [] | if type == "array" then .[] else . end | tostring
      | gsub("^\\s+|\\s+$"; "") | select(length > 0)] | join(",")' <<<"$json"
}

level=$(text log_level)
level=${level:-info}
case $level in
  trace | debug | info | error) export TOPOSYNC_LOG=$level ;;
  # Home Assistant says warning; the service's filter (tracing) takes warn.
  warning) export TOPOSYNC_LOG=warn ;;
  *)
    say "unknown log_level '$level'; using info"
    export TOPOSYNC_LOG=info
    ;;
esac

allowed_hosts=$(list allowed_hosts)
export_set TOPOSYNC_ALLOWED_HOSTS "$allowed_hosts"
# Engine settings applied at every start (the dashboard's change lasts until the next one).
expose=$(maybe_flag expose_to_lan)
export_set TOPOSYNC_STREAMING_EXPOSE_TO_LAN "$expose"
ice_servers=$(list webrtc_ice_servers)
export_set TOPOSYNC_STREAMING_WEBRTC_ICE_SERVERS "$ice_servers"
webrtc_hosts=$(list webrtc_additional_hosts)
export_set TOPOSYNC_STREAMING_WEBRTC_ADDITIONAL_HOSTS "$webrtc_hosts"
native_webrtc=$(flag native_webrtc)
export TOPOSYNC_HOME_ASSISTANT_NATIVE_WEBRTC_ENABLED=$native_webrtc
if [[ $(flag demo) == true ]]; then
  export TOPOSYNC_STREAMING_DEMO=true
fi
rtsp_host=$(text home_assistant_rtsp_host)
export_set TOPOSYNC_HOME_ASSISTANT_RTSP_HOST "$rtsp_host"
go2rtc_sha256=$(text go2rtc_sha256)
export_set TOPOSYNC_STREAMING_GO2RTC_SHA256 "$go2rtc_sha256"

# An empty token must stay unset: set but empty, the service neither replaces the stored token
# nor prints the one it generates.
credentials=()
admin_token=$(text admin_token)
if [[ -n $admin_token ]]; then
  export TOPOSYNC_ADMIN_TOKEN=$admin_token
  credentials+=("admin from the options")
fi
viewer_token=$(text viewer_token)
if [[ -n $viewer_token ]]; then
  export TOPOSYNC_VIEWER_TOKEN=$viewer_token
  credentials+=("viewer from the options")
fi
unset admin_token viewer_token json

# Settings, credentials, logs and the downloaded MediaMTX and go2rtc all live in /data, which
# Home Assistant keeps across restarts, updates and in backups.
mkdir -p "$state"
# Trusts the Supervisor's ingress proxy (172.30.32.2) as admin, and only it with X-Ingress-Path.
export TOPOSYNC_DEPLOYMENT_TARGET=home_assistant_addon
export TOPOSYNC_DATA_DIR=$state
export TOPOSYNC_STREAMING_ENGINE_CACHE_DIR=$state/runtime
export TOPOSYNC_STREAMING_GO2RTC_CACHE_DIR=$state/runtime

say "data in $state, log level $TOPOSYNC_LOG, allowed hosts: ${allowed_hosts:-(none beyond IP addresses and the add-on host name)}"
say "WebRTC additional hosts: ${webrtc_hosts:-(none)}; native WebRTC for Home Assistant: $native_webrtc"
if [[ ${#credentials[@]} -gt 0 ]]; then
  say "credentials: ${credentials[*]}"
else
  say "credentials: the tokens generated at the first start (printed once, in this log)"
fi
say "LAN exposure: ${expose:-(as stored)}; ICE servers: ${ice_servers:-(as stored)}"

exec toposync-streaming serve --host 0.0.0.0 --port 8100 --data-dir "$state"
