#!/usr/bin/env bash
# device-check.sh - the GPU device check. Runs on a GPU machine from the
# repository root, with the bundle made by scripts/gpu-bundle.sh carried
# (build-gpu/bundle.tar.xz, unpacked here into build-gpu/, or the unpacked
# build-gpu/ itself):
#
#   1. prints the GPU (nvidia-smi) and finds the host's cuBLAS 13
#   2. the backend conformance suite: every op on cuda:N against the CPU,
#      and model moves cpu -> cuda:N -> cpu (bit-identical)
#   3. the HTTP integration suites with BLOCKD_TEST_DEVICE=cuda:0
#   4. the PyTorch parity suites against the host's torch (skipped with a
#      message when python3 has no torch)
#   5. the benchmark: the 1024-4096-4096-1024 MLP at batch 256, blockd vs
#      torch on the same GPU, and HTTP forward latency of the seed MLP
#
# Everything runs under `timeout` within 8 minutes (DEVICE_CHECK_BUDGET
# seconds, default 480). Logs go to $OUT (default: a new temporary folder);
# the summary table is printed last and saved as $OUT/summary.txt.
#
# DEVICE_CHECK_DEVICE=cpu runs steps 3-5 on the CPU instead (a dry run of
# this script's machinery on a machine without a GPU).
#
# Exit status: 0 every step ran and passed; 1 a step failed (or the bundle
# is unusable); 3 no usable GPU: the GPU steps were reported SKIPPED (the
# CPU conformance run still ran and passed).
set -u

start=$(date +%s)
budget=${DEVICE_CHECK_BUDGET:-480}
OUT=${OUT:-$(mktemp -d /tmp/device-check.XXXXXX)}
mkdir -p "$OUT"
bd=${BUILD_DIR:-build-gpu}
case $bd in /*) ;; *) bd=$PWD/$bd ;; esac
dev=${DEVICE_CHECK_DEVICE:-cuda:0}
py=${PYTHON:-python3}
summary=()
failed=0

row() { # step, result, detail
  summary+=("$(printf '%-28s %-8s %s' "$1" "$2" "$3")")
  [ "$2" = FAIL ] && failed=1
  echo "== $1: $2 $3"
}

# Seconds a step may take: its own cap, less what the budget has left
# (keeping 20 s for the summary).
left() {
  local cap=$1 rem=$((budget - ($(date +%s) - start) - 20))
  [ "$rem" -lt "$cap" ] && cap=$rem
  [ "$cap" -lt 1 ] && cap=1
  echo "$cap"
}

# ---- 1. the GPU and the bundle -------------------------------------------
gpu=0
if command -v nvidia-smi >/dev/null &&
   timeout 30 nvidia-smi >"$OUT/gpu.txt" 2>&1; then
  timeout 15 nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version \
    --format=csv >>"$OUT/gpu.txt" 2>&1
  cat "$OUT/gpu.txt"
  gpu=1
  row "gpu" "ok" "$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
else
  echo "no GPU: nvidia-smi missing or failing" | tee "$OUT/gpu.txt"
  row "gpu" "SKIPPED" "no nvidia-smi / no GPU on this machine"
fi

if [ ! -x "$bd/blockd" ] && [ -f "$bd/bundle.tar.xz" ]; then
  if command -v xz >/dev/null; then
    tar -C "$bd" -xJf "$bd/bundle.tar.xz"
  else
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$bd/bundle.tar.xz" "$bd"
  fi
fi
# cuBLAS comes from the host: the toolkit, the loader cache, or a pip wheel.
cublas_dir=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
         /usr/local/cuda-13*/lib64; do
  [ -e "$d/libcublas.so.13" ] && { cublas_dir=$d; break; }
done
if [ -z "$cublas_dir" ]; then
  f=$(ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13 / {print $NF; exit}')
  [ -n "$f" ] && cublas_dir=$(dirname "$f")
fi
if [ -z "$cublas_dir" ]; then
  f=$("$py" -c 'import site, glob, sys
for s in site.getsitepackages() + [site.getusersitepackages()]:
    for p in glob.glob(s + "/nvidia/**/libcublas.so.13", recursive=True):
        print(p); sys.exit()' 2>/dev/null)
  [ -n "$f" ] && cublas_dir=$(dirname "$f")
fi
[ -n "$cublas_dir" ] && export LD_LIBRARY_PATH=$cublas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ ! -x "$bd/blockd" ] || ldd "$bd/blockd" | grep -q "not found"; then
  ldd "$bd/blockd" >"$OUT/ldd.txt" 2>&1
  row "bundle" "FAIL" "blockd missing or libraries not found (see ldd.txt; cublas: ${cublas_dir:-none})"
  printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
  exit 1
fi
row "bundle" "ok" "cuBLAS from ${cublas_dir:-<not found: CPU only>}"

# ---- 2. conformance -------------------------------------------------------
{
  timeout "$(left 60)" "$bd/tests/test_backend_ops"
  echo "cpu exit status $?"
  timeout "$(left 150)" "$bd/tests/test_backend_ops" --cuda
  echo "cuda exit status $?"
  timeout "$(left 60)" "$bd/tests/test_device_move" --cuda
  echo "move exit status $?"
} >"$OUT/conformance.log" 2>&1
move_rc=$(sed -n 's/^move exit status //p' "$OUT/conformance.log")
cpu_rc=$(sed -n 's/^cpu exit status //p' "$OUT/conformance.log")
cuda_rc=$(sed -n 's/^cuda exit status //p' "$OUT/conformance.log")
[ "$cpu_rc" = 0 ] && row "conformance cpu" "ok" "$(grep -m1 -E '^[0-9]+%: Checks' "$OUT/conformance.log")" ||
  row "conformance cpu" "FAIL" "exit $cpu_rc (conformance.log)"
case "$cuda_rc" in
  0) row "conformance cuda" "ok" "$(grep -E '^[0-9]+%: Checks' "$OUT/conformance.log" | sed -n 2p)" ;;
  77) row "conformance cuda" "SKIPPED" "$(grep -m1 SKIPPED "$OUT/conformance.log")" ;;
  *) row "conformance cuda" "FAIL" "exit $cuda_rc: $(grep -m1 -E 'Failure|Error' "$OUT/conformance.log" | cut -c1-160)" ;;
esac
case "$move_rc" in
  0) row "device moves cuda" "ok" "cpu -> every cuda:N -> cpu bit-identical" ;;
  77) row "device moves cuda" "SKIPPED" "$(grep -m1 'test_device_move.*SKIPPED' "$OUT/conformance.log")" ;;
  *) row "device moves cuda" "FAIL" "exit $move_rc (conformance.log)" ;;
esac

# ---- 3 and 4. HTTP integration and parity on cuda:0 ----------------------
pyok=0
"$py" -c 'import requests, numpy' 2>/dev/null && pyok=1
run_suites() { # kind, log, device
  local kind=$1 log=$2 dev=$3 pass=0 fail=0 skip=0 names=""
  : >"$log"
  for t in tests/"$kind"/test_*.py; do
    [ -e "$t" ] || continue
    local cap
    cap=$(left 90)
    echo "### $t (BLOCKD_TEST_DEVICE=$dev, timeout $cap s)" >>"$log"
    BLOCKD_TEST_DEVICE=$dev BLOCKD_BIN=$bd/blockd \
      BLOCKD_TESTHOOKS_BIN=$bd/blockd-testhooks BLOCKD_BUILD_DIR=$bd \
      PYTHONPATH=$PWD/tests/lib PYTHONUNBUFFERED=1 \
      timeout "$cap" "$py" "$t" >>"$log" 2>&1
    local rc=$?
    echo "### exit status $rc" >>"$log"
    if [ $rc = 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); names="$names $(basename "$t" .py)"; fi
    skip=$((skip + $(tail -5 "$log" | sed -n 's/.*skipped=\([0-9]*\).*/\1/p' | head -1 | grep . || echo 0)))
  done
  echo "$pass $fail $skip$names"
}
run_dev=0
# A failed conformance run does not stop the rest: their logs help find
# the cause. Only an absent device (exit 77) does.
{ [ "$gpu" = 1 ] && [ "$cuda_rc" != 77 ]; } || [ "$dev" = cpu ] && run_dev=1
if [ "$run_dev" = 1 ] && [ "$pyok" = 1 ]; then
  read -r p f s names <<<"$(run_suites http "$OUT/http.log" "$dev")"
  [ "$f" = 0 ] && row "http suites on $dev" "ok" "$p suites passed, $s cases skipped" ||
    row "http suites on $dev" "FAIL" "$f of $((p + f)) suites failed:$names (http.log)"
  if "$py" -c 'import torch' 2>/dev/null; then
    read -r p f s names <<<"$(run_suites parity "$OUT/parity.log" "$dev")"
    [ "$f" = 0 ] && row "parity on $dev" "ok" "$p suites passed vs torch $("$py" -c 'import torch; print(torch.__version__)')" ||
      row "parity on $dev" "FAIL" "$f of $((p + f)) suites failed:$names (parity.log)"
  else
    row "parity on $dev" "SKIPPED" "python3 has no torch"
  fi
else
  why="no GPU"
  [ "$gpu" = 1 ] && [ "$cuda_rc" = 77 ] && why="blockd sees no CUDA device"
  [ "$pyok" = 0 ] && why="$why; $py lacks requests/numpy"
  row "http suites on $dev" "SKIPPED" "$why"
  row "parity on $dev" "SKIPPED" "$why"
fi

# ---- 5. benchmark ---------------------------------------------------------
if [ "$run_dev" = 1 ] && [ "$pyok" = 1 ]; then
  BLOCKD_BIN=$bd/blockd PYTHONUNBUFFERED=1 timeout "$(left 120)" \
    "$py" tests/gpu/bench_gpu.py --device "$dev" \
    --bench-bin "$bd/bench/bench_gpu_mlp" --out "$OUT/bench.json" \
    --seconds 3 >"$OUT/bench.log" 2>&1
  rc=$?
  if [ $rc = 0 ]; then
    while read -r line; do
      row "bench" "ok" "$line"
    done < <("$py" -c 'import json, sys
for r in json.load(open(sys.argv[1])):
    print(" ".join("%s=%s" % kv for kv in r.items()))' "$OUT/bench.json")
  else
    row "bench" "FAIL" "exit $rc (bench.log)"
  fi
else
  row "bench" "SKIPPED" "needs a CUDA device blockd sees and $py with requests"
fi

# ---- summary --------------------------------------------------------------
{
  echo
  echo "device check summary ($(( $(date +%s) - start )) s, logs in $OUT)"
  printf '%-28s %-8s %s\n' "step" "result" "detail"
  printf '%s\n' "${summary[@]}"
} | tee "$OUT/summary.txt"
[ "$failed" = 1 ] && exit 1
[ "$gpu" = 0 ] || [ "$cuda_rc" = 77 ] && exit 3
exit 0
