"""Positional paths as in the seed's `rgnet[0][1][0].bias` (issue 10): a
numeric path segment that names no child selects the child at that
position, so /parameters/0.1.0.bias and /parameters/0.block 1.0.bias reach
the same tensor, which is PyTorch's rgnet[0][1][0].bias with the same
weights. GET, PUT, PATCH, /blocks and /init all take such paths; names win
over positions; state_dict keys stay the names; an out-of-range position
is a 404 that says why."""
import unittest
from urllib.parse import quote

import numpy as np
import torch
from torch import nn

from blockd_testlib import (Daemon, from_json, linear, seq, tensor_json,
                            TEST_DEVICE)
from seed_models import (block2, blockd_state_dict, load_into_torch,
                         rgnet_spec)


def rgnet():
    """The seed's rgnet."""
    return nn.Sequential(block2(), nn.Linear(4, 1))


class ParityPaths(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def setUp(self):
        """A fresh blockd rgnet and a torch rgnet holding its weights."""
        self.d.delete("/v1/models/rg")
        r = self.d.post("/v1/models", {"name": "rg", "seed": 3,
                                       "device": TEST_DEVICE,
                                       "block": rgnet_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        self.net = rgnet()
        load_into_torch(self, self.d, "rg", self.net)

    def get(self, path, query=""):
        r = self.d.get("/v1/models/rg/parameters/" + quote(path) + query)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def expect_error(self, r, status, code, *fragments):
        self.assertEqual(r.status_code, status, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], code, r.text)
        for f in fragments:
            self.assertIn(f, err["message"])
        return err["message"]

    def assert_same_as_torch(self):
        got = blockd_state_dict(self, self.d, "rg")
        want = self.net.state_dict()
        self.assertEqual(list(got), list(want))
        for k in got:
            np.testing.assert_array_equal(got[k], want[k].numpy(), err_msg=k)
        x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        r = self.d.post("/v1/models/rg/forward", {"inputs": tensor_json(x)})
        self.assertEqual(r.status_code, 200, r.text)
        with torch.no_grad():
            y = self.net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(from_json(r.json()["outputs"]), y,
                                   rtol=1e-5, atol=1e-6)

    def test_get_by_position_equals_torch_and_name(self):
        want = self.net[0][1][0].bias.detach().numpy()
        pos = self.get("0.1.0.bias")
        named = self.get("0.block 1.0.bias")
        np.testing.assert_array_equal(from_json(pos["value"]), want)
        # The same tensor, reported under its state_dict key either way.
        self.assertEqual(pos, named)
        self.assertEqual(pos["name"], "0.block 1.0.bias")
        # Mixed and deeper paths, value-only and .npy reads.
        np.testing.assert_array_equal(
            from_json(self.get("0.block 3.2.weight", "?field=value")),
            self.net[0][3][2].weight.detach().numpy())
        np.testing.assert_array_equal(
            from_json(self.get("0.3.2.weight", "?field=value")),
            self.net[0][3][2].weight.detach().numpy())
        np.testing.assert_array_equal(
            from_json(self.get("1.bias", "?field=value")),
            self.net[1].bias.detach().numpy())
        # state_dict keys stay the names.
        keys = list(blockd_state_dict(self, self.d, "rg"))
        self.assertIn("0.block 1.0.bias", keys)
        self.assertNotIn("0.1.0.bias", keys)

    def test_blocks_by_position(self):
        r = self.d.get("/v1/models/rg/blocks/0.1")
        self.assertEqual(r.status_code, 200, r.text)
        pos = r.json()
        named = self.d.get("/v1/models/rg/blocks/" + quote("0.block 1"))
        self.assertEqual(named.status_code, 200, named.text)
        self.assertEqual(pos, named.json())
        self.assertEqual(pos["path"], "0.block 1")
        want = self.net[0][1].state_dict()
        self.assertEqual(list(pos["state_dict"]), list(want))
        for k, v in pos["state_dict"].items():
            np.testing.assert_array_equal(from_json(v), want[k].numpy())

    def test_put_and_patch_by_position(self):
        v = np.arange(8, dtype=np.float32) - 3.5
        r = self.d.put("/v1/models/rg/parameters/0.1.0.bias", tensor_json(v))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["name"], "0.block 1.0.bias")
        with torch.no_grad():
            self.net[0][1][0].bias[:] = torch.from_numpy(v)
        np.testing.assert_array_equal(
            from_json(self.get("0.block 1.0.bias", "?field=value")), v)
        r = self.d.patch("/v1/models/rg/parameters/0.2.2.weight",
                         {"op": "mul", "value": -2})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["name"], "0.block 2.2.weight")
        with torch.no_grad():
            self.net[0][2][2].weight.mul_(-2)
        r = self.d.patch("/v1/models/rg/parameters/0.0.0.weight",
                         {"op": "set", "index": [1, 2], "value": 42})
        self.assertEqual(r.status_code, 200, r.text)
        with torch.no_grad():
            self.net[0][0][0].weight[1, 2] = 42
        self.assert_same_as_torch()
        # Freezing through a position freezes the named parameter.
        r = self.d.patch("/v1/models/rg/parameters/1.weight",
                         {"requires_grad": False})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertFalse(self.get("1.weight")["requires_grad"])

    def test_init_by_position(self):
        r = self.d.post("/v1/models/rg/init",
                        {"method": "constant", "value": 0.5,
                         "blocks": ["0.3"], "target": "weight"})
        self.assertEqual(r.status_code, 200, r.text)
        for m in self.net[0][3].modules():
            if isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 0.5)
        self.assert_same_as_torch()

    def test_out_of_range_is_404(self):
        self.expect_error(
            self.d.get("/v1/models/rg/parameters/0.4.0.bias"), 404,
            "not_found", "'0.4.0.bias'",
            "block '0' (sequential) has no child named '4'",
            "out of range (4 children, positions 0..3)")
        self.expect_error(
            self.d.get("/v1/models/rg/parameters/2.weight"), 404, "not_found",
            "out of range (2 children, positions 0..1)")
        self.expect_error(
            self.d.get("/v1/models/rg/blocks/0.1.7"), 404, "not_found",
            "block '0.block 1' (sequential) has no child named '7'",
            "out of range")
        self.expect_error(
            self.d.put("/v1/models/rg/parameters/0.1.9.bias",
                       tensor_json(np.zeros(8, np.float32))),
            404, "not_found", "out of range")
        self.expect_error(
            self.d.patch("/v1/models/rg/parameters/0.9.0.bias",
                         {"op": "add", "value": 1}),
            404, "not_found", "out of range")
        self.expect_error(
            self.d.get("/v1/models/rg/parameters/0.1"), 404, "not_found",
            "'0.block 1' is a block, not a parameter or buffer")
        # /init keeps its 400 for a selector that matches nothing.
        self.expect_error(
            self.d.post("/v1/models/rg/init",
                        {"method": "zeros", "blocks": ["0.4"]}),
            400, "invalid_argument", "blocks[0]", "out of range")
        # Nothing changed.
        self.assert_same_as_torch()

    def test_name_wins_over_position(self):
        # Child "1" at position 0, child "x" at position 1.
        self.d.delete("/v1/models/nw")
        spec = seq(linear(2, 3, name="1"), linear(3, 1, name="x"))
        r = self.d.post("/v1/models", {"name": "nw", "seed": 1,
                                       "device": TEST_DEVICE, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.get("/v1/models/nw/parameters/1.weight")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["shape"], [3, 2])
        self.assertEqual(r.json()["name"], "1.weight")
        r = self.d.get("/v1/models/nw/parameters/0.weight")
        self.assertEqual(r.json()["name"], "1.weight")
        r = self.d.get("/v1/models/nw/parameters/x.weight")
        self.assertEqual(r.json()["shape"], [1, 3])


if __name__ == "__main__":
    unittest.main()
