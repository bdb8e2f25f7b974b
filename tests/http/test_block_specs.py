"""Block specs over HTTP: canonical round trips (GET returns the spec with
defaults filled in; posting it back builds the identical structure), bad
specs (each a 400/413/422 naming the offending path, nothing created),
forward-time shape errors naming both layers, train/eval mode with
dropout, the while guard, `like` clones. Every valid spec used here is
checked against proto/block-spec.schema.json, and every invalid one that
the schema can express is rejected by it too."""
import unittest

import numpy as np

from blockd_schema import is_valid_spec, validate_spec
from blockd_testlib import (Daemon, from_json, linear, relu, seq,
                            tensor_json, TEST_DEVICE)
from seed_models import rgnet_spec, shared_spec

FIXED_HIDDEN = seq(
    linear(20, 20, name="linear", id="lin"),
    {"type": "matmul", "weight": {"shape": [20, 20]}, "name": "rand_weight"},
    {"type": "add", "value": 1}, relu(), {"ref": "lin", "name": "linear"},
    {"type": "while", "cond": {"reduce": "abs_sum", "gt": 1},
     "body": {"type": "scale", "value": 0.5}},
    {"type": "sum"})

ROUND_TRIP = {
    "fixed": FIXED_HIDDEN,
    "catalog": seq(
        {"type": "flatten", "start_dim": 1},
        linear(12, 8, bias=False),
        {"type": "residual", "body": seq(linear(8, 8), {"type": "gelu"})},
        {"type": "parallel", "combine": "concat", "branches": [
            linear(8, 4, name="left"), {"type": "tanh", "name": "right"}]},
        {"type": "dropout"}, {"type": "softmax"}, {"type": "centered"},
        {"type": "identity"}, {"type": "sigmoid"}, {"type": "mean"}),
    "tied": shared_spec(),
    "rgnet": rgnet_spec(),
}


def canonical_keys_filled(spec):
    """Every block of a canonical spec names its fields explicitly."""
    t = spec.get("type")
    want = {"linear": ["in_features", "out_features", "bias"],
            "dropout": ["p"], "softmax": ["dim"],
            "flatten": ["start_dim", "end_dim"],
            "parallel": ["combine", "branches"],
            "while": ["cond", "body", "max_iters"]}.get(t, [])
    for k in want:
        if k not in spec:
            return False
    for child in spec.get("layers", []) + spec.get("branches", []):
        if not canonical_keys_filled(child):
            return False
    for k in ("body",):
        if k in spec and not canonical_keys_filled(spec[k]):
            return False
    return True


class BlockSpecs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-depth", "6", "--max-model-bytes", "2M")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, spec, seed=1):
        validate_spec(spec)
        return self.d.post("/v1/models", {"name": name, "seed": seed,
                                          "device": TEST_DEVICE,
                                          "block": spec})

    def forward(self, name, x):
        r = self.d.post("/v1/models/%s/forward" % name,
                        {"inputs": tensor_json(x)})
        return r

    def test_round_trip(self):
        for name, spec in ROUND_TRIP.items():
            with self.subTest(name):
                r = self.create(name, spec)
                self.assertEqual(r.status_code, 201, r.text)
                canon = self.d.get("/v1/models/" + name).json()["block"]
                validate_spec(canon)
                self.assertTrue(canonical_keys_filled(canon), canon)
                r = self.create(name + "2", canon, seed=1)
                self.assertEqual(r.status_code, 201, r.text)
                again = self.d.get("/v1/models/%s2" % name).json()["block"]
                self.assertEqual(again, canon)
                sd1 = self.d.get("/v1/models/%s/state_dict" % name).json()
                sd2 = self.d.get("/v1/models/%s2/state_dict" % name).json()
                self.assertEqual(list(sd1), list(sd2))
                # same seed, same structure: the same numbers
                self.assertEqual(sd1, sd2)
        canon = self.d.get("/v1/models/fixed").json()["block"]
        self.assertEqual(canon["layers"][1]["weight"],
                         {"shape": [20, 20], "init": "uniform"})
        self.assertEqual(canon["layers"][4], {"ref": "lin", "name": "linear"})
        self.assertEqual(canon["layers"][5]["max_iters"], 1000)
        tied = self.d.get("/v1/models/tied").json()["block"]
        self.assertEqual(tied["layers"][2]["id"], "shared")
        self.assertEqual(tied["layers"][4], {"ref": "shared", "name": "4"})

    def test_like_clone(self):
        r = self.create("orig", ROUND_TRIP["catalog"], seed=5)
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.post("/v1/models", {"name": "clone", "like": "orig"})
        self.assertEqual(r.status_code, 201, r.text)
        a = self.d.get("/v1/models/orig").json()
        b = self.d.get("/v1/models/clone").json()
        self.assertEqual(a["block"], b["block"])
        self.assertNotEqual(a["seed"], b["seed"])
        sa = self.d.get("/v1/models/orig/state_dict").json()
        sb = self.d.get("/v1/models/clone/state_dict").json()
        self.assertEqual(list(sa), list(sb))
        self.assertNotEqual(sa["1.weight"]["data"], sb["1.weight"]["data"])

    def test_mode_and_dropout(self):
        spec = seq({"type": "dropout", "p": 0.5})
        self.assertEqual(self.create("drop", spec).status_code, 201)
        self.assertEqual(self.d.get("/v1/models/drop").json()["mode"],
                         "train")
        x = np.ones((10, 100), np.float32)
        y1 = from_json(self.forward("drop", x).json()["outputs"])
        y2 = from_json(self.forward("drop", x).json()["outputs"])
        self.assertTrue(set(np.unique(y1)) <= {0.0, 2.0})
        self.assertGreater((y1 == 0).mean(), 0.4)
        self.assertLess((y1 == 0).mean(), 0.6)
        # each forward draws a fresh mask from the model's stream
        self.assertFalse(np.array_equal(y1, y2))
        r = self.d.patch("/v1/models/drop", {"mode": "eval"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.d.get("/v1/models/drop").json()["mode"], "eval")
        y = from_json(self.forward("drop", x).json()["outputs"])
        np.testing.assert_array_equal(y, x)
        r = self.d.patch("/v1/models/drop", {"mode": "train"})
        self.assertEqual(r.json()["mode"], "train")
        y = from_json(self.forward("drop", x).json()["outputs"])
        self.assertGreater((y == 0).mean(), 0.4)

    def test_while_guard(self):
        spec = {"type": "while", "cond": {"reduce": "abs_sum", "gt": 1},
                "body": {"type": "scale", "value": 0.5}, "max_iters": 3}
        self.assertEqual(self.create("loop", spec).status_code, 201)
        r = self.forward("loop", np.full((4,), 0.2, np.float32))
        self.assertEqual(r.status_code, 200, r.text)  # 0.8: no iteration
        r = self.forward("loop", np.full((4,), 100, np.float32))
        self.assertEqual(r.status_code, 422, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "max_iters_exceeded")
        self.assertIn("max_iters = 3", err["message"])

    def test_shape_mismatch_names_both_layers(self):
        spec = seq(linear(20, 8), relu(), linear(9, 3))
        self.assertEqual(self.create("mismatch", spec).status_code, 201)
        r = self.forward("mismatch", np.zeros((2, 20), np.float32))
        self.assertEqual(r.status_code, 422, r.text)
        msg = r.json()["error"]["message"]
        self.assertIn("layer 2 (linear)", msg)
        self.assertIn("layer 1 (relu)", msg)
        self.assertIn("[2, 8]", msg)
        self.assertIn("9", msg)
        spec = seq(linear(4, 3, name="a"), {"type": "matmul", "name": "b",
                                            "weight": {"shape": [5, 2]}})
        self.assertEqual(self.create("mismatch2", spec).status_code, 201)
        r = self.forward("mismatch2", np.zeros((1, 4), np.float32))
        self.assertEqual(r.status_code, 422, r.text)
        msg = r.json()["error"]["message"]
        self.assertIn("layer b (matmul)", msg)
        self.assertIn("layer a (linear)", msg)
        self.assertIn("[1, 3]", msg)

    def test_bad_specs(self):
        deep = {"type": "identity"}
        for _ in range(7):
            deep = seq(deep)
        cases = [
            # (spec, status, code, message fragment, schema can tell)
            ({"type": "nope"}, 400, "unknown block type 'nope'", "block.type",
             False),
            (seq(relu(), relu(), {"type": "linear", "out_features": 3}), 400,
             "missing", "block.layers[2].in_features", True),
            (seq(linear("20", 3)), 400, "must be an integer",
             "block.layers[0].in_features", True),
            (seq(linear(0, 3)), 400, "outside", "block.layers[0].in_features",
             True),
            (seq(linear(4, -3)), 400, "outside",
             "block.layers[0].out_features", True),
            (seq(linear(4, 3, bias="yes")), 400, "true or false",
             "block.layers[0].bias", True),
            (seq(relu(), {"ref": "ghost"}), 400, "undefined ref 'ghost'",
             "block.layers[1].ref", False),
            (seq(seq({"ref": "outer"}), id="outer"), 400, "ref cycle",
             "block.layers[0].layers[0].ref", False),
            (seq(linear(2, 2, id="x"), linear(2, 2, id="x")), 400,
             "duplicate id 'x'", "block.layers[1].id", False),
            (seq(relu(name="a"), relu(name="a")), 400,
             "duplicate child name 'a'", "block.layers[1].name", False),
            (seq(relu(name="a.b")), 400, "contain no '.'",
             "block.layers[0].name", True),
            (deep, 400, "nested deeper than 6", "block.layers[0]", False),
            (seq(linear(1000, 1000)), 413, "--max-model-bytes",
             "block.layers[0]", False),
            ({"type": "softmax", "dim": "last"}, 400, "must be an integer",
             "block.dim", True),
            ({"type": "dropout", "p": 1.5}, 400, "between 0 and 1",
             "block.p", True),
            ({"type": "flatten", "start_dim": 1.5}, 400, "integer",
             "block.start_dim", True),
            ({"type": "matmul"}, 400, "missing", "block.weight", True),
            ({"type": "matmul", "weight": {"shape": [3, 0]}}, 400,
             "positive integer", "block.weight.shape[1]", True),
            ({"type": "matmul", "weight": {"shape": [3, 3],
                                           "init": "xavier"}}, 400,
             "must be one of", "block.weight.init", True),
            ({"type": "add"}, 400, "missing", "block.value", True),
            ({"type": "scale", "value": "2"}, 400, "must be a number",
             "block.value", True),
            ({"type": "parallel", "branches": []}, 400, "non-empty",
             "block.branches", True),
            ({"type": "parallel", "branches": [relu()], "combine": "mul"},
             400, "concat", "block.combine", True),
            ({"type": "residual"}, 400, "missing", "block.body", True),
            ({"type": "while", "body": relu()}, 400, "missing", "block.cond",
             True),
            ({"type": "while", "body": relu(), "cond": {"reduce": "median",
                                                       "gt": 1}}, 400,
             "must be one of", "block.cond.reduce", True),
            ({"type": "while", "body": relu(), "cond": {"reduce": "sum"}},
             400, "exactly one comparison", "block.cond", True),
            ({"type": "while", "body": relu(), "cond": {"reduce": "sum",
                                                       "gt": 1, "lt": 2}},
             400, "exactly one comparison", "block.cond", True),
            ({"type": "while", "body": relu(), "max_iters": -1,
              "cond": {"reduce": "sum", "gt": 1}}, 400, "outside",
             "block.max_iters", True),
            ({"type": "while", "cond": {"reduce": "sum", "gt": 1},
              "body": {"type": "bogus"}}, 400, "unknown block type",
             "block.body.type", False),
            (seq(relu(), {"type": "relu", "slope": 2}), 400,
             "unknown field", "block.layers[1].slope", True),
        ]
        before = len(self.d.get("/v1/models").json()["models"])
        for i, (spec, status, frag, path, schema_knows) in enumerate(cases):
            with self.subTest(i=i, spec=spec):
                if schema_knows:
                    self.assertFalse(is_valid_spec(spec))
                r = self.d.post("/v1/models", {"name": "bad%d" % i,
                                               "block": spec})
                self.assertEqual(r.status_code, status, r.text)
                msg = r.json()["error"]["message"]
                self.assertIn(frag, msg)
                self.assertTrue(msg.startswith(path), msg)
        self.assertEqual(len(self.d.get("/v1/models").json()["models"]),
                         before)


if __name__ == "__main__":
    unittest.main()
