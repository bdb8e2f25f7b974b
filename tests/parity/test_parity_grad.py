"""Gradient and SGD parity with PyTorch autograd.

For the seed's models (MLP, NestMLP, the tied `shared` net, FixedHiddenMLP,
chimera) blockd's parameters are copied into the equivalent torch module,
the same inputs and loss go through both, and every gradient blockd reports
(GET parameters/{p}?field=grad) must equal torch's .grad within 1e-4
relative. The tied layer's single gradient must equal torch's (the sum over
both uses). Five SGD steps with momentum and weight decay must match
torch.optim.SGD within 1e-5."""
import unittest

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blockd_testlib import (Daemon, from_json, linear, seed_mlp_spec, seq,
                            tensor_json, TEST_DEVICE)
from seed_models import (blockd_state_dict, FixedHiddenMLP, fixed_hidden_spec,
                         nest_mlp_spec, NestMLP, shared_net, shared_spec)


def fixed_spec(**kw):
    """FixedHiddenMLP with blockd's positional names (1.weight for the
    buffer, 4.* for the ref), as fixed_mapping() expects."""
    return fixed_hidden_spec(lin_id="fixed_lin", named=False, **kw)


class ParityGrad(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, spec, seed=11):
        ParityGrad.n += 1
        name = "g%d" % ParityGrad.n
        r = self.d.post("/v1/models", {"name": name, "seed": seed,
                                        "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)
        return name

    def state(self, name):
        return blockd_state_dict(self, self.d, name)

    def load(self, name, net, mapping=None):
        """Copies blockd's state_dict into net (keys mapped when given)."""
        sd = self.state(name)
        own = net.state_dict(keep_vars=True)  # tied keys repeated
        with torch.no_grad():
            for k, v in sd.items():
                tk = mapping.get(k, k) if mapping else k
                if tk is None:
                    continue
                if isinstance(tk, str):
                    target = own[tk]
                else:
                    target = tk
                target.copy_(torch.from_numpy(v))

    def blockd_grads(self, name):
        listing = self.d.get("/v1/models/%s/parameters" % name).json()
        out = {}
        for p in listing["parameters"]:
            r = self.d.get("/v1/models/%s/parameters/%s?field=grad" %
                           (name, p["name"]))
            self.assertEqual(r.status_code, 200, r.text)
            out[p["name"]] = (None if r.json() is None else from_json(r.json()),
                              p["aliases"])
        return out

    def assert_close(self, got, want, what, rtol=1e-4):
        self.assertEqual(got.shape, want.shape, what)
        scale = float(np.abs(want).max()) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=rtol,
                                   atol=1e-7 + rtol * scale, err_msg=what)

    def check(self, name, net, x, loss, torch_loss, mapping=None,
              grad_output=None):
        """Runs one backward in both and compares loss and every grad."""
        self.load(name, net, mapping)
        body = {"inputs": tensor_json(x), "loss": loss}
        if grad_output is not None:
            body["grad_output"] = tensor_json(grad_output)
        r = self.d.post("/v1/models/%s/backward" % name, body)
        self.assertEqual(r.status_code, 200, r.text)
        net.zero_grad(set_to_none=True)
        y = net(torch.from_numpy(x))
        L = torch_loss(y)
        L.backward()
        self.assertAlmostEqual(r.json()["loss"], float(L), delta=1e-5 *
                               max(1.0, abs(float(L))))
        named = dict(net.named_parameters())
        got = self.blockd_grads(name)
        self.assertTrue(got)
        for key, (g, aliases) in got.items():
            tk = mapping.get(key, key) if mapping else key
            tparam = named[tk] if isinstance(tk, str) else tk
            self.assertIsNotNone(g, key)
            self.assertIsNotNone(tparam.grad, key)
            self.assert_close(g, tparam.grad.numpy(), key)
            for a in aliases:  # a tied parameter has one gradient
                r = self.d.get("/v1/models/%s/parameters/%s?field=grad" %
                               (name, a))
                np.testing.assert_array_equal(from_json(r.json()), g)
        return got

    def rng(self, seed):
        return np.random.default_rng(seed)

    def test_mlp_cross_entropy(self):
        name = self.create(seed_mlp_spec())
        net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        x = self.rng(0).standard_normal((64, 20)).astype(np.float32)
        t = self.rng(1).integers(0, 10, 64)
        self.check(name, net, x,
                   {"type": "cross_entropy", "target": tensor_json(t)},
                   lambda y: F.cross_entropy(y, torch.from_numpy(t)))

    def test_mlp_mse_mean_sum_none(self):
        net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        x = self.rng(2).standard_normal((8, 20)).astype(np.float32)
        t = self.rng(3).standard_normal((8, 10)).astype(np.float32)
        g = self.rng(4).standard_normal((8, 10)).astype(np.float32)
        spec = seed_mlp_spec()
        self.check(self.create(spec), net, x,
                   {"type": "mse", "target": tensor_json(t)},
                   lambda y: F.mse_loss(y, torch.from_numpy(t)))
        self.check(self.create(spec), net, x, {"type": "mean"},
                   lambda y: y.mean())
        self.check(self.create(spec), net, x, {"type": "sum"},
                   lambda y: y.sum())
        self.check(self.create(spec), net, x, {"type": "none"},
                   lambda y: (y * torch.from_numpy(g)).sum(), grad_output=g)

    def test_nest_mlp(self):
        name = self.create(nest_mlp_spec())
        x = self.rng(5).standard_normal((2, 20)).astype(np.float32)
        t = self.rng(6).standard_normal((2, 16)).astype(np.float32)
        self.check(name, NestMLP(), x,
                   {"type": "mse", "target": tensor_json(t)},
                   lambda y: F.mse_loss(y, torch.from_numpy(t)))

    def test_tied_shared(self):
        name = self.create(shared_spec())
        net = shared_net()
        x = self.rng(7).standard_normal((2, 4)).astype(np.float32)
        got = self.check(name, net, x, {"type": "sum"}, lambda y: y.sum())
        # One gradient for the shared layer, listed once with its alias.
        self.assertIn("2.weight", got)
        self.assertNotIn("4.weight", got)
        self.assertEqual(got["2.weight"][1], ["4.weight"])
        # ...and it is the sum over both uses: an untied copy of the net
        # gives one gradient per use, and blockd's equals their sum, not
        # either alone.
        untied = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8),
                               nn.ReLU(), nn.Linear(8, 8), nn.ReLU(),
                               nn.Linear(8, 1))
        self.load(name, untied)
        untied(torch.from_numpy(x)).sum().backward()
        g_a, g_b = untied[2].weight.grad, untied[4].weight.grad
        tied = got["2.weight"][0]
        self.assert_close(tied, (g_a + g_b).numpy(), "sum of uses")
        for g in (g_a, g_b):
            self.assertGreater(float(np.abs(tied - g.numpy()).max()), 1e-6)

    def fixed_mapping(self, prefix, net):
        p = prefix + "." if prefix else ""
        return {p + "0.weight": "linear.weight", p + "0.bias": "linear.bias",
                p + "1.weight": net.rand_weight, p + "4.weight": None,
                p + "4.bias": None}

    def test_fixed_hidden_mlp(self):
        name = self.create(fixed_spec())
        net = FixedHiddenMLP()
        x = self.rng(8).random((2, 20)).astype(np.float32)
        self.check(name, net, x, {"type": "sum"}, lambda y: y.sum(),
                   mapping=self.fixed_mapping("", net))

    def test_chimera(self):
        name = self.create(seq(nest_mlp_spec(), linear(16, 20), fixed_spec()))
        nest, fixed = NestMLP(), FixedHiddenMLP()
        net = nn.Sequential(nest, nn.Linear(16, 20), fixed)
        mapping = {k: k for k in net.state_dict()}
        mapping.update(self.fixed_mapping("2", fixed))
        mapping["2.0.weight"] = "2.linear.weight"
        mapping["2.0.bias"] = "2.linear.bias"
        x = self.rng(9).random((2, 20)).astype(np.float32)
        self.check(name, net, x, {"type": "sum"}, lambda y: y.sum(),
                   mapping=mapping)

    def sgd_parity(self, opts, steps=5):
        spec = seed_mlp_spec()
        name = self.create(spec, seed=21)
        net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        self.load(name, net)
        kw = {k: v for k, v in opts.items() if k != "optimizer"}
        opt = torch.optim.SGD(net.parameters(), **kw)
        rng = self.rng(10)
        for step in range(steps):
            x = rng.standard_normal((16, 20)).astype(np.float32)
            t = rng.standard_normal((16, 10)).astype(np.float32)
            r = self.d.post("/v1/models/%s/zero_grad" % name)
            self.assertEqual(r.status_code, 200, r.text)
            r = self.d.post("/v1/models/%s/backward" % name,
                            {"inputs": tensor_json(x),
                             "loss": {"type": "mse",
                                      "target": tensor_json(t)}})
            self.assertEqual(r.status_code, 200, r.text)
            r = self.d.post("/v1/models/%s/step" % name, opts)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["step"], step + 1)
            opt.zero_grad(set_to_none=True)
            F.mse_loss(net(torch.from_numpy(x)), torch.from_numpy(t)).backward()
            opt.step()
        sd = self.state(name)
        for k, v in net.state_dict().items():
            self.assert_close(sd[k], v.numpy(), "after %d steps: %s" %
                              (steps, k), rtol=1e-5)

    def test_sgd_momentum_weight_decay(self):
        self.sgd_parity({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                         "weight_decay": 1e-3, "dampening": 0})

    def test_sgd_nesterov_and_dampening(self):
        self.sgd_parity({"optimizer": "sgd", "lr": 0.05, "momentum": 0.8,
                         "nesterov": True, "weight_decay": 1e-2})
        self.sgd_parity({"optimizer": "sgd", "lr": 0.05, "momentum": 0.5,
                         "dampening": 0.3})


if __name__ == "__main__":
    unittest.main()
