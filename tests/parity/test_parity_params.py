"""Parity with PyTorch for parameter management (issue 4): the seed's
sequence of initialisers and edits applied through the API, each checked
value by value against its rule and, where the rule is deterministic,
against PyTorch applying the same rule to the same starting values; tied
parameters and state_dict keys as PyTorch names them."""
import unittest

import numpy as np
import torch
from torch import nn

from blockd_testlib import (Daemon, from_json, linear, relu, seq,
                            tensor_json, TEST_DEVICE)
from seed_models import (blockd_state_dict, load_into_torch, shared_net,
                         shared_spec)


def seed_net():
    """The seed's net: nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
    nn.Linear(8, 1))."""
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def seed_spec():
    return seq(linear(4, 8), relu(), linear(8, 1))


class ParityParams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, spec, seed=1):
        self.d.delete("/v1/models/%s" % name)
        r = self.d.post("/v1/models", {"name": name, "seed": seed,
                                       "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)

    def sd(self, name):
        return blockd_state_dict(self, self.d, name)

    def to_torch(self, name, net):
        load_into_torch(self, self.d, name, net)

    def init(self, name, body):
        r = self.d.post("/v1/models/%s/init" % name, body)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["touched"]

    def assert_same_as_torch(self, name, net):
        got = self.sd(name)
        want = net.state_dict()
        self.assertEqual(list(got), list(want))
        for k in got:
            np.testing.assert_array_equal(got[k], want[k].numpy(), err_msg=k)

    def assert_forward_matches(self, name, net):
        x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
        r = self.d.post("/v1/models/%s/forward" % name,
                        {"inputs": tensor_json(x)})
        self.assertEqual(r.status_code, 200, r.text)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(from_json(r.json()["outputs"]), want,
                                   rtol=1e-5, atol=1e-6)

    def test_seed_sequence(self):
        name = "net"
        self.create(name, seed_spec())
        net = seed_net()
        self.to_torch(name, net)

        # init_normal: normal(0, 0.01) weights and zero biases on every
        # linear (net.apply(init_normal)).
        self.assertEqual(self.init(name, {
            "method": "normal", "mean": 0, "std": 0.01, "target": "weight",
            "types": ["linear"]}), ["0.weight", "2.weight"])
        self.assertEqual(self.init(name, {
            "method": "zeros", "target": "bias", "types": ["linear"]}),
            ["0.bias", "2.bias"])
        sd = self.sd(name)
        for k in ("0.weight", "2.weight"):
            w = sd[k]
            self.assertLess(np.abs(w).max(), 6 * 0.01, k)  # 6 sigma
            self.assertGreater(w.std(), 0.003, k)
            self.assertEqual(len(np.unique(w)), w.size, k)
        for k in ("0.bias", "2.bias"):
            np.testing.assert_array_equal(sd[k], 0)
        with torch.no_grad():
            for m in net:
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
                    m.weight.copy_(torch.from_numpy(
                        sd["0.weight" if m is net[0] else "2.weight"]))
        self.assert_same_as_torch(name, net)

        # init_constant: weight 1, bias 0.
        self.init(name, {"method": "constant", "value": 1, "target": "weight",
                         "types": ["linear"]})
        self.init(name, {"method": "zeros", "target": "bias",
                         "types": ["linear"]})

        def init_constant(m):
            if type(m) == nn.Linear:
                nn.init.constant_(m.weight, 1)
                nn.init.zeros_(m.bias)
        net.apply(init_constant)
        self.assert_same_as_torch(name, net)
        self.assert_forward_matches(name, net)

        # xavier_uniform_ on net[0], constant_(42) on net[2].
        self.assertEqual(self.init(name, {
            "method": "xavier_uniform", "target": "weight", "blocks": ["0"]}),
            ["0.weight"])
        self.assertEqual(self.init(name, {
            "method": "constant", "value": 42, "target": "weight",
            "blocks": ["2"]}), ["2.weight"])
        sd = self.sd(name)
        bound = np.sqrt(6 / (4 + 8))
        self.assertLessEqual(np.abs(sd["0.weight"]).max(), bound)
        self.assertEqual(len(np.unique(sd["0.weight"])), 32)
        with torch.no_grad():
            net[0].weight.copy_(torch.from_numpy(sd["0.weight"]))
        nn.init.constant_(net[2].weight, 42)
        self.assert_same_as_torch(name, net)
        self.assert_forward_matches(name, net)

        # my_init: uniform(-10, 10), then keep only |w| >= 5, as one request.
        # The same seed with only the first step gives the draws the mask
        # was applied to: PyTorch applies the mask to those.
        body = {"target": "weight", "types": ["linear"], "seed": 5,
                "steps": [{"method": "uniform", "a": -10, "b": 10},
                          {"method": "mask_abs_below", "threshold": 5}]}
        self.assertEqual(self.init(name, {
            "target": "weight", "types": ["linear"], "seed": 5,
            "steps": [{"method": "uniform", "a": -10, "b": 10}]}),
            ["0.weight", "2.weight"])
        drawn = self.sd(name)
        for k in ("0.weight", "2.weight"):
            self.assertTrue((drawn[k] >= -10).all() and (drawn[k] < 10).all())
        self.init(name, body)

        def my_init(m):
            if type(m) == nn.Linear:
                k = "0.weight" if m is net[0] else "2.weight"
                with torch.no_grad():
                    m.weight.copy_(torch.from_numpy(drawn[k]))
                    m.weight.data *= m.weight.data.abs() >= 5
        net.apply(my_init)
        self.assert_same_as_torch(name, net)
        w = self.sd(name)["0.weight"]
        self.assertTrue(((w == 0) | ((np.abs(w) >= 5) & (np.abs(w) < 10)))
                        .all())

        # net[0].weight.data[:] += 1; net[0].weight.data[0, 0] = 42.
        r = self.d.patch("/v1/models/%s/parameters/0.weight" % name,
                         {"op": "add", "value": 1})
        self.assertEqual(r.status_code, 200, r.text)
        r = self.d.patch("/v1/models/%s/parameters/0.weight" % name,
                         {"op": "set", "index": [0, 0], "value": 42})
        self.assertEqual(r.status_code, 200, r.text)
        net[0].weight.data[:] += 1
        net[0].weight.data[0, 0] = 42
        self.assert_same_as_torch(name, net)
        self.assert_forward_matches(name, net)

        # net[2].state_dict() through the blocks endpoint.
        b = self.d.get("/v1/models/%s/blocks/2" % name).json()
        want = net[2].state_dict()
        self.assertEqual(list(b["state_dict"]), list(want))
        for k, v in b["state_dict"].items():
            np.testing.assert_array_equal(from_json(v), want[k].numpy())

    def test_deterministic_methods_match_torch(self):
        self.create("det", seq(linear(5, 7), relu(), linear(7, 3)))
        net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
        self.to_torch("det", net)
        self.init("det", {"method": "eye", "target": "weight"})
        self.init("det", {"method": "ones", "target": "bias", "blocks": ["2"]})
        self.init("det", {"method": "constant", "value": -0.25,
                          "target": "bias", "blocks": ["0"]})
        nn.init.eye_(net[0].weight)
        nn.init.eye_(net[2].weight)
        nn.init.ones_(net[2].bias)
        nn.init.constant_(net[0].bias, -0.25)
        self.assert_same_as_torch("det", net)
        for body, fn in (
                ({"op": "mul", "value": 3}, lambda w: w.mul_(3)),
                ({"op": "clamp", "min": 0.5, "max": 2},
                 lambda w: w.clamp_(0.5, 2)),
                ({"op": "fill", "value": 0.125}, lambda w: w.fill_(0.125)),
                ({"op": "set", "index": [-1], "value": [1, 2, 3, 4, 5]},
                 lambda w: w.__setitem__(-1, torch.tensor([1., 2, 3, 4, 5])))):
            r = self.d.patch("/v1/models/det/parameters/0.weight", body)
            self.assertEqual(r.status_code, 200, r.text)
            with torch.no_grad():
                fn(net[0].weight)
            self.assert_same_as_torch("det", net)

    def test_default_matches_reset_parameters_bounds(self):
        self.create("dflt", seq(linear(300, 200), relu(), linear(200, 50)))
        self.init("dflt", {"method": "zeros"})
        self.assertEqual(self.init("dflt", {"method": "default", "seed": 3}),
                         ["0.weight", "0.bias", "2.weight", "2.bias"])
        sd = self.sd("dflt")
        ref = nn.Linear(300, 200)
        for k, fan_in in (("0.weight", 300), ("0.bias", 300),
                          ("2.weight", 200), ("2.bias", 200)):
            bound = 1 / np.sqrt(fan_in)
            self.assertLessEqual(np.abs(sd[k]).max(), bound * (1 + 1e-6), k)
            self.assertGreater(np.abs(sd[k]).max(), 0.9 * bound, k)
        # PyTorch's own reset_parameters: same bound, same variance.
        w = ref.weight.detach().numpy()
        self.assertLessEqual(np.abs(w).max(), 1 / np.sqrt(300))
        self.assertAlmostEqual(float(sd["0.weight"].var()), float(w.var()),
                               delta=0.05 * float(w.var()))

    def test_tied_parameters(self):
        net = shared_net()
        self.create("tied", shared_spec())
        self.to_torch("tied", net)
        r = self.d.patch("/v1/models/tied/parameters/2.weight",
                         {"op": "set", "index": [0, 0], "value": 100})
        self.assertEqual(r.status_code, 200, r.text)
        net[2].weight.data[0, 0] = 100
        sd = self.sd("tied")
        # d2l: net[2].weight.data[0] == net[4].weight.data[0].
        np.testing.assert_array_equal(sd["2.weight"][0], sd["4.weight"][0])
        self.assertEqual(sd["4.weight"][0, 0], 100)
        self.assert_same_as_torch("tied", net)
        names = [p["name"] for p in self.d.get(
            "/v1/models/tied/parameters").json()["parameters"]]
        self.assertEqual(names, [n for n, _ in net.named_parameters()])


if __name__ == "__main__":
    unittest.main()
