"""The serving core (issue 11): compute on workers, bounded queues, request
deadlines, dropped requests of departed clients, dynamic batching, .npy
forward bodies, and the SIGTERM drain.

Slow requests are made deterministic with a `while` block whose condition
never turns false: it computes until --max-compute-seconds (422
compute_timeout) or the request deadline (503 deadline_exceeded) stops it.
Nothing here asserts on elapsed time; the tests poll /v1/health (answered
on the HTTP threads) for the scheduler's running/waiting counts."""
import io
import json
import shutil
import signal
import socket
import threading
import unittest

import numpy as np
import requests

from blockd_testlib import (FOREVER, Daemon, add_busy_model, from_json,
                            linear, relu, seq, wait_or_fail)

MLP = seq(linear(20, 256), relu(), linear(256, 10))




def load(d):
    return d.get("/v1/health").json()["requests"]


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def post_in_thread(base, path, body, results, key):
    """Starts a thread that stores the reply of POST path in results[key]."""
    def go():
        results[key] = post_json(base, path, body)
    t = threading.Thread(target=go)
    t.start()
    return t


def post_json(base, path, body, timeout=120):
    return requests.post(base + path, data=json.dumps(body),
                         headers={"Content-Type": "application/json"},
                         timeout=timeout)


class Batching(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--workers", "2")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, block, **extra):
        body = {"name": name, "seed": 3, "block": block}
        body.update(extra)
        r = self.d.post("/v1/models", body)
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def stats(self, name):
        return self.d.get("/v1/models/" + name).json()["serving"]

    def test_batched_equals_unbatched(self):
        self.create("bmlp", MLP)
        rng = np.random.default_rng(7)
        xs = [rng.standard_normal((n, 20)).astype(np.float32)
              for n in (1, 1, 3, 1, 2, 1, 1, 1, 4, 1, 1, 1)]
        # Unbatched answers first (batching is off by default).
        self.assertEqual(self.d.get("/v1/models/bmlp").json()["batching"],
                         {"max_batch": 1, "max_delay_us": 0})
        alone = [np.array(self.d.post("/v1/models/bmlp/forward",
                                      {"inputs": x.tolist()})
                          .json()["outputs"]["data"], np.float32)
                 for x in xs]
        r = self.d.patch("/v1/models/bmlp",
                         {"batching": {"max_batch": 64,
                                       "max_delay_us": 300000}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["batching"],
                         {"max_batch": 64, "max_delay_us": 300000})
        before = self.stats("bmlp")
        out = [None] * len(xs)
        bad = {}

        def go(i):
            out[i] = post_json(self.d.base, "/v1/models/bmlp/forward",
                               {"inputs": xs[i].tolist()})

        def go_bad():
            # Wrong feature count in the same window: its own 422, and the
            # others are not disturbed.
            bad["r"] = post_json(self.d.base, "/v1/models/bmlp/forward",
                                 {"inputs": [[1.0] * 7]})

        ts = [threading.Thread(target=go, args=(i,)) for i in range(len(xs))]
        ts.append(threading.Thread(target=go_bad))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i, r in enumerate(out):
            self.assertEqual(r.status_code, 200, r.text)
            y = np.array(r.json()["outputs"]["data"], np.float32)
            self.assertEqual(y.shape, (xs[i].shape[0], 10))
            # BLAS may pick another kernel for another batch size.
            np.testing.assert_allclose(y, alone[i], rtol=1e-6, atol=1e-6)
        self.assertEqual(bad["r"].status_code, 422, bad["r"].text)
        self.assertEqual(bad["r"].json()["error"]["code"], "shape_mismatch")
        after = self.stats("bmlp")
        # Batches really formed: requests answered by runs of 2 or more.
        self.assertGreater(after["batched_requests"],
                           before["batched_requests"], after)
        self.assertGreaterEqual(after["max_batch_rows"], 2, after)
        self.assertEqual(after["inferences"] - before["inferences"],
                         len(xs) + 1)
        # /metrics counts the same runs: one batch_size observation per
        # forward run that computed (the 422 one failed in the engine),
        # summing to the requests they answered.
        text = self.d.get("/metrics").text
        def sample(name):
            for line in text.splitlines():
                if line.startswith(name + '{model="bmlp"}'):
                    return float(line.rsplit(" ", 1)[1])
            raise AssertionError(name + " missing:\n" + text[:2000])
        runs = sample("blockd_model_batch_size_count")
        answered = sample("blockd_model_batch_size_sum")
        self.assertEqual(answered, after["inferences"] - 1)
        self.assertEqual(runs, after["batches"] - 1)
        self.assertGreater(sample("blockd_model_queue_duration_seconds_count"),
                           0)

    def test_batched_against_torch(self):
        import torch
        self.create("tmlp", MLP, batching={"max_batch": 8,
                                           "max_delay_us": 300000})
        net = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 10))
        with torch.no_grad():
            for k, p in net.state_dict().items():
                v = self.d.get("/v1/models/tmlp/parameters/%s?field=value" % k)
                self.assertEqual(v.status_code, 200, v.text)
                p.copy_(torch.tensor(from_json(v.json())))
        rng = np.random.default_rng(11)
        xs = [rng.standard_normal((1, 20)).astype(np.float32)
              for _ in range(8)]
        out = [None] * len(xs)

        def go(i):
            out[i] = post_json(self.d.base, "/v1/models/tmlp/forward",
                               {"inputs": xs[i].tolist()})

        ts = [threading.Thread(target=go, args=(i,)) for i in range(len(xs))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i, r in enumerate(out):
            self.assertEqual(r.status_code, 200, r.text)
            with torch.no_grad():
                ref = net(torch.tensor(xs[i])).numpy()
            np.testing.assert_allclose(
                np.array(r.json()["outputs"]["data"], np.float32), ref,
                rtol=1e-5, atol=1e-6)
        self.assertGreaterEqual(self.stats("tmlp")["max_batch_rows"], 2)

    def test_refused_for_blocks_that_mix_rows(self):
        cases = [
            ("bc", seq(linear(4, 4), {"type": "centered"}), "layer 1 (centered)"),
            ("bs", seq(linear(4, 4), {"type": "sum"}), "layer 1 (sum)"),
            ("bw", seq(linear(4, 4), FOREVER), "layer 1 (while)"),
            ("bf", seq({"type": "flatten", "start_dim": 0}, linear(8, 4)),
             "layer 0 (flatten)"),
            ("bd", seq(linear(4, 4), {"type": "dropout", "p": 0.5}),
             "layer 1 (dropout)"),
        ]
        for name, block, where in cases:
            with self.subTest(name):
                self.create(name, block)
                r = self.d.patch("/v1/models/" + name,
                                 {"batching": {"max_batch": 8},
                                  "mode": "eval" if name != "bd" else "train"})
                self.assertEqual(r.status_code, 400, r.text)
                msg = r.json()["error"]["message"]
                self.assertIn(where, msg)
                self.assertIn("mixes the rows of a batch", msg)
                info = self.d.get("/v1/models/" + name).json()
                # Refused PATCH: nothing changed, the mode included.
                self.assertEqual(info["batching"]["max_batch"], 1)
                self.assertEqual(info["mode"], "train")
        # Dropout is row-wise in eval mode: allowed there.
        r = self.d.patch("/v1/models/bd", {"mode": "eval"})
        self.assertEqual(r.status_code, 200, r.text)
        r = self.d.patch("/v1/models/bd", {"batching": {"max_batch": 8}})
        self.assertEqual(r.status_code, 200, r.text)
        # sum with a dim other than the batch dim is row-wise too.
        self.create("bsd", seq(linear(4, 4), {"type": "sum", "dim": 1}),
                    batching={"max_batch": 4})
        # Refused at create time: no model is left behind.
        r = self.d.post("/v1/models", {"name": "bcx", "block":
                                       seq({"type": "centered"}),
                                       "batching": {"max_batch": 2}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(self.d.get("/v1/models/bcx").status_code, 404)

    def test_bad_batching_values(self):
        self.create("bv", MLP)
        for body, frag in (({"max_batch": 0}, "max_batch"),
                           ({"max_batch": 1.5}, "max_batch"),
                           ({"max_batch": 100000}, "max_batch"),
                           ({"max_delay_us": -1}, "max_delay_us"),
                           ({"max_delay_us": "x"}, "max_delay_us"),
                           ({"size": 3}, "batching.size")):
            r = self.d.patch("/v1/models/bv", {"batching": body})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn(frag, r.json()["error"]["message"])
        r = self.d.patch("/v1/models/bv", {"batching": 4})
        self.assertEqual(r.status_code, 400, r.text)

    def test_npy_forward(self):
        self.create("nmlp", MLP)
        x = np.random.default_rng(5).standard_normal((3, 20)).astype(
            np.float32)
        ref = np.array(self.d.post("/v1/models/nmlp/forward",
                                   {"inputs": x.tolist()})
                       .json()["outputs"]["data"], np.float32)
        r = requests.post(self.d.url("/v1/models/nmlp/forward"),
                          data=npy_bytes(x),
                          headers={"Content-Type": "application/x-npy",
                                   "Accept": "application/x-npy"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "application/x-npy")
        y = np.load(io.BytesIO(r.content))
        self.assertEqual(y.dtype, np.float32)
        np.testing.assert_array_equal(y, ref)
        # .npy in, JSON out.
        r = requests.post(self.d.url("/v1/models/nmlp/forward"),
                          data=npy_bytes(x),
                          headers={"Content-Type": "application/x-npy"})
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_array_equal(
            np.array(r.json()["outputs"]["data"], np.float32), ref)
        # A broken .npy body is a 400 that says so.
        r = requests.post(self.d.url("/v1/models/nmlp/forward"),
                          data=b"\x93NUMPY garbage",
                          headers={"Content-Type": "application/x-npy"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn(".npy", r.json()["error"]["message"])


class Queues(unittest.TestCase):
    """One worker, two waiting requests per queue."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--workers", "1", "--queue-depth", "2",
                       "--max-compute-seconds", "1.5")
        add_busy_model(cls.d)
        r = cls.d.post("/v1/models", {"name": "m", "seed": 1, "block": MLP})
        assert r.status_code == 201, r.text

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def spin_async(self, results, key):
        return post_in_thread(self.d.base, "/v1/models/spin/forward",
                              {"inputs": [[1.0, 2.0]]}, results, key)

    def test_full_queue_503_then_recovers_and_health_answers(self):
        res = {}
        t0 = self.spin_async(res, "a")
        wait_or_fail(lambda: load(self.d)["running"] == 1, "the worker busy")
        # Health answers on the HTTP threads while the only worker computes.
        h = self.d.get("/v1/health")
        self.assertEqual(h.status_code, 200)
        self.assertEqual(h.json()["requests"]["running"], 1)
        self.assertTrue(t0.is_alive())
        t1 = self.spin_async(res, "b")
        t2 = self.spin_async(res, "c")
        wait_or_fail(lambda: load(self.d)["waiting"] == 2, "two waiting")
        r = post_json(self.d.base, "/v1/models/spin/forward",
                      {"inputs": [[1.0, 2.0]]})
        self.assertEqual(r.status_code, 503, r.text)
        self.assertEqual(r.headers.get("Retry-After"), "1")
        self.assertEqual(r.json()["error"]["code"], "overloaded")
        self.assertIn("--queue-depth", r.json()["error"]["message"])
        # Another model's queue is not full.
        for t in (t0, t1, t2):
            t.join()
        for k in "abc":
            self.assertEqual(res[k].status_code, 422, res[k].text)
            self.assertEqual(res[k].json()["error"]["code"], "compute_timeout")
        r = self.d.post("/v1/models/m/forward", {"inputs": [[0.5] * 20]})
        self.assertEqual(r.status_code, 200, r.text)
        st = self.d.get("/v1/models/spin").json()["serving"]
        self.assertEqual(st["rejected_queue_full"], 1)

    def test_departed_client_is_not_computed(self):
        before = from_json(
            self.d.get("/v1/models/m/parameters/0.bias?field=value").json())
        res = {}
        t0 = self.spin_async(res, "a")
        wait_or_fail(lambda: load(self.d)["running"] == 1, "the worker busy")
        # A mutating request queues behind it; its client then leaves.
        body = json.dumps({"method": "constant", "value": 5}).encode()
        s = socket.create_connection(("127.0.0.1", int(self.d.base.rsplit(
            ":", 1)[1])))
        s.sendall(b"POST /v1/models/m/init HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\n\r\n" + body)
        wait_or_fail(lambda: load(self.d)["waiting"] == 1, "the init queued")
        s.close()
        t0.join()
        wait_or_fail(lambda: load(self.d)["running"] == 0 and
                 load(self.d)["waiting"] == 0, "the queue empty")
        st = self.d.get("/v1/models/m").json()["serving"]
        self.assertEqual(st["dropped_client_gone"], 1, st)
        after = from_json(
            self.d.get("/v1/models/m/parameters/0.bias?field=value").json())
        np.testing.assert_array_equal(after, before)
        self.assertFalse(np.all(after == 5))


class Deadlines(unittest.TestCase):
    def test_request_timeout(self):
        d = Daemon("--workers", "1", "--request-timeout", "0.5",
                   "--max-compute-seconds", "30")
        try:
            add_busy_model(d)
            res = {}

            def go(k):
                res[k] = post_json(d.base, "/v1/models/spin/forward",
                                   {"inputs": [[1.0, 2.0]]})
            ts = [threading.Thread(target=go, args=(k,)) for k in "ab"]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for k in "ab":
                self.assertEqual(res[k].status_code, 503, res[k].text)
                self.assertEqual(res[k].json()["error"]["code"],
                                 "deadline_exceeded")
                self.assertEqual(res[k].headers.get("Retry-After"), "1")
            # The daemon serves on.
            self.assertEqual(d.get("/v1/health").status_code, 200)
        finally:
            d.stop()


class Drain(unittest.TestCase):
    def test_sigterm_answers_in_flight_and_saves(self):
        d = Daemon("--workers", "1", "--max-compute-seconds", "1.5",
                   keep_data=True)
        try:
            add_busy_model(d)
            res = {}

            def patch():
                res["patch"] = requests.patch(
                    d.base + "/v1/models/spin", data='{"mode": "eval"}',
                    headers={"Content-Type": "application/json"}, timeout=60)
            t1 = post_in_thread(d.base, "/v1/models/spin/forward",
                                {"inputs": [[1.0, 2.0]]}, res, "spin")
            wait_or_fail(lambda: load(d)["running"] == 1, "the worker busy")
            t2 = threading.Thread(target=patch)
            t2.start()
            wait_or_fail(lambda: load(d)["waiting"] == 1, "the PATCH queued")
            d.proc.send_signal(signal.SIGTERM)
            # Not accepting any more: a new connection is refused (or, if
            # it raced the signal, answered 503 shutting_down).
            def refused():
                try:
                    r = requests.get(d.base + "/v1/health", timeout=5)
                    return r.status_code == 503
                except requests.ConnectionError:
                    return True
            wait_or_fail(refused, "the listener to close")
            t1.join()
            t2.join()
            self.assertEqual(res["spin"].status_code, 422, res["spin"].text)
            self.assertEqual(res["patch"].status_code, 200, res["patch"].text)
            self.assertEqual(res["patch"].json()["mode"], "eval")
            d.stop()  # exit status 0, no sanitizer report
            d2 = Daemon(data_dir=d.data_dir)
            try:
                self.assertEqual(d2.get("/v1/models/spin").json()["mode"],
                                 "eval")
            finally:
                d2.stop()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            shutil.rmtree(d.data_dir, ignore_errors=True)

    def test_drain_timeout_stops_computations(self):
        d = Daemon("--workers", "1", "--max-compute-seconds", "600",
                   "--drain-timeout", "0.5")
        try:
            add_busy_model(d)
            res = {}

            t1 = post_in_thread(d.base, "/v1/models/spin/forward",
                                {"inputs": [[1.0, 2.0]]}, res, "spin")
            wait_or_fail(lambda: load(d)["running"] == 1, "the worker busy")
            d.proc.send_signal(signal.SIGTERM)
            t1.join()
            self.assertEqual(res["spin"].status_code, 503, res["spin"].text)
            self.assertEqual(res["spin"].json()["error"]["code"],
                             "shutting_down")
            d.stop()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()


if __name__ == "__main__":
    unittest.main()
