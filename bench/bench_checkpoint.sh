#!/usr/bin/env bash
# bench_checkpoint.sh - save/load of a 1 GiB state_dict (16 x Linear(4096,
# 4096)): blockd (safetensors, torch zip) vs torch.save/torch.load vs a raw
# write+fsync of the same bytes, in one run; prints ratios.
#   bench/bench_checkpoint.sh BUILD_DIR [extra args, e.g. --layers 2]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
shift || true
tmp="$(mktemp -d "${BENCH_TMPDIR:-/tmp}/blockd-ckpt.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$build/bench/bench_checkpoint" "$tmp" "$@" > "$tmp/blockd.jsonl"
/usr/bin/python3 "$here/bench_checkpoint_torch.py" "$tmp" "$@" > "$tmp/torch.jsonl"
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
r = {}
for f in ("blockd.jsonl", "torch.jsonl"):
    for l in open(f"{d}/{f}"):
        if l.strip():
            j = json.loads(l)
            r[j["case"]] = j
gib = r["raw_write_fsync"]["bytes"] / 2**30
print(f"checkpoint benchmark: state_dict of {gib:.3f} GiB (best of reps)")
for k, v in r.items():
    print(f"  {k:18s} {v['seconds']:8.3f} s  {gib / v['seconds']:6.2f} GiB/s")
raw = r["raw_write_fsync"]["seconds"]
print("ratios (lower is better for blockd):")
print(f"  save safetensors / raw write+fsync : {r['save_safetensors']['seconds'] / raw:.2f}")
print(f"  save safetensors / torch.save      : {r['save_safetensors']['seconds'] / r['torch_save_fsync']['seconds']:.2f}")
print(f"  save torch zip   / torch.save      : {r['save_torchzip']['seconds'] / r['torch_save_fsync']['seconds']:.2f}")
print(f"  load safetensors / torch.load      : {r['load_safetensors']['seconds'] / r['torch_load']['seconds']:.2f}")
print(f"  load torch zip   / torch.load      : {r['load_torchzip']['seconds'] / r['torch_load']['seconds']:.2f}")
PY
