#!/usr/bin/env bash
# Lays out DEST as a local add-on folder that Home Assistant builds itself: the add-on's files
# at its root (where the Supervisor looks for config.yaml and the Dockerfile), and beside them
# the sources the Dockerfile builds from, in the repository's layout, since the Supervisor's
# build context is the add-on folder, not this repository.
#
#   addon/stage.sh /addons/toposync_streaming    # on the HA host, or a mount of its addons share
#
# Only the entries it writes are replaced in DEST. See docs/home-assistant.md.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd -P)
# Checked before anything is made: DEST inside the repository would copy it into itself.
case $1 in
  /*) dest=$1 ;;
  *) dest=$PWD/$1 ;;
esac
dest=$(realpath -m "$dest" 2>/dev/null || echo "$dest")
if [[ $dest == "$repo" || $dest == "$repo"/* ]]; then
  echo "DEST must be outside the repository ($repo)" >&2
  exit 2
fi
mkdir -p "$dest"

entries=(config.yaml Dockerfile Dockerfile.dockerignore DOCS.md CHANGELOG.md README.md translations
  addon Cargo.toml Cargo.lock src actors stand-ins benches web)
for entry in "${entries[@]}"; do
  rm -rf "${dest:?}/$entry"
done

for file in config.yaml Dockerfile Dockerfile.dockerignore DOCS.md CHANGELOG.md README.md; do
  cp "$repo/addon/$file" "$dest/"
done
cp -R "$repo/addon/translations" "$dest/"
# The Dockerfile copies addon/run.sh, as in a build from the repository root.
mkdir -p "$dest/addon" "$dest/web"
cp "$repo/addon/run.sh" "$dest/addon/"
cp "$repo/Cargo.toml" "$repo/Cargo.lock" "$dest/"
for dir in src actors stand-ins benches; do
  cp -R "$repo/$dir" "$dest/"
done
cp -R "$repo/web/dist" "$dest/web/"

echo "staged the add-on in $dest: in Home Assistant, Settings > Add-ons > Add-on store >" \
  "Check for updates, then Local add-ons > Toposync Streaming > Install (it builds there)"
