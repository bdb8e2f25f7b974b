"""The device check's benchmark (run by tests/gpu/device-check.sh).

1. The 1024-4096-4096-1024 MLP at batch 256: blockd in-process
   (bench_gpu_mlp: input host -> device, three GEMMs + bias + ReLU, output
   device -> host) vs torch on the same device, both with fp32 matmuls
   (TF32 off), torch timed with and without the host transfers.
2. HTTP forward latency of the seed MLP (20-256-10, batch 1) on the device.

Prints one JSON object per row and writes them all to --out. Never asserts
on timings: these are measurements, not tests.
Usage: bench_gpu.py --device cuda:0 --bench-bin B --out FILE [--seconds S]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

DIMS = [1024, 4096, 4096, 1024]
BATCH = 256


def flops():
    return sum(2.0 * BATCH * a * b for a, b in zip(DIMS, DIMS[1:]))


def bench_blockd(bench_bin, device, seconds):
    p = subprocess.run([bench_bin, "--device", device, "--batch", str(BATCH),
                        "--dims", ",".join(map(str, DIMS)),
                        "--seconds", str(seconds)],
                       capture_output=True, text=True, timeout=seconds * 10 + 60)
    if p.returncode != 0:
        return {"row": "mlp blockd", "error": p.stderr.strip()[-500:]}
    j = json.loads(p.stdout.strip().splitlines()[-1])
    return {"row": "mlp blockd (h2d+fwd+d2h)", "device": j["device"],
            "ms_median": j["ms_median"], "gflops": j["gflops"]}


def timed(fn, seconds, sync):
    for _ in range(5):
        fn()
    sync()
    ts = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(ts) < 5:
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def bench_torch(device, seconds):
    try:
        import torch
        from torch import nn
    except Exception as e:  # torch missing on this machine
        return [{"row": "mlp torch", "skipped": "no torch: %s" % e}]
    tdev = device if device != "cpu" else "cpu"
    if tdev.startswith("cuda") and not torch.cuda.is_available():
        return [{"row": "mlp torch", "skipped": "torch has no CUDA"}]
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    layers = []
    for i, (a, b) in enumerate(zip(DIMS, DIMS[1:])):
        layers.append(nn.Linear(a, b))
        if i + 2 < len(DIMS):
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers).to(tdev).eval()
    x = torch.randn(BATCH, DIMS[0])
    xd = x.to(tdev)

    def sync():
        if tdev.startswith("cuda"):
            torch.cuda.synchronize()

    rows = []
    with torch.no_grad():
        ms = timed(lambda: net(xd), seconds, sync)
        rows.append({"row": "mlp torch (fwd only)", "device": tdev,
                     "ms_median": round(ms, 4),
                     "gflops": round(flops() / ms * 1e-6, 1),
                     "torch": torch.__version__})
        ms = timed(lambda: net(x.to(tdev)).cpu(), seconds, sync)
        rows.append({"row": "mlp torch (h2d+fwd+d2h)", "device": tdev,
                     "ms_median": round(ms, 4),
                     "gflops": round(flops() / ms * 1e-6, 1),
                     "torch": torch.__version__})
    return rows


def bench_http(device, n):
    from blockd_testlib import Daemon, seed_mlp_spec
    rows = []
    with Daemon() as d:
        r = d.post("/v1/models", {"name": "seed", "seed": 1, "device": device,
                                  "block": seed_mlp_spec()})
        if r.status_code != 201:
            return [{"row": "http forward", "error": r.text[:300]}]
        body = {"inputs": {"shape": [1, 20], "data": [0.1] * 20}}
        for _ in range(20):
            d.post("/v1/models/seed/forward", body)
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = d.post("/v1/models/seed/forward", body)
            ts.append(time.perf_counter() - t0)
            if r.status_code != 200:
                return [{"row": "http forward", "error": r.text[:300]}]
        ts.sort()
        rows.append({"row": "http forward seed MLP b=1", "device": device,
                     "ms_median": round(ts[len(ts) // 2] * 1e3, 4),
                     "ms_p99": round(ts[int(len(ts) * 0.99)] * 1e3, 4),
                     "requests": n})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--bench-bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--requests", type=int, default=500)
    a = ap.parse_args()
    rows = [bench_blockd(a.bench_bin, a.device, a.seconds)]
    print(json.dumps(rows[-1]), flush=True)
    for r in bench_torch(a.device, a.seconds):
        rows.append(r)
        print(json.dumps(r), flush=True)
    for dev in dict.fromkeys([a.device, "cpu"]):
        for r in bench_http(dev, a.requests):
            rows.append(r)
            print(json.dumps(r), flush=True)
    with open(a.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
