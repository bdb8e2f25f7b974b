#!/usr/bin/env bash
# install-deps.sh - installs what blockd needs to build and test, only when
# missing. Idempotent. Debian/Ubuntu (apt) only; elsewhere it prints what to
# install and fails.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build  build dependencies only (make run)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev
            libuv1-dev libopenblas-dev zlib1g-dev libssl-dev curl)
test_pkgs=(check python3 python3-numpy python3-torch python3-requests
           python3-venv python3-pip python3-jsonschema)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" != "--build" ]; then pkgs+=("${test_pkgs[@]}"); fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this is not a Debian/Ubuntu system. Install these" >&2
  echo "(or your distribution's equivalents) and re-run:" >&2
  echo "  ${pkgs[*]}" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
