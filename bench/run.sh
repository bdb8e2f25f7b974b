#!/usr/bin/env bash
# run.sh - blockd's benchmarks against PyTorch on this machine, in one run:
# in-process forward passes (bench_engine vs bench_torch.py, same cases,
# same timing method, same thread count), the raw sgemm ceiling, and HTTP
# latency of a batch-1 forward against the HTTP floor.
#   bench/run.sh BUILD_DIR [--quick]
# BENCH_THREADS sets the thread count of both sides (default: all cores).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
quick="${2:-}"
py=/usr/bin/python3
threads="${BENCH_THREADS:-$(nproc)}"
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "blockd benchmarks: $(nproc) cores, $threads threads each side" \
     "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
"$build/bench/bench_engine" $quick > "$tmp/blockd.jsonl"
"$py" "$here/bench_torch.py" $quick --threads "$threads" > "$tmp/torch.jsonl"
BLOCKD_BIN="$build/blockd" "$py" "$here/bench_http.py" "$build/blockd" \
    $quick > "$tmp/http.jsonl"

"$py" - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
def load(f):
    return [json.loads(l) for l in open(f"{d}/{f}") if l.strip()]
b, t, h = load("blockd.jsonl"), load("torch.jsonl"), load("http.jsonl")
def us(s):
    return "%10.2f us" % (s * 1e6) if s < 1e-2 else "%10.2f ms" % (s * 1e3)
print()
print("%-22s %5s %13s %13s %9s %9s %8s" % ("case", "batch", "blockd",
      "torch", "GF/s bd", "GF/s pt", "bd/pt"))
for x, y in zip(b, t):
    assert (x["case"], x["batch"]) == (y["case"], y["batch"])
    print("%-22s %5d %13s %13s %9.2f %9.2f %8.2f" % (
        x["case"], x["batch"], us(x["seconds"]), us(y["seconds"]),
        x["gflops"], y["gflops"], x["seconds"] / y["seconds"]))
ceil = [x for x in b if x["case"].startswith("sgemm")][0]
big = [x for x in b if x["case"] == "big_mlp"][0]
print()
chain = [x for x in b if x["case"] == "big_mlp_gemms_only"][0]
print("sgemm ceiling (OpenBLAS, %s): %.2f GFLOP/s; big MLP reaches %.2f "
      "GFLOP/s = %.0f%% of it" % (ceil["case"], ceil["gflops"], big["gflops"],
                                   100 * big["gflops"] / ceil["gflops"]))
print("the big MLP's own three sgemm calls alone: %.2f GFLOP/s; the full "
      "forward reaches %.0f%% of that" % (chain["gflops"],
                                         100 * big["gflops"] / chain["gflops"]))
print()
for x in h:
    print("%-22s median %s   p99 %s   (client: %s, keep-alive)" % (
        x["case"], us(x["seconds"]), us(x["p99"]), x["client"]))
fl = [x for x in h if x["case"] == "http_health"][0]["seconds"]
fw = [x for x in h if x["case"] == "http_forward_seed_mlp"][0]["seconds"]
print("forward over HTTP costs %s above the HTTP floor" % us(fw - fl).strip())
PY
