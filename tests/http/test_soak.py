"""Bounded soak (issue 13, "Proof"): CONNECTIONS keep-alive connections
(one client thread each, default 40) send mixed traffic for
BLOCKD_SOAK_SECONDS (default 60): health, model list, forwards, parameter
and state_dict reads, in-place edits that keep the values (mul by 1, add 0,
PUT of the same values), named tensors written and read back, and creates
and deletes of throwaway models. Each thread owns its tensors and
throwaway models, so every request has one right answer and the test
asserts:

- zero 5xx, and indeed nothing but the expected 2xx (CONNECTIONS stays
  below the default --queue-depth of 256, so a 503 overloaded is a
  failure too);
- zero connection errors (no reset, no refused connection, no timeout);
- correct bodies: forward outputs equal a reference computed with numpy
  from the model's weights; a tensor read back equals what was written;
- resident memory flat: VmRSS (/proc/PID/status) at the end (the last
  sample under traffic, and again once it stopped) at most
  RSS_FACTOR * the value after the warm-up + RSS_SLACK_MIB (1.25x + 8 MiB;
  not checked for ASan and TSan builds, whose quarantine, shadow memory
  and history grow by design, or with BLOCKD_SOAK_RSS=off);
- a clean SIGTERM exit afterwards.

It prints the request count, the rate and the RSS samples. No assertion
depends on timing: the duration bounds the run, not any answer."""
import http.client
import json
import os
import random
import threading
import time
import unittest

import numpy as np

from blockd_testlib import BLOCKD_BIN, Daemon, from_json, linear, relu, seq

SECONDS = float(os.environ.get("BLOCKD_SOAK_SECONDS", "60"))
CONNECTIONS = int(os.environ.get("BLOCKD_SOAK_CONNECTIONS", "40"))


def sanitized(path):
    """Whether the daemon is an ASan or TSan build: their quarantine,
    shadow memory and race history grow by design, so RSS says nothing
    about blockd's own memory there."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"__tsan_init" in data


RSS_CHECK = (os.environ.get("BLOCKD_SOAK_RSS", "on") != "off" and
             not sanitized(BLOCKD_BIN))
RSS_FACTOR = 1.25
RSS_SLACK_MIB = 8.0
# The first quarter (at most 15 s) warms up: arenas, caches, thread stacks.
WARMUP = min(15.0, SECONDS / 4)
SHARED = ["soak-a", "soak-b"]
SPEC = seq(linear(8, 32), relu(), linear(32, 4))
THROWAWAY_SPEC = seq(linear(4, 8), relu(), linear(8, 2))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def reference_forward(state, x):
    h = np.maximum(x @ state["0.weight"].T + state["0.bias"], 0)
    return h @ state["2.weight"].T + state["2.bias"]


class Client(threading.Thread):
    def __init__(self, idx, port, deadline, weights, failures):
        super().__init__(daemon=True)
        self.idx = idx
        self.port = port
        self.deadline = deadline
        self.weights = weights
        self.failures = failures
        self.rnd = random.Random(idx)
        self.count = 0
        self.kinds = {}
        self.throwaway = None  # name of this thread's live throwaway model

    def call(self, method, path, body=None, want=200, raw=False):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        # Any OSError here (reset, refused, timeout) fails the test.
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        out = r.read()
        self.count += 1
        if r.status not in (want if isinstance(want, tuple) else (want,)):
            raise AssertionError("%s %s -> %d (want %d): %s" %
                                 (method, path, r.status, want, out[:300]))
        return out if raw else json.loads(out)

    def run(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=120)
        try:
            while time.time() < self.deadline:
                self.step()
        except Exception as e:
            self.failures.append("client %d: %r" % (self.idx, e))
        finally:
            self.conn.close()

    def step(self):
        rnd = self.rnd
        kind = rnd.choices(
            ["health", "list", "forward", "param", "state", "edit", "tensor",
             "throwaway"],
            weights=[10, 4, 25, 14, 5, 10, 18, 8])[0]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        m = rnd.choice(SHARED)
        mp = "/v1/models/" + m
        if kind == "health":
            self.call("GET", "/v1/health")
        elif kind == "list":
            names = [x["name"] for x in self.call("GET", "/v1/models")
                     ["models"]]
            assert set(SHARED) <= set(names), names
        elif kind == "forward":
            n = rnd.randrange(1, 9)
            x = np.asarray([[rnd.uniform(-1, 1) for _ in range(8)]
                            for _ in range(n)], dtype=np.float32)
            j = self.call("POST", mp + "/forward",
                          {"inputs": {"shape": [n, 8],
                                      "data": x.reshape(-1).tolist()}})
            y = from_json(j["outputs"] if "outputs" in j else j["output"])
            want = reference_forward(self.weights[m], x)
            assert y.shape == (n, 4), y.shape
            assert np.allclose(y, want, rtol=1e-4, atol=1e-5), (y, want)
        elif kind == "param":
            p = rnd.choice(sorted(self.weights[m]))
            j = self.call("GET", "%s/parameters/%s" % (mp, p))
            got = from_json(j["value"])
            assert np.array_equal(got, self.weights[m][p]), p
        elif kind == "state":
            j = self.call("GET", mp + "/state_dict")
            assert sorted(j) == sorted(self.weights[m]), sorted(j)
            for k, v in j.items():
                assert np.array_equal(from_json(v), self.weights[m][k]), k
        elif kind == "edit":
            # Edits that leave the values as they are, so that concurrent
            # readers still have one right answer.
            p = rnd.choice(sorted(self.weights[m]))
            op = rnd.randrange(3)
            if op == 0:
                self.call("PATCH", "%s/parameters/%s" % (mp, p),
                          {"op": "mul", "value": 1})
            elif op == 1:
                self.call("PATCH", "%s/parameters/%s" % (mp, p),
                          {"op": "add", "value": 0})
            else:
                a = self.weights[m][p]
                self.call("PUT", "%s/parameters/%s" % (mp, p),
                          {"shape": list(a.shape), "dtype": "float32",
                           "data": a.reshape(-1).tolist()})
        elif kind == "tensor":
            name = "soak-t%d-%d" % (self.idx, rnd.randrange(2))
            n = rnd.randrange(1, 64)
            vals = [float(np.float32(rnd.uniform(-1e3, 1e3)))
                    for _ in range(n)]
            self.call("PUT", "/v1/tensors/" + name,
                      {"shape": [n], "dtype": "float32", "data": vals},
                      want=(200, 201))
            got = from_json(self.call("GET", "/v1/tensors/" + name))
            assert np.array_equal(got, np.asarray(vals, np.float32)), name
            if rnd.random() < 0.3:
                self.call("DELETE", "/v1/tensors/" + name)
        else:
            if self.throwaway is None:
                name = "soak-x%d-%d" % (self.idx, self.count)
                self.call("POST", "/v1/models",
                          {"name": name, "seed": self.count,
                           "block": THROWAWAY_SPEC, "device": "cpu"},
                          want=201)
                self.throwaway = name
            else:
                self.call("DELETE", "/v1/models/" + self.throwaway)
                self.throwaway = None


class Soak(unittest.TestCase):
    def test_mixed_traffic_many_connections(self):
        d = Daemon("--max-connections-per-ip", str(CONNECTIONS + 16))
        try:
            weights = {}
            for i, m in enumerate(SHARED):
                r = d.post("/v1/models", {"name": m, "seed": i + 1,
                                          "block": SPEC, "device": "cpu"})
                self.assertEqual(r.status_code, 201, r.text)
                r = d.get("/v1/models/%s/state_dict" % m)
                self.assertEqual(r.status_code, 200, r.text)
                weights[m] = {k: from_json(v) for k, v in r.json().items()}
            port = int(d.base.rsplit(":", 1)[1])
            t0 = time.time()
            deadline = t0 + SECONDS
            failures = []
            clients = [Client(i, port, deadline, weights, failures)
                       for i in range(CONNECTIONS)]
            for c in clients:
                c.start()
            samples = []  # (seconds since start, VmRSS KiB)
            warm = None
            while any(c.is_alive() for c in clients):
                time.sleep(1.0)
                if d.proc.poll() is not None:
                    break
                now = time.time() - t0
                samples.append((now, rss_kib(d.proc.pid)))
                if warm is None and now >= WARMUP:
                    warm = samples[-1][1]
            for c in clients:
                c.join(timeout=180)
                self.assertFalse(c.is_alive(), "client %d hung" % c.idx)
            self.assertIsNone(d.proc.poll(), "blockd died")
            # The last sample under traffic and the value once it stopped:
            # both must stay within the limit.
            busy = [v for t, v in samples if t <= SECONDS - 2] or \
                [v for _, v in samples]
            loaded = busy[-1] if busy else rss_kib(d.proc.pid)
            idle = rss_kib(d.proc.pid)
            end = max(loaded, idle)
            if warm is None:
                warm = samples[0][1] if samples else end
            total = sum(c.count for c in clients)
            kinds = {}
            for c in clients:
                for k, n in c.kinds.items():
                    kinds[k] = kinds.get(k, 0) + n
            elapsed = time.time() - t0
            limit = warm * RSS_FACTOR + RSS_SLACK_MIB * 1024
            print("soak: %d connections, %.0f s, %d requests (%.0f/s) %s; "
                  "VmRSS after %.0f s warm-up %.1f MiB, peak %.1f MiB, end "
                  "%.1f MiB under traffic, %.1f MiB idle (limit %.1f MiB = "
                  "%.2fx + %.0f MiB%s)" %
                  (CONNECTIONS, elapsed, total, total / elapsed,
                   dict(sorted(kinds.items())), WARMUP, warm / 1024,
                   max(s[1] for s in samples) / 1024 if samples else 0,
                   loaded / 1024, idle / 1024, limit / 1024, RSS_FACTOR,
                   RSS_SLACK_MIB,
                   "" if RSS_CHECK else ", not checked"), flush=True)
            self.assertEqual(failures, [])
            self.assertGreater(total, CONNECTIONS)
            if RSS_CHECK:
                self.assertLessEqual(end, limit,
                                     "resident memory grew: %s" % samples)
            # The shared models are untouched by the value-keeping edits.
            for m in SHARED:
                r = d.get("/v1/models/%s/state_dict" % m)
                got = {k: from_json(v) for k, v in r.json().items()}
                for k in weights[m]:
                    self.assertTrue(np.array_equal(got[k], weights[m][k]))
        finally:
            d.stop()  # fails unless blockd exits 0 (and no sanitizer report)


if __name__ == "__main__":
    unittest.main()
