"""Parity with PyTorch for the seed's MLPs: blockd's parameters loaded into
torch modules give the same outputs on the same inputs (batch 1 and 64)."""
import unittest

import numpy as np
import torch
from torch import nn

from blockd_testlib import (Daemon, from_json, named_mlp_spec, seed_mlp_spec,
                            tensor_json, TEST_DEVICE)
from seed_models import load_into_torch, MLP


class ParityMLP(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def check(self, name, spec, net):
        r = self.d.post("/v1/models", {"name": name, "seed": 3,
                                        "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)
        load_into_torch(self, self.d, name, net)
        rng = np.random.default_rng(0)
        for batch in (1, 64):
            x = rng.standard_normal((batch, 20)).astype(np.float32)
            r = self.d.post("/v1/models/%s/forward" % name,
                            {"inputs": tensor_json(x)})
            self.assertEqual(r.status_code, 200, r.text)
            got = from_json(r.json()["outputs"])
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            self.assertEqual(got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    def test_sequential(self):
        net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
        self.check("seqmlp", seed_mlp_spec(), net)

    def test_named_mlp(self):
        self.check("mlp", named_mlp_spec(), MLP())

    def test_init_bounds_match_pytorch_default(self):
        # nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for both.
        r = self.d.post("/v1/models", {"name": "bounds", "seed": 9,
                                        "block": seed_mlp_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        sd = {k: from_json(v) for k, v in
              self.d.get("/v1/models/bounds/state_dict").json().items()}
        for key, fan_in in (("0.weight", 20), ("0.bias", 20),
                            ("2.weight", 256), ("2.bias", 256)):
            bound = 1 / np.sqrt(fan_in)
            self.assertLessEqual(np.abs(sd[key]).max(), bound)
            # A uniform draw fills its range: max |w| close to the bound.
            self.assertGreater(np.abs(sd[key]).max(), 0.8 * bound)
        w = sd["2.weight"].ravel()
        self.assertAlmostEqual(float(w.var()), (2 / np.sqrt(256)) ** 2 / 12,
                               delta=0.1 * (2 / np.sqrt(256)) ** 2 / 12)


if __name__ == "__main__":
    unittest.main()
