"""The cases of bench_engine in PyTorch, in-process, with the same timing
method (3 warm-ups, calibrate the iteration count to a tenth of the budget,
7 repeats of that many iterations, median time per forward). Prints one JSON
line per case, like bench_engine.

Usage: bench_torch.py [--quick] [--threads N]
"""
import argparse
import json
import time

import torch
from torch import nn


def mlp(dims):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def time_forward(net, x, budget):
    with torch.no_grad():
        for _ in range(3):
            net(x)
        t0 = time.perf_counter()
        iters = 0
        while time.perf_counter() - t0 < budget / 10 or iters < 3:
            net(x)
            iters += 1
        times = []
        for _ in range(7):
            s = time.perf_counter()
            for _ in range(iters):
                net(x)
            times.append((time.perf_counter() - s) / iters)
    times.sort()
    return times[3]


def run_case(name, dims, batch, budget):
    torch.manual_seed(1)
    net = mlp(dims)
    x = torch.randn(batch, dims[0])
    t = time_forward(net, x, budget)
    flops = sum(2.0 * batch * dims[i] * dims[i + 1]
                for i in range(len(dims) - 1))
    print(json.dumps({"case": name, "batch": batch, "seconds": t,
                      "gflops": flops / t / 1e9}), flush=True)


def time_median(fn, budget):
    for _ in range(3):
        fn()
    t0 = time.perf_counter()
    iters = 0
    while time.perf_counter() - t0 < budget / 10 or iters < 3:
        fn()
        iters += 1
    times = []
    for _ in range(7):
        s = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - s) / iters)
    times.sort()
    return times[3]


def run_mm_chain(name, dims, batch, budget):
    """out = act @ W^T layer after layer, no bias or relu (one layer: the
    raw sgemm rate)."""
    x0 = torch.randn(batch, dims[0])
    ws = [torch.randn(dims[i + 1], dims[i]) for i in range(len(dims) - 1)]

    def chain():
        x = x0
        for w in ws:
            x = torch.mm(x, w.t())
        return x
    with torch.no_grad():
        t = time_median(chain, budget)
    flops = sum(2.0 * batch * dims[i] * dims[i + 1]
                for i in range(len(dims) - 1))
    print(json.dumps({"case": name, "batch": batch, "seconds": t,
                      "gflops": flops / t / 1e9}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    budget = 0.2 if a.quick else 2.0
    run_case("seed_mlp", [20, 256, 10], 1, budget)
    run_case("seed_mlp", [20, 256, 10], 64, budget)
    run_case("big_mlp", [1024, 4096, 4096, 1024], 256, budget * 2)
    run_mm_chain("big_mlp_gemms_only", [1024, 4096, 4096, 1024], 256,
                 budget * 2)
    run_mm_chain("sgemm_256x4096x4096", [4096, 4096], 256, budget)


if __name__ == "__main__":
    main()
