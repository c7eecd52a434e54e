#!/usr/bin/env bash
# Installs the system packages the checker needs, only when they are missing:
#   ffmpeg          decoding of MP3/OGG/Opus/AAC/M4A/FLAC/WAV (and encoding for the demo uploads)
#   libchromaprint1 the Chromaprint library that pyacoustid loads
# Debian/Ubuntu (apt-get) as root or through sudo; elsewhere it says what to install.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
if ! ldconfig -p 2>/dev/null | grep -q 'libchromaprint\.so'; then missing+=(libchromaprint1); fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: please install: $pkgs (no apt-get on this machine)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-system-deps: need root to install: $pkgs" >&2; exit 1; fi
fi
echo "install-system-deps: installing $pkgs"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (an unattended upgrade, a second install) instead of
# failing at once on its lock.
lock=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${lock[@]}" update -qq
# shellcheck disable=SC2086
$SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends $pkgs
