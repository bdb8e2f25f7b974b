"""`sum` and `mean` along one dimension (issue 10): {"type": "sum", "dim": d,
"keepdim": k} is torch.sum(x, dim=d, keepdim=k) (mean likewise). Forward
values for dims 0/1/-1 and keepdim on 0-d to 3-d inputs, gradients through
models with such a layer against torch autograd, the canonical spec, and
bad fields and dims (400 at create time like every spec error, 422
shape_mismatch when dim does not fit the input, as softmax and flatten
do)."""
import unittest

import numpy as np
import torch
from torch import nn

from blockd_schema import validate_spec
from blockd_testlib import (Daemon, from_json, linear, seq, tensor_json,
                            TEST_DEVICE)
from seed_models import load_into_torch


class Reduce(nn.Module):
    """torch.sum / torch.mean with dim and keepdim (dim None: all)."""

    def __init__(self, kind, dim=None, keepdim=False):
        super().__init__()
        self.kind, self.dim, self.keepdim = kind, dim, keepdim

    def forward(self, X):
        f = torch.sum if self.kind == "sum" else torch.mean
        if self.dim is None and not self.keepdim:
            return f(X)
        return f(X, dim=self.dim, keepdim=self.keepdim)


def reduce_spec(kind, dim=None, keepdim=None, **kw):
    s = {"type": kind}
    if dim is not None:
        s["dim"] = dim
    if keepdim is not None:
        s["keepdim"] = keepdim
    s.update(kw)
    return s


class ParityReduceDim(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, spec, seed=5):
        validate_spec(spec)
        ParityReduceDim.n += 1
        name = "r%d" % ParityReduceDim.n
        r = self.d.post("/v1/models", {"name": name, "seed": seed,
                                        "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)
        validate_spec(r.json()["block"])
        return name, r.json()["block"]

    def forward(self, name, x):
        return self.d.post("/v1/models/%s/forward" % name,
                           {"inputs": tensor_json(x)})

    def expect_error(self, r, status, code, *fragments):
        self.assertEqual(r.status_code, status, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, r.text)
        for f in fragments:
            self.assertIn(f, err["message"])

    def test_forward_matches_torch(self):
        rng = np.random.default_rng(0)
        cases = [((5,), [0, -1]), ((3, 4), [0, 1, -1, -2]),
                 ((2, 3, 4), [0, 1, 2, -1, -3])]
        for kind in ("sum", "mean"):
            for shape, dims in cases:
                x = rng.standard_normal(shape).astype(np.float32)
                for dim in dims:
                    for keepdim in (False, True):
                        what = "%s dim=%d keepdim=%s %s" % (kind, dim,
                                                             keepdim, shape)
                        name, block = self.create(
                            reduce_spec(kind, dim, keepdim))
                        self.assertEqual(block["dim"], dim, what)
                        self.assertEqual(block["keepdim"], keepdim, what)
                        r = self.forward(name, x)
                        self.assertEqual(r.status_code, 200, what + r.text)
                        got = from_json(r.json()["outputs"])
                        f = torch.sum if kind == "sum" else torch.mean
                        want = f(torch.from_numpy(x), dim=dim,
                                 keepdim=keepdim).numpy()
                        self.assertEqual(got.shape, want.shape, what)
                        np.testing.assert_allclose(got, want, rtol=1e-5,
                                                   atol=1e-6, err_msg=what)

    def test_defaults_and_edge_shapes(self):
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        t = torch.from_numpy(x)
        # No dim: every element, a 0-d result, as before.
        for kind, f in (("sum", torch.sum), ("mean", torch.mean)):
            name, block = self.create(reduce_spec(kind))
            self.assertIsNone(block.get("dim"))
            self.assertFalse(block.get("keepdim", False))
            got = from_json(self.forward(name, x).json()["outputs"])
            self.assertEqual(got.shape, ())
            self.assertAlmostEqual(float(got), float(f(t)), places=5)
            # keepdim without dim keeps every dimension at size 1
            # (torch.sum(x, dim=None, keepdim=True)).
            name, block = self.create(reduce_spec(kind, keepdim=True))
            self.assertTrue(block["keepdim"])
            got = from_json(self.forward(name, x).json()["outputs"])
            want = f(t, dim=None, keepdim=True).numpy()
            self.assertEqual(got.shape, (1, 1))
            np.testing.assert_allclose(got, want, rtol=1e-6)
        # A 0-d input is 1-d for dim, as in torch: dim 0 and -1 work.
        s = np.array(3.5, np.float32)
        for dim in (0, -1):
            for keepdim in (False, True):
                name, _ = self.create(reduce_spec("mean", dim, keepdim))
                r = self.forward(name, s)
                self.assertEqual(r.status_code, 200, r.text)
                got = from_json(r.json()["outputs"])
                want = torch.mean(torch.tensor(3.5), dim=dim,
                                  keepdim=keepdim).numpy()
                self.assertEqual(got.shape, want.shape)
                self.assertEqual(float(got), 3.5)
        # A zero-length dimension: sum gives zeros, as torch.
        e = np.zeros((2, 0), np.float32)
        name, _ = self.create(reduce_spec("sum", 1))
        got = from_json(self.forward(name, e).json()["outputs"])
        np.testing.assert_array_equal(got, np.zeros(2, np.float32))
        name, _ = self.create(reduce_spec("sum", 0, True))
        got = from_json(self.forward(name, e).json()["outputs"])
        self.assertEqual(got.shape, (1, 0))
        # mean over no elements has no value: 422, as mean of an empty
        # input is today (torch would give NaN).
        name, _ = self.create(reduce_spec("mean", 1))
        self.expect_error(self.forward(name, e), 422, "shape_mismatch",
                          "mean")

    def test_canonical_spec_round_trip(self):
        spec = seq(linear(4, 3), reduce_spec("sum", -1, True, name="s"),
                   reduce_spec("mean", 0))
        name, block = self.create(spec)
        self.assertEqual(block["layers"][1]["dim"], -1)
        self.assertTrue(block["layers"][1]["keepdim"])
        self.assertEqual(block["layers"][2]["dim"], 0)
        self.assertFalse(block["layers"][2]["keepdim"])
        got = self.d.get("/v1/models/%s" % name).json()["block"]
        self.assertEqual(got, block)
        # The canonical spec builds the same model.
        name2, block2 = self.create(block)
        self.assertEqual(block2, block)

    def grads(self, name, net):
        for k, p in net.named_parameters():
            r = self.d.get("/v1/models/%s/parameters/%s?field=grad" %
                           (name, k))
            self.assertEqual(r.status_code, 200, r.text)
            got = from_json(r.json())
            want = p.grad.numpy()
            np.testing.assert_allclose(
                got, want, rtol=1e-4,
                atol=1e-7 + 1e-4 * float(np.abs(want).max()), err_msg=k)

    def test_gradients_match_autograd(self):
        rng = np.random.default_rng(1)
        cases = [
            # (spec layers, torch layers, input shape)
            ([linear(4, 6), {"type": "tanh"}, reduce_spec("sum", 1)],
             [nn.Linear(4, 6), nn.Tanh(), Reduce("sum", 1)], (5, 4)),
            ([linear(4, 6), reduce_spec("mean", -2, True), linear(6, 2)],
             [nn.Linear(4, 6), Reduce("mean", -2, True), nn.Linear(6, 2)],
             (2, 3, 4)),
            ([linear(4, 3), {"type": "sigmoid"}, reduce_spec("sum", 0),
              linear(3, 2)],
             [nn.Linear(4, 3), nn.Sigmoid(), Reduce("sum", 0),
              nn.Linear(3, 2)], (5, 4)),
            ([linear(4, 5), reduce_spec("mean", -1), {"type": "tanh"}],
             [nn.Linear(4, 5), Reduce("mean", -1), nn.Tanh()], (2, 3, 4)),
            ([linear(4, 3), reduce_spec("sum", keepdim=True)],
             [nn.Linear(4, 3), Reduce("sum", None, True)], (2, 4)),
        ]
        for layers, tlayers, shape in cases:
            name, _ = self.create(seq(*layers))
            net = nn.Sequential(*tlayers)
            load_into_torch(self, self.d, name, net)
            x = rng.standard_normal(shape).astype(np.float32)
            y = net(torch.from_numpy(x))
            g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
            r = self.d.post("/v1/models/%s/backward" % name,
                            {"inputs": tensor_json(x),
                             "loss": {"type": "none"},
                             "grad_output": tensor_json(g),
                             "return_outputs": True})
            self.assertEqual(r.status_code, 200, r.text)
            np.testing.assert_allclose(from_json(r.json()["outputs"]),
                                       y.detach().numpy(), rtol=1e-5,
                                       atol=1e-6)
            (y * torch.from_numpy(g)).sum().backward()
            self.grads(name, net)
        # An MSE loss on a mean-along-dim output.
        name, _ = self.create(seq(linear(4, 6), {"type": "tanh"},
                                  reduce_spec("mean", 1)))
        net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), Reduce("mean", 1))
        load_into_torch(self, self.d, name, net)
        x = rng.standard_normal((7, 4)).astype(np.float32)
        t = rng.standard_normal(7).astype(np.float32)
        r = self.d.post("/v1/models/%s/backward" % name,
                        {"inputs": tensor_json(x),
                         "loss": {"type": "mse", "target": tensor_json(t)}})
        self.assertEqual(r.status_code, 200, r.text)
        L = nn.functional.mse_loss(net(torch.from_numpy(x)),
                                   torch.from_numpy(t))
        L.backward()
        self.assertAlmostEqual(r.json()["loss"], float(L),
                               delta=1e-5 * max(1.0, abs(float(L))))
        self.grads(name, net)

    def test_bad_fields_are_400(self):
        cases = [
            (reduce_spec("sum", "1"), "block.dim", "must be an integer"),
            (reduce_spec("mean", 1.5), "block.dim", "must be an integer"),
            (reduce_spec("sum", 99), "block.dim", "outside"),
            (reduce_spec("mean", -99), "block.dim", "outside"),
            (reduce_spec("sum", keepdim=1), "block.keepdim", "true or false"),
            (reduce_spec("mean", 0, "yes"), "block.keepdim",
             "true or false"),
            (dict(reduce_spec("sum", 0), axis=0), "block.axis",
             "unknown field"),
        ]
        for spec, path, fragment in cases:
            r = self.d.post("/v1/models", {"name": "bad", "block": spec})
            self.expect_error(r, 400, "invalid_argument", path, fragment)
            self.assertEqual(
                self.d.get("/v1/models/bad").status_code, 404, spec)

    def test_dim_out_of_range_for_input_is_422(self):
        x = np.zeros((3, 4), np.float32)
        for kind, dim in (("sum", 2), ("mean", -3), ("sum", 1)):
            name, _ = self.create(seq(reduce_spec(kind, dim)))
            r = self.forward(name, x if dim != 1 else np.zeros(5, np.float32))
            self.expect_error(r, 422, "shape_mismatch", kind,
                              "dim %d" % dim, "out of range")
        # The model still works on an input the dim fits.
        r = self.forward(name, x)
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_array_equal(from_json(r.json()["outputs"]),
                                      np.zeros(3, np.float32))


if __name__ == "__main__":
    unittest.main()
