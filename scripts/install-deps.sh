#!/usr/bin/env bash
# install-deps.sh - installs what blockd needs to build and test, only when
# missing. Idempotent. Debian/Ubuntu (apt) only; elsewhere it prints what to
# install and fails.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build  build dependencies only (make run)
#   scripts/install-deps.sh --ci     build + test + what .ci/run adds: clang
#                                    (Release build, libFuzzer targets, their
#                                    sanitizer runtimes), clang-format, git
#   scripts/install-deps.sh --bench  build + test + what `make bench` adds:
#                                    wrk and the FastAPI + uvicorn peer of
#                                    bench/http_bench.py (uvloop and
#                                    httptools: the peer's fastest setup)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev
            libuv1-dev libopenblas-dev zlib1g-dev libssl-dev curl)
# prometheus: its promtool lints every /metrics scrape in
# tests/http/test_metrics.py (`promtool check metrics`). openssl makes the
# throwaway certificates of tests/http/test_tls.py. yamllint, systemd
# (systemd-analyze) and python3-yaml check docker/ (tests/deploy);
# python3-yaml also reads proto/openapi.yaml (tests/http/test_openapi.py).
# chromium, chromium-driver, python3-selenium: tests/browser/test_console.py
# drives the web console in headless Chromium.
test_pkgs=(check python3 python3-numpy python3-torch python3-requests openssl
           python3-venv python3-pip python3-jsonschema prometheus yamllint
           systemd python3-yaml chromium chromium-driver python3-selenium)
ci_pkgs=(clang clang-format git)
bench_pkgs=(wrk python3-fastapi python3-uvicorn python3-uvloop
            python3-httptools)
# Debian 12 ships clang's sanitizer and libFuzzer runtimes separately;
# elsewhere (Ubuntu 22.04) they come with clang. Installed where it exists.
ci_optional_pkgs=(libclang-rt-dev)

mode=${1:-}
case "$mode" in
  ""|--build|--ci|--bench) ;;
  *) echo "usage: $0 [--build|--ci|--bench]" >&2; exit 2 ;;
esac
pkgs=("${build_pkgs[@]}")
optional=()
if [ "$mode" != "--build" ]; then pkgs+=("${test_pkgs[@]}"); fi
if [ "$mode" = "--bench" ]; then pkgs+=("${bench_pkgs[@]}"); fi
if [ "$mode" = "--ci" ]; then
  pkgs+=("${ci_pkgs[@]}")
  optional=("${ci_optional_pkgs[@]}")
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this is not a Debian/Ubuntu system. Install these" >&2
  echo "(or your distribution's equivalents) and re-run:" >&2
  echo "  ${pkgs[*]}" >&2
  exit 1
fi

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = \
    "install ok installed" ]
}
missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
missing_optional=()
for p in "${optional[@]}"; do installed "$p" || missing_optional+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"
  elif [ ${#missing[@]} -eq 0 ]; then exit 0  # only optional ones missing
  else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
for p in "${missing_optional[@]}"; do
  if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
