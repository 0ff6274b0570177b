#!/usr/bin/env bash
# Builds Tracktion's pluginval 1.0.3 (with JUCE 8.0.3) from ../shared/validators once per machine
# and prints the binary's path.
#   .ci/pluginval.sh                       # builds it when missing (about 2 + 6 minutes on 2 cores)
#   CONTINUO_VALIDATORS=DIR to cache elsewhere (default ~/.cache/continuo-validators)
#   CONTINUO_SHARED=DIR for the shared folder (default ../shared beside the checkout)
# Needs cmake, ninja, g++ and the Debian packages .ci/run installs (ALSA, JACK, LADSPA, X11 and GL
# headers). Curl and the web browser are off in pluginval's CMakeLists. The build's log goes to
# stderr; stdout is only the path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${CONTINUO_SHARED:-$here/../shared}
out=${CONTINUO_VALIDATORS:-$HOME/.cache/continuo-validators}
bin="$out/pluginval"
log() { printf '%s\n' "$*" >&2; }

if [ ! -x "$bin" ]; then
  src=$(ls "$shared"/validators/pluginval-*.tar.gz 2>/dev/null | head -1 || true)
  [ -n "$src" ] || { log "no pluginval sources in $shared/validators"; exit 1; }
  for tool in cmake ninja c++; do
    command -v "$tool" >/dev/null || { log "$tool is missing (apt-get install cmake ninja-build g++)"; exit 1; }
  done
  log "building pluginval from $(basename "$src") into $out"
  mkdir -p "$out"
  rm -rf "$out/src-pluginval" "$out/build-pluginval" && mkdir -p "$out/src-pluginval"
  tar -C "$out/src-pluginval" -xzf "$src"
  jobs=${CONTINUO_BUILD_JOBS:-$(nproc)}
  nice -n 10 cmake -S "$out/src-pluginval/pluginval" -B "$out/build-pluginval" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release >&2
  nice -n 10 ninja -C "$out/build-pluginval" -j "$jobs" pluginval >&2
  built=$(find "$out/build-pluginval" -type f -name pluginval -perm -u+x | head -1)
  [ -n "$built" ] || { log "the build made no pluginval binary"; exit 1; }
  cp "$built" "$bin.tmp" && mv "$bin.tmp" "$bin"
fi

echo "$bin"
