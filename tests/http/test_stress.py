"""Bounded concurrent stress: several client threads create, run, train,
edit, save, checkpoint and delete a few models (and named tensors and files)
at once for a few seconds on loopback. Every answer must be a deliberate
one (2xx, or the 4xx the race explains: 404 for a model deleted under us,
409 for a name taken by another thread); never a 5xx, never a malformed
body, the daemon stays alive and exits cleanly on SIGTERM (no sanitizer
report when BLOCKD_BIN is the ASan build). After the run, the models the
daemon lists are exactly the ones that come back after a restart: a save
racing with a delete must not resurrect a deleted model, and a model that
exists must not be lost.

The run lasts STRESS_SECONDS (default 8) of wall time, whatever the speed
of the build; no assertion depends on timing."""
import collections
import os
import random
import shutil
import sys
import threading
import time
import unittest

import numpy as np
import requests

from blockd_testlib import Daemon, TEST_DEVICE, from_json, linear, relu, seq, \
    tensor_json

SECONDS = float(os.environ.get("STRESS_SECONDS", "8"))
THREADS = 8
NAMES = ["s0", "s1", "s2"]
FILES = ["f0.safetensors", "f1.safetensors"]
TENSORS = ["t0", "t1"]
SPEC = seq(linear(6, 16), relu(), {"type": "dropout", "p": 0.25},
           linear(16, 3))
X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
T = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)


class Worker(threading.Thread):
    def __init__(self, base, seed, deadline, failures):
        super().__init__(daemon=True)
        self.base = base
        self.rnd = random.Random(seed)
        self.deadline = deadline
        self.failures = failures
        self.s = requests.Session()
        self.count = 0
        self.seen = collections.Counter()

    def call(self, method, path, body, ok):
        r = self.s.request(method, self.base + path, json=body, timeout=120)
        self.count += 1
        self.seen[(method, path.split("/")[-1] if path.count("/") > 3
                   else path.split("/")[2], r.status_code)] += 1
        if r.status_code not in ok:
            self.failures.append("%s %s -> %d %s" % (method, path,
                                                     r.status_code,
                                                     r.text[:300]))
            return None
        try:
            return r.json()
        except ValueError:
            self.failures.append("%s %s -> %d: body is not JSON: %r" %
                                 (method, path, r.status_code, r.text[:200]))
            return None

    def step(self):
        rnd = self.rnd
        m = rnd.choice(NAMES)
        mp = "/v1/models/" + m
        op = rnd.randrange(19)
        if op == 0:
            self.call("POST", "/v1/models",
                      {"name": m, "block": SPEC, "seed": rnd.randrange(100),
                       "device": TEST_DEVICE}, (201, 409))
        elif op == 1:
            self.call("DELETE", mp, None, (200, 404))
        elif op in (2, 3):
            j = self.call("POST", mp + "/forward",
                          {"inputs": tensor_json(X)}, (200, 404))
            if j and "outputs" in j:
                y = from_json(j["outputs"])
                if y.shape != (4, 3) or not np.all(np.isfinite(y)):
                    self.failures.append("forward %s: bad output %r" %
                                         (m, y))
        elif op == 4:
            j = self.call("POST", mp + "/backward",
                          {"inputs": tensor_json(X),
                           "loss": {"type": "mse",
                                    "target": tensor_json(T)}}, (200, 404))
            if j and "loss" in j and not np.isfinite(j["loss"]):
                self.failures.append("backward %s: loss %r" % (m, j["loss"]))
        elif op == 5:
            self.call("POST", mp + "/step",
                      {"optimizer": "sgd", "lr": 0.01, "momentum": 0.5},
                      (200, 404))
        elif op == 6:
            self.call("POST", mp + "/zero_grad", {}, (200, 404))
        elif op == 7:
            self.call("PATCH", mp + "/parameters/0.bias",
                      {"op": "add", "value": 0.5}, (200, 404))
        elif op == 8:
            self.call("PUT", mp + "/parameters/3.bias",
                      tensor_json(np.arange(3, dtype=np.float32)), (200, 404))
        elif op == 9:
            self.call("POST", mp + "/init",
                      {"method": "normal", "std": 0.1,
                       "seed": rnd.randrange(100)}, (200, 404))
        elif op == 10:
            self.call("POST", mp + "/save", {}, (200, 404))
        elif op == 11:
            j = self.call("GET", "/v1/models", None, (200,))
            if j is not None and not isinstance(j.get("models"), list):
                self.failures.append("list: %r" % j)
            self.call("GET", mp + "/state_dict", None, (200, 404))
            self.call("GET", mp + "/parameters", None, (200, 404))
        elif op == 12:
            self.call("PATCH", mp, {"mode": rnd.choice(["train", "eval"])},
                      (200, 404))
            self.call("GET", mp, None, (200, 404))
        elif op == 13:
            f = rnd.choice(FILES)
            k = rnd.randrange(3)
            if k == 0:
                self.call("PUT", "/v1/files/" + f, {"model": m},
                          (200, 201, 404))
            elif k == 1:
                self.call("GET", "/v1/files/" + f, None, (200, 404))
            else:
                self.call("DELETE", "/v1/files/" + f, None, (200, 404))
        elif op == 14:
            # Rebuild a model from a checkpoint another thread may be
            # replacing or deleting (400: the file now holds named tensors,
            # which record no architecture).
            self.call("POST", "/v1/models",
                      {"name": m, "file": rnd.choice(FILES)},
                      (201, 400, 404, 409))
        elif op == 16:
            # load_state_dict from a file being replaced or deleted (400:
            # the file holds named tensors, not this model's state_dict).
            self.call("PUT", mp + "/state_dict",
                      {"file": rnd.choice(FILES)}, (200, 400, 404))
        elif op == 17:
            self.call("POST", "/v1/models",
                      {"name": m, "like": rnd.choice(NAMES)},
                      (201, 404, 409))
        elif op == 18:
            self.call("POST", "/v1/tensors/ops",
                      {"op": "add", "a": TENSORS[0], "b": TENSORS[1],
                       "as": rnd.choice(TENSORS)}, (200, 201, 404))
            self.call("GET", "/v1/tensors", None, (200,))
            self.call("GET", "/v1/files", None, (200,))
        else:
            t = rnd.choice(TENSORS)
            k = rnd.randrange(4)
            if k == 0:
                self.call("PUT", "/v1/tensors/" + t,
                          tensor_json(X * rnd.random()), (200, 201))
            elif k == 1:
                self.call("GET", "/v1/tensors/" + t, None, (200, 404))
            elif k == 2:
                self.call("DELETE", "/v1/tensors/" + t, None, (200, 404))
            else:
                self.call("PUT", "/v1/files/" + rnd.choice(FILES),
                          {"tensors": t}, (200, 201, 404))

    def run(self):
        try:
            while time.time() < self.deadline:
                self.step()
        except Exception as e:  # connection reset = daemon died
            self.failures.append("client error: %r" % (e,))
        finally:
            self.s.close()


class Stress(unittest.TestCase):
    maxDiff = None

    def test_concurrent_mixed_traffic(self):
        d = Daemon("--threads", "8", keep_data=True)
        self.addCleanup(d.session.close)
        self.addCleanup(shutil.rmtree, d.data_dir, ignore_errors=True)
        try:
            failures = []
            deadline = time.time() + SECONDS
            ws = [Worker(d.base, i, deadline, failures)
                  for i in range(THREADS)]
            for w in ws:
                w.start()
            for w in ws:
                w.join()
            total = sum(w.count for w in ws)
            seen = sum((w.seen for w in ws), collections.Counter())
            print("%d requests:" % total, sorted(seen.items()),
                  file=sys.stderr)
            for f in failures[:40]:
                print(f, file=sys.stderr)
            self.assertEqual(failures, [], "%d of %d requests failed" %
                             (len(failures), total))
            self.assertGreater(total, THREADS)
            self.assertIsNone(d.proc.poll(), "daemon died")
            h = d.get("/v1/health")
            self.assertEqual(h.status_code, 200)
            # Every listed model still answers sensibly.
            listed = sorted(x["name"] for x in
                            d.get("/v1/models").json()["models"])
            for name in listed:
                r = d.post("/v1/models/%s/forward" % name,
                           {"inputs": tensor_json(X)})
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(from_json(r.json()["outputs"]).shape, (4, 3))
            sd = {n: d.get("/v1/models/%s/state_dict" % n).json()
                  for n in listed}
        finally:
            d.stop()
        # Restart on the same data dir: exactly the listed models return,
        # with the state they had at shutdown.
        d2 = Daemon(data_dir=d.data_dir)
        d2.tmp = d.data_dir  # removed by d2.stop()
        self.addCleanup(d2.session.close)
        with d2:
            back = sorted(x["name"] for x in
                          d2.get("/v1/models").json()["models"])
            self.assertEqual(back, listed)
            for n in listed:
                got = d2.get("/v1/models/%s/state_dict" % n).json()
                for k, v in sd[n].items():
                    np.testing.assert_array_equal(from_json(got[k]),
                                                  from_json(v), "%s %s" % (n, k))


if __name__ == "__main__":
    unittest.main()
