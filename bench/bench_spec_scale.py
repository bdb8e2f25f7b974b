#!/usr/bin/python3
"""Time POST /v1/models for specs of many layers (issue 13: spec parsing
must be linear) and for the exponential ref spec (rejected by
--max-spec-nodes). Usage: bench_spec_scale.py [BLOCKD_BIN] [N ...];
BENCH_EXPO_LEVELS=0 skips the exponential spec; BENCH_KINDS picks among
create,reject,create-ids; BENCH_DAEMON_ARGS adds daemon flags (e.g.
"--max-blocks 200000 --max-spec-nodes 200000" for 100k layers)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "lib"))
import requests  # noqa: E402
import blockd_testlib  # noqa: E402


def flat(n, bad=False):
    layers = [{"type": "relu"} for _ in range(n)]
    if bad:
        layers[-1] = {"type": "linear", "in_features": 0, "out_features": 1}
    return {"type": "sequential", "layers": layers}


def named(n):
    return {"type": "sequential",
            "layers": [{"type": "relu", "name": "l%d" % i, "id": "i%d" % i}
                       for i in range(n)]}


def exponential(levels):
    spec = [{"type": "linear", "in_features": 1, "out_features": 1,
             "bias": False, "id": "L0"}]
    for k in range(1, levels + 1):
        spec.append({"type": "sequential", "id": "L%d" % k,
                     "layers": [{"ref": "L%d" % (k - 1), "name": "a"},
                                {"ref": "L%d" % (k - 1), "name": "b"}]})
    return {"type": "sequential", "layers": spec}


def main():
    args = sys.argv[1:]
    if args and not args[0].isdigit():
        blockd_testlib.BLOCKD_BIN = args.pop(0)
    sizes = [int(a) for a in args] or [12500, 50000, 100000]
    extra = os.environ.get("BENCH_DAEMON_ARGS", "").split()
    d = blockd_testlib.Daemon("--max-body", "1G", *extra)
    try:
        def post(name, block):
            body = json.dumps({"name": name, "seed": 1, "block": block})
            t0 = time.monotonic()
            r = requests.post(d.url("/v1/models"), data=body, timeout=600,
                              headers={"Content-Type": "application/json"})
            return time.monotonic() - t0, r.status_code, len(body)
        for n in sizes:
            kinds = os.environ.get("BENCH_KINDS", "create,reject,create-ids")
            for kind, spec in (("create", flat(n)), ("reject", flat(n, True)),
                               ("create-ids", named(n))):
                if kind not in kinds.split(","):
                    continue
                took, code, size = post("m%s%d" % (kind, n), spec)
                print("%-10s %7d layers %9d bytes: %3d in %.3f s" %
                      (kind, n, size, code, took), flush=True)
        levels = int(os.environ.get("BENCH_EXPO_LEVELS", "22"))
        if levels:  # an unbounded blockd takes minutes here
            took, code, size = post("expo", exponential(levels))
            print("exponential %d levels %d bytes: %d in %.3f s" %
                  (levels, size, code, took))
    finally:
        d.stop()


if __name__ == "__main__":
    main()
