"""HTTP tests of training: POST /v1/models/{m}/backward, zero_grad and step.

Accumulation (two backward calls give twice the gradient), zero_grad back to
null, frozen parameters keep null gradients, a plain SGD step moves each
parameter by -lr * grad, and every kind of bad input is a clear 4xx that
changes no gradient and no value."""
import unittest

import numpy as np

import os

from blockd_testlib import (BUILD_DIR, Daemon, from_json, linear, seed_mlp_spec,
                            seq, tensor_json, TEST_DEVICE)

PARAMS = ["0.weight", "0.bias", "2.weight", "2.bias"]


class Train(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def new_model(self, spec=None, seed=5):
        Train.n += 1
        name = "m%d" % Train.n
        r = self.d.post("/v1/models", {"name": name, "seed": seed,
                                        "device": TEST_DEVICE,
                                        "block": spec or seed_mlp_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        return name

    def grad(self, name, p):
        r = self.d.get("/v1/models/%s/parameters/%s?field=grad" % (name, p))
        self.assertEqual(r.status_code, 200, r.text)
        j = r.json()
        return None if j is None else from_json(j)

    def value(self, name, p):
        r = self.d.get("/v1/models/%s/parameters/%s?field=value" % (name, p))
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json())

    def backward(self, name, body):
        return self.d.post("/v1/models/%s/backward" % name, body)

    def x(self, batch=3, seed=0):
        return np.random.default_rng(seed).standard_normal(
            (batch, 20)).astype(np.float32)

    def test_grad_null_then_accumulates_then_zero_grad(self):
        name = self.new_model()
        for p in PARAMS:
            self.assertIsNone(self.grad(name, p))
        body = {"inputs": tensor_json(self.x()), "loss": {"type": "sum"}}
        r = self.backward(name, body)
        self.assertEqual(r.status_code, 200, r.text)
        loss1 = r.json()["loss"]
        self.assertNotIn("outputs", r.json())
        g1 = {p: self.grad(name, p) for p in PARAMS}
        for p in PARAMS:
            self.assertIsNotNone(g1[p])
            self.assertGreater(np.abs(g1[p]).max(), 0)
        # sum loss: d/d(2.bias) = batch size for every output.
        np.testing.assert_allclose(g1["2.bias"], np.full(10, 3.0), rtol=1e-6)
        r = self.backward(name, body)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["loss"], loss1)
        for p in PARAMS:
            np.testing.assert_allclose(self.grad(name, p), 2 * g1[p],
                                       rtol=1e-6, atol=1e-7)
        listing = self.d.get("/v1/models/%s/parameters" % name).json()
        self.assertTrue(all(p["has_grad"] for p in listing["parameters"]))
        r = self.d.post("/v1/models/%s/zero_grad" % name)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["cleared"], 4)
        for p in PARAMS:
            self.assertIsNone(self.grad(name, p))
        listing = self.d.get("/v1/models/%s/parameters" % name).json()
        self.assertFalse(any(p["has_grad"] for p in listing["parameters"]))
        # After zero_grad a backward gives the single-call gradient again.
        self.assertEqual(self.backward(name, body).status_code, 200)
        np.testing.assert_allclose(self.grad(name, "0.weight"),
                                   g1["0.weight"], rtol=1e-6, atol=1e-7)

    def test_loss_value_and_outputs(self):
        name = self.new_model()
        x = self.x(batch=4, seed=1)
        y = from_json(self.d.post("/v1/models/%s/forward" % name,
                                  {"inputs": tensor_json(x)}).json()["outputs"])
        r = self.backward(name, {"inputs": tensor_json(x),
                                 "loss": {"type": "mean"},
                                 "return_outputs": True})
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_allclose(from_json(r.json()["outputs"]), y,
                                   rtol=1e-6)
        self.assertAlmostEqual(r.json()["loss"], float(y.mean()), places=5)
        t = np.random.default_rng(2).standard_normal((4, 10)).astype(
            np.float32)
        r = self.backward(name, {"inputs": tensor_json(x),
                                 "loss": {"type": "mse",
                                          "target": tensor_json(t)}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertAlmostEqual(r.json()["loss"], float(((y - t) ** 2).mean()),
                               places=5)
        cls = np.array([0, 9, 3, 3], dtype=np.int64)
        r = self.backward(name, {"inputs": tensor_json(x),
                                 "loss": {"type": "cross_entropy",
                                          "target": tensor_json(cls)}})
        self.assertEqual(r.status_code, 200, r.text)
        z = y.astype(np.float64)
        lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
        self.assertAlmostEqual(r.json()["loss"],
                               float((lse - z[np.arange(4), cls]).mean()),
                               places=5)
        g = np.ones((4, 10), dtype=np.float32)
        r = self.backward(name, {"inputs": tensor_json(x),
                                 "loss": {"type": "none"},
                                 "grad_output": tensor_json(g)})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertAlmostEqual(r.json()["loss"], float(y.sum()), places=4)

    def test_frozen_parameters_keep_null_grads(self):
        name = self.new_model()
        for p in ("0.weight", "0.bias"):
            r = self.d.patch("/v1/models/%s/parameters/%s" % (name, p),
                             {"requires_grad": False})
            self.assertEqual(r.status_code, 200, r.text)
        r = self.backward(name, {"inputs": tensor_json(self.x()),
                                 "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIsNone(self.grad(name, "0.weight"))
        self.assertIsNone(self.grad(name, "0.bias"))
        self.assertIsNotNone(self.grad(name, "2.weight"))
        # A step leaves frozen values alone.
        before = self.value(name, "0.weight")
        r = self.d.post("/v1/models/%s/step" % name,
                        {"optimizer": "sgd", "lr": 0.5})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["updated"], 2)
        np.testing.assert_array_equal(self.value(name, "0.weight"), before)

    def test_sgd_step_moves_by_lr_times_grad(self):
        name = self.new_model()
        r = self.backward(name, {"inputs": tensor_json(self.x()),
                                 "loss": {"type": "mean"}})
        self.assertEqual(r.status_code, 200, r.text)
        before = {p: self.value(name, p) for p in PARAMS}
        grads = {p: self.grad(name, p) for p in PARAMS}
        r = self.d.post("/v1/models/%s/step" % name,
                        {"optimizer": "sgd", "lr": 0.25})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"optimizer": "sgd", "step": 1,
                                    "updated": 4})
        for p in PARAMS:
            np.testing.assert_allclose(self.value(name, p),
                                       before[p] - np.float32(0.25) * grads[p],
                                       rtol=1e-6, atol=1e-7)
            # The step does not clear gradients (as torch's step).
            np.testing.assert_array_equal(self.grad(name, p), grads[p])

    def snapshot(self, name):
        return {p: (self.value(name, p), self.grad(name, p)) for p in PARAMS}

    def assert_unchanged(self, name, snap):
        for p in PARAMS:
            v, g = snap[p]
            np.testing.assert_array_equal(self.value(name, p), v)
            now = self.grad(name, p)
            if g is None:
                self.assertIsNone(now, p)
            else:
                np.testing.assert_array_equal(now, g)

    def test_bad_backward_input_changes_nothing(self):
        name = self.new_model()
        x = tensor_json(self.x())
        r = self.backward(name, {"inputs": x, "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 200, r.text)
        snap = self.snapshot(name)
        t_bad_shape = tensor_json(np.zeros((3, 9), dtype=np.float32))
        cases = [
            # (body, status, code, words the message must contain)
            ({"inputs": x, "loss": {"type": "mse", "target": t_bad_shape}},
             422, "shape_mismatch", ["[3, 9]", "[3, 10]"]),
            ({"inputs": x, "loss": {"type": "cross_entropy",
                                    "target": tensor_json(np.array(
                                        [0, 10, 1], dtype=np.int64))}},
             400, "invalid_argument", ["10", "out of range"]),
            ({"inputs": x, "loss": {"type": "cross_entropy",
                                    "target": tensor_json(np.array(
                                        [0, -1, 1], dtype=np.int64))}},
             400, "invalid_argument", ["-1"]),
            ({"inputs": x, "loss": {"type": "cross_entropy",
                                    "target": tensor_json(np.array(
                                        [0, 1], dtype=np.int64))}},
             422, "shape_mismatch", ["[3]"]),
            ({"inputs": x, "loss": {"type": "hinge"}},
             400, "invalid_argument", ["hinge"]),
            ({"inputs": x, "loss": {"type": 3}}, 400, "invalid_argument",
             ["loss.type"]),
            ({"inputs": x}, 400, "invalid_argument", ["loss"]),
            ({"loss": {"type": "sum"}}, 400, "invalid_argument", ["inputs"]),
            ({"inputs": x, "loss": {}}, 400, "invalid_argument",
             ["loss.type"]),
            ({"inputs": x, "loss": {"type": "mse"}}, 400, "invalid_argument",
             ["loss.target"]),
            ({"inputs": x, "loss": {"type": "none"}}, 400,
             "invalid_argument", ["grad_output"]),
            ({"inputs": x, "loss": {"type": "none"},
              "grad_output": t_bad_shape}, 422, "shape_mismatch", ["[3, 9]"]),
            ({"inputs": x, "loss": {"type": "sum", "target": x}}, 400,
             "invalid_argument", ["target"]),
            ({"inputs": x, "loss": {"type": "sum"}, "extra": 1}, 400,
             "invalid_argument", ["extra"]),
            ({"inputs": x, "loss": {"type": "sum"}, "return_outputs": "yes"},
             400, "invalid_argument", ["return_outputs"]),
            ({"inputs": tensor_json(np.zeros((3, 21), np.float32)),
              "loss": {"type": "sum"}}, 422, "shape_mismatch", ["21"]),
            ({"inputs": x, "loss": {"type": "mse",
                                    "target": {"shape": [3], "data": [1]}}},
             422, "shape_mismatch", ["loss.target"]),
        ]
        for body, status, code, words in cases:
            r = self.backward(name, body)
            self.assertEqual(r.status_code, status, (body.get("loss"), r.text))
            err = r.json()["error"]
            if code:
                self.assertEqual(err["code"], code, r.text)
            for w in words:
                self.assertIn(w, err["message"], r.text)
        r = self.d.request("POST", "/v1/models/%s/backward" % name,
                           data="{not json", headers={
                               "Content-Type": "application/json"})
        self.assertEqual(r.status_code, 400, r.text)
        r = self.backward("no-such-model", {"inputs": x,
                                            "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 404, r.text)
        self.assert_unchanged(name, snap)

    def test_bad_step_and_zero_grad_input_changes_nothing(self):
        name = self.new_model()
        r = self.backward(name, {"inputs": tensor_json(self.x()),
                                 "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 200, r.text)
        snap = self.snapshot(name)
        for body, words in [
                ({"optimizer": "adam", "lr": 0.1}, ["adam"]),
                ({"optimizer": "sgd"}, ["lr"]),
                ({"lr": -0.1}, ["lr"]),
                ({"lr": "0.1"}, ["lr"]),
                ({"lr": 0.1, "momentum": -1}, ["momentum"]),
                ({"lr": 0.1, "weight_decay": -1}, ["weight_decay"]),
                ({"lr": 0.1, "nesterov": True}, ["nesterov"]),
                ({"lr": 0.1, "momentum": 0.9, "dampening": 0.1,
                  "nesterov": True}, ["nesterov"]),
                ({"lr": 0.1, "betas": [0.9, 0.99]}, ["betas"])]:
            r = self.d.post("/v1/models/%s/step" % name, body)
            self.assertEqual(r.status_code, 400, (body, r.text))
            msg = r.json()["error"]["message"]
            for w in words:
                self.assertIn(w, msg, r.text)
        r = self.d.post("/v1/models/%s/zero_grad" % name, {"set_to_none":
                                                          False})
        self.assertEqual(r.status_code, 400, r.text)
        r = self.d.post("/v1/models/nope/step", {"lr": 0.1})
        self.assertEqual(r.status_code, 404, r.text)
        r = self.d.post("/v1/models/nope/zero_grad")
        self.assertEqual(r.status_code, 404, r.text)
        self.assert_unchanged(name, snap)

    def test_dropout_backward_uses_the_forward_mask(self):
        # y = w . dropout(1): with batch 1 the weight's gradient is the
        # scaled mask itself (0 or 2), so the returned output must equal
        # w . grad exactly when backward reused the forward's mask.
        spec = {"type": "sequential", "layers": [
            {"type": "dropout", "p": 0.5},
            {"type": "linear", "in_features": 64, "out_features": 1,
             "bias": False}]}
        name = self.new_model(spec)
        ones = tensor_json(np.ones((1, 64), dtype=np.float32))
        for _ in range(3):
            self.d.post("/v1/models/%s/zero_grad" % name)
            r = self.backward(name, {"inputs": ones, "loss": {"type": "sum"},
                                     "return_outputs": True})
            self.assertEqual(r.status_code, 200, r.text)
            g = self.grad(name, "1.weight")
            self.assertTrue(set(np.unique(g)) <= {0.0, 2.0}, g)
            self.assertTrue(0 < np.count_nonzero(g) < 64)
            w = self.value(name, "1.weight")
            y = from_json(r.json()["outputs"])
            self.assertAlmostEqual(float(y[0, 0]), float((w * g).sum()),
                                   places=5)

    def test_tied_gradient_listed_once_and_under_alias(self):
        spec = {"type": "sequential", "layers": [
            {"type": "linear", "in_features": 20, "out_features": 8},
            {"type": "relu"},
            {"type": "linear", "in_features": 8, "out_features": 8,
             "id": "shared"},
            {"type": "relu"}, {"ref": "shared"}, {"type": "relu"},
            {"type": "linear", "in_features": 8, "out_features": 1}]}
        name = self.new_model(spec)
        r = self.backward(name, {"inputs": tensor_json(self.x()),
                                 "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 200, r.text)
        g2 = self.grad(name, "2.weight")
        self.assertIsNotNone(g2)
        np.testing.assert_array_equal(self.grad(name, "4.weight"), g2)


class NoBackwardPlugin(unittest.TestCase):
    """A plugin layer that declares no backward: a backward that needs its
    input gradient is 422 no_backward and changes no gradient; once every
    parameter upstream of it is frozen, the same backward succeeds."""

    def test_no_backward_is_422_unless_upstream_frozen(self):
        so = os.path.join(BUILD_DIR, "libtest_plugin_no_backward.so")
        with Daemon("--plugin", so) as d:
            spec = seq(linear(3, 4), {"type": "badlayer"}, linear(4, 2))
            r = d.post("/v1/models", {"name": "nb", "seed": 2,
                                       "device": TEST_DEVICE, "block": spec})
            self.assertEqual(r.status_code, 201, r.text)
            body = {"inputs": [[1.0, -2.0, 0.5]], "loss": {"type": "sum"}}

            def grads():
                return [d.get("/v1/models/nb/parameters/%s?field=grad" % p)
                        .json() for p in ("0.weight", "0.bias", "2.weight",
                                          "2.bias")]
            r = d.post("/v1/models/nb/backward", body)
            self.assertEqual(r.status_code, 422, r.text)
            self.assertEqual(r.json()["error"]["code"], "no_backward")
            self.assertIn("badlayer", r.json()["error"]["message"])
            self.assertEqual(grads(), [None, None, None, None])
            for p in ("0.weight", "0.bias"):
                r = d.patch("/v1/models/nb/parameters/" + p,
                            {"requires_grad": False})
                self.assertEqual(r.status_code, 200, r.text)
            r = d.post("/v1/models/nb/backward", body)
            self.assertEqual(r.status_code, 200, r.text)
            g = grads()
            self.assertIsNone(g[0])
            self.assertIsNone(g[1])
            # d(sum(W2 h + b2))/dW2 = h for each output row; db2 = 1.
            np.testing.assert_array_equal(from_json(g[3]), [1.0, 1.0])
            self.assertEqual(from_json(g[2]).shape, (2, 4))


if __name__ == "__main__":
    unittest.main()
