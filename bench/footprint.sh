#!/usr/bin/env bash
# footprint.sh - the CPU path's footprint (issue 14 targets: binary under
# 5 MB, idle RSS under 30 MB, first /v1/health under 100 ms after exec):
# the stripped size of blockd, its resident memory once idle, and the time
# from exec to the first answered /v1/health (median of 5 starts).
#   bench/footprint.sh BUILD_DIR
set -euo pipefail
build="${1:-build}"
bin="$build/blockd"
tmp="$(mktemp -d)"
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$tmp"' EXIT
strip -o "$tmp/blockd.stripped" "$bin"
size=$(stat -c %s "$tmp/blockd.stripped")
times=()
rss=0
for i in 1 2 3 4 5; do
  rm -rf "$tmp/data"
  t0=$(date +%s%N)
  BLOCKD_CUDA_MODULE=none "$bin" --listen 127.0.0.1:0 --data-dir "$tmp/data" \
    --log-level warn > "$tmp/out" 2>&1 &
  pid=$!
  port=""
  until [ -n "$port" ]; do
    port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/out" | head -1)
  done
  until curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null; do :; done
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000 )))
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid" || true
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
printf '{"bench":"footprint","binary_bytes":%d,"idle_rss_kib":%d,"first_health_us":%d}\n' \
  "$size" "$rss" "$median"
printf 'footprint: binary %.2f MB (stripped), idle RSS %.1f MB, first /v1/health %.1f ms after exec\n' \
  "$(echo "$size/1000000" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$(echo "${median}/1000" | bc -l)"
