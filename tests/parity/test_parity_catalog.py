"""Parity with PyTorch for every block the seed chapter builds ("Layers and
Modules", "Parameter Management", "Custom Layers"): MLP, MySequential,
FixedHiddenMLP, NestMLP, the chimera, block2/rgnet with add_module names,
the tied `shared` net, CenteredLayer and the MyLinear plugin, plus the rest
of the catalog (softmax, flatten, gelu, residual, parallel, dropout).

The Python side runs the seed's classes as written; their parameters are
copied from blockd's state_dict. Outputs agree within 1e-5 relative, and
state_dict keys and their order are identical. One documented exception:
blockd persists FixedHiddenMLP's constant `rand_weight` as a buffer
("rand_weight.weight"), while the seed keeps it as a plain tensor attribute
that torch's state_dict does not list; the key comparison leaves out
blockd's buffers (reported under "buffers" by GET .../parameters) and the
test copies the buffer into the torch module's attribute."""
import os
import unittest
import urllib.parse

import numpy as np
import torch
from torch import nn

from blockd_schema import validate_spec
from blockd_testlib import (BUILD_DIR, Daemon, from_json, linear,
                            named_mlp_spec, seed_mlp_spec, seq, tensor_json,
                            TEST_DEVICE)
from seed_models import (block2, CenteredLayer, FixedHiddenMLP,
                         fixed_hidden_spec, load_into_torch, MLP, MyLinear,
                         MySequential, nest_mlp_spec, NestMLP, rgnet_spec,
                         shared_net, shared_spec)

PLUGIN = os.path.join(BUILD_DIR, "libmylinear.so")


# ---- catalog modules used by the mixed test -------------------------------

class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, X):
        return X + self.body(X)


class Parallel(nn.Module):
    def __init__(self, *branches, combine="concat"):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)
        self.combine = combine

    def forward(self, X):
        outs = [m(X) for m in self._modules.values()]
        if self.combine == "concat":
            return torch.cat(outs, dim=-1)
        return sum(outs[1:], outs[0])


class ParityCatalog(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, spec, seed=3, d=None):
        validate_spec(spec)
        d = d or self.d
        r = d.post("/v1/models", {"name": name, "seed": seed,
                                  "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)
        validate_spec(r.json()["block"])
        return r.json()

    def load(self, name, net, d=None, skip_buffers=False):
        """Copies blockd's state_dict into net after checking that the keys
        and their order equal torch's. Returns blockd's state_dict."""
        return load_into_torch(self, d or self.d, name, net, skip_buffers)

    def forward(self, name, x, d=None):
        d = d or self.d
        r = d.post("/v1/models/%s/forward" % name,
                   {"inputs": tensor_json(x)})
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json()["outputs"])

    def check_outputs(self, name, net, shape, d=None, seeds=(0, 1)):
        for s in seeds:
            x = np.random.default_rng(s).random(shape).astype(np.float32)
            got = self.forward(name, x, d)
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            self.assertEqual(got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    def test_mlp_class(self):
        self.create("mlp", named_mlp_spec())
        net = MLP()
        self.load("mlp", net)
        self.check_outputs("mlp", net, (2, 20))

    def test_my_sequential(self):
        self.create("myseq", seed_mlp_spec())
        net = MySequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        self.load("myseq", net)
        self.check_outputs("myseq", net, (2, 20))

    def test_fixed_hidden_mlp(self):
        info = self.create("fixed", fixed_hidden_spec())
        # rand_weight is a buffer: not counted as a parameter.
        self.assertEqual(info["parameter_count"], 20 * 20 + 20)
        self.assertEqual(info["bytes"], 4 * (20 * 20 + 20 + 20 * 20))
        net = FixedHiddenMLP()
        sd = self.load("fixed", net, skip_buffers=True)
        rw = sd["rand_weight.weight"]
        # torch.rand-like: U[0, 1)
        self.assertGreaterEqual(float(rw.min()), 0.0)
        self.assertLess(float(rw.max()), 1.0)
        self.assertAlmostEqual(float(rw.mean()), 0.5, delta=0.1)
        net.rand_weight = rw.clone()
        p = self.d.get("/v1/models/fixed/parameters").json()
        self.assertEqual([b["name"] for b in p["buffers"]],
                         ["rand_weight.weight"])
        self.assertEqual([q["name"] for q in p["parameters"]],
                         ["linear.weight", "linear.bias"])
        for s in range(4):
            x = np.random.default_rng(s).random((2, 20)).astype(np.float32)
            got = self.forward("fixed", x)
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            self.assertEqual(got.shape, ())
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)

    def test_nest_mlp_and_chimera(self):
        self.create("nest", nest_mlp_spec())
        net = NestMLP()
        self.load("nest", net)
        self.check_outputs("nest", net, (2, 20))
        spec = seq(nest_mlp_spec(), linear(16, 20), fixed_hidden_spec())
        self.create("chimera", spec)
        chimera = nn.Sequential(NestMLP(), nn.Linear(16, 20),
                                FixedHiddenMLP())
        sd = self.load("chimera", chimera, skip_buffers=True)
        self.assertIn("2.rand_weight.weight", sd)
        chimera[2].rand_weight = sd["2.rand_weight.weight"].clone()
        self.check_outputs("chimera", chimera, (2, 20), seeds=(0, 1, 2))

    def test_rgnet_add_module_names(self):
        self.create("rgnet", rgnet_spec())
        rgnet = nn.Sequential(block2(), nn.Linear(4, 1))
        sd = self.load("rgnet", rgnet)
        self.assertIn("0.block 1.0.weight", sd)
        self.check_outputs("rgnet", rgnet, (2, 4))
        # rgnet[0][1][0].bias over a URL-encoded dotted path.
        path = urllib.parse.quote("0.block 1.0.bias")
        r = self.d.get("/v1/models/rgnet/parameters/" + path)
        self.assertEqual(r.status_code, 200, r.text)
        got = from_json(r.json()["value"])
        np.testing.assert_array_equal(
            got, rgnet[0][1][0].bias.detach().numpy())

    def test_shared_net(self):
        self.create("shared", shared_spec())
        net = shared_net()
        sd = self.load("shared", net)
        self.assertIn("4.weight", sd)
        np.testing.assert_array_equal(sd["2.weight"], sd["4.weight"])
        self.check_outputs("shared", net, (2, 4))
        # named_parameters lists the tied tensor once, with its alias.
        p = self.d.get("/v1/models/shared/parameters").json()["parameters"]
        self.assertEqual([q["name"] for q in p],
                         [n for n, _ in net.named_parameters()])
        by = {q["name"]: q for q in p}
        self.assertEqual(by["2.weight"]["aliases"], ["4.weight"])
        self.assertEqual(by["2.bias"]["aliases"], ["4.bias"])
        self.assertEqual(by["0.weight"]["aliases"], [])

    def test_centered_layer(self):
        self.create("centered", seq(linear(8, 128), {"type": "centered"}))
        net = nn.Sequential(nn.Linear(8, 128), CenteredLayer())
        self.load("centered", net)
        self.check_outputs("centered", net, (4, 8))
        y = self.forward("centered",
                         np.random.default_rng(5).random((4, 8)).astype(
                             np.float32))
        self.assertLess(abs(float(y.mean())), 1e-6)

    def test_rest_of_catalog(self):
        spec = seq(
            {"type": "flatten"}, linear(12, 8), {"type": "gelu"},
            {"type": "residual", "body": seq(linear(8, 8), {"type": "tanh"})},
            {"type": "parallel", "branches": [linear(8, 3),
                                              {"type": "sigmoid"}]},
            {"type": "dropout", "p": 0.5},
            {"type": "parallel", "combine": "add",
             "branches": [{"type": "identity"},
                          {"type": "scale", "value": -0.25}]},
            {"type": "softmax", "dim": 1},
            {"type": "mean"})
        self.create("catalog", spec)
        net = nn.Sequential(
            nn.Flatten(), nn.Linear(12, 8), nn.GELU(),
            Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
            Parallel(nn.Linear(8, 3), nn.Sigmoid()),
            nn.Dropout(0.5),
            Parallel(nn.Identity(), nn.Identity(), combine="add"),
            nn.Softmax(dim=1), CenteredMean())
        # the add branch scales by -0.25: patch torch's identity branch
        net[6]._modules["1"] = Scale(-0.25)
        self.load("catalog", net)
        r = self.d.patch("/v1/models/catalog", {"mode": "eval"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["mode"], "eval")
        net.eval()
        for s in (0, 1):
            x = np.random.default_rng(s).standard_normal(
                (5, 3, 4)).astype(np.float32)
            got = self.forward("catalog", x)
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            self.assertEqual(got.shape, ())
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)

    def test_catalog_gradients(self):
        """loss = sum(net(X) * G) backward through every catalog type, in
        eval mode (dropout identity) and compared with torch autograd."""
        spec = seq(
            {"type": "flatten"}, linear(12, 8), {"type": "gelu"},
            {"type": "residual", "body": seq(linear(8, 8), {"type": "tanh"})},
            {"type": "parallel", "branches": [linear(8, 3),
                                              {"type": "sigmoid"}]},
            {"type": "dropout", "p": 0.5},
            {"type": "parallel", "combine": "add",
             "branches": [{"type": "identity"},
                          {"type": "scale", "value": -0.25}]},
            {"type": "softmax", "dim": 1}, {"type": "centered"},
            {"type": "matmul", "weight": {"shape": [11, 4]}},
            {"type": "add", "value": 0.5})
        self.create("cgrad", spec)
        net = nn.Sequential(
            nn.Flatten(), nn.Linear(12, 8), nn.GELU(),
            Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
            Parallel(nn.Linear(8, 3), nn.Sigmoid()), nn.Dropout(0.5),
            Parallel(nn.Identity(), Scale(-0.25), combine="add"),
            nn.Softmax(dim=1), CenteredLayer(), MatMul(), AddConst(0.5))
        sd = self.load("cgrad", net, skip_buffers=True)
        net[9].w = sd["9.weight"].clone()
        self.d.patch("/v1/models/cgrad", {"mode": "eval"})
        net.eval()
        rng = np.random.default_rng(3)
        x = rng.standard_normal((5, 3, 4)).astype(np.float32)
        g = rng.standard_normal((5, 4)).astype(np.float32)
        r = self.d.post("/v1/models/cgrad/backward",
                        {"inputs": tensor_json(x),
                         "loss": {"type": "none"},
                         "grad_output": tensor_json(g)})
        self.assertEqual(r.status_code, 200, r.text)
        y = net(torch.from_numpy(x))
        (y * torch.from_numpy(g)).sum().backward()
        for k, p in net.named_parameters():
            r = self.d.get("/v1/models/cgrad/parameters/%s?field=grad" % k)
            self.assertEqual(r.status_code, 200, r.text)
            got = from_json(r.json())
            want = p.grad.numpy()
            np.testing.assert_allclose(
                got, want, rtol=1e-4,
                atol=1e-7 + 1e-4 * float(np.abs(want).max()), err_msg=k)
        # the buffer gets no gradient
        r = self.d.get("/v1/models/cgrad/parameters/9.weight?field=grad")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIsNone(r.json())

    def test_mylinear_plugin(self):
        with Daemon("--plugin", PLUGIN) as d:
            spec = {"type": "mylinear", "in_units": 5, "units": 3}
            self.create("dense", spec, d=d)
            dense = MyLinear(5, 3)
            sd = self.load("dense", dense, d=d)
            self.check_outputs("dense", dense, (2, 5), d=d)
            net_spec = seq({"type": "mylinear", "in_units": 64, "units": 8},
                           {"type": "mylinear", "in_units": 8, "units": 1})
            info = self.create("net", net_spec, seed=11, d=d)
            self.assertEqual(info["block"], dict(net_spec, layers=[
                dict(l, name=str(i)) for i, l in
                enumerate(net_spec["layers"])]))
            net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
            sd = self.load("net", net, d=d)
            self.check_outputs("net", net, (2, 64), d=d)
            # default init N(0, 1), as torch.randn
            w = sd["0.weight"].numpy().ravel()
            self.assertEqual(sd["0.weight"].shape, (64, 8))
            self.assertAlmostEqual(float(w.mean()), 0.0, delta=0.15)
            self.assertAlmostEqual(float(w.std()), 1.0, delta=0.15)


class MatMul(nn.Module):
    """X @ w with w a constant (blockd's matmul buffer)."""

    def forward(self, X):
        return X @ self.w


class AddConst(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, X):
        return X + self.v


class CenteredMean(nn.Module):
    def forward(self, X):
        return X.mean()


class Scale(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, X):
        return self.v * X


if __name__ == "__main__":
    unittest.main()
