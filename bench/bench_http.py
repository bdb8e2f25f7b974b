"""HTTP latency of blockd: POST /v1/models/mlp/forward of the seed MLP at
batch 1 over one keep-alive connection, against the HTTP floor (GET
/v1/health on the same kind of connection). Starts its own daemon on an
ephemeral port. The client is one curl process given the URL N times (it
reuses the connection and reports %{time_total} per transfer), so client
overhead is small; without curl it falls back to a python requests
session (which adds a few hundred microseconds per call). Prints one JSON
line per measurement (median and p99 in seconds).

Usage: bench_http.py BLOCKD_BIN [--quick]
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "lib"))
if len(sys.argv) > 1 and not sys.argv[1].startswith("--"):
    os.environ["BLOCKD_BIN"] = sys.argv[1]

from blockd_testlib import Daemon, seed_mlp_spec  # noqa: E402


def stats(times):
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def measure_curl(url, body, n):
    cmd = ["curl", "-s", "-w", "\nT=%{http_code} %{time_total}\n"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d",
                json.dumps(body)]
    out = subprocess.run(cmd + [url] * n, check=True, capture_output=True,
                         text=True).stdout
    times = []
    for line in out.splitlines():
        if line.startswith("T="):
            code, t = line[2:].split()
            assert code == "200", out[-500:]
            times.append(float(t))
    assert len(times) == n
    return stats(times[50:])  # the first 50 are warm-up


def measure_requests(session, url, body, n):
    data = json.dumps(body) if body is not None else None
    method = "POST" if body is not None else "GET"
    headers = {"Content-Type": "application/json"} if data else {}
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.request(method, url, data=data, headers=headers)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    return stats(times[50:])


def main():
    quick = "--quick" in sys.argv
    n = 550 if quick else 5050
    with Daemon() as d:
        r = d.post("/v1/models", {"name": "mlp", "seed": 1, "device": "cpu",
                                  "block": seed_mlp_spec()})
        assert r.status_code == 201, r.text
        x = {"inputs": {"shape": [1, 20], "data": [0.1 * i for i in range(20)]}}
        client = "curl" if shutil.which("curl") else "requests"
        for name, path, body in (
                ("http_health", "/v1/health", None),
                ("http_forward_seed_mlp", "/v1/models/mlp/forward", x)):
            if client == "curl":
                med, p99 = measure_curl(d.url(path), body, n)
            else:
                med, p99 = measure_requests(d.session, d.url(path), body, n)
            print(json.dumps({"case": name, "batch": 1, "seconds": med,
                              "p99": p99, "client": client}), flush=True)


if __name__ == "__main__":
    main()
