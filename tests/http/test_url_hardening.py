"""Escaped NULs in the path and out-of-vocabulary query values.

An escaped NUL ("%00") used to cut the C string short, so that
`DELETE /v1/models/m2%00zz` deleted `m2` and `PUT /v1/tensors/a%00b` stored a
tensor named `a`. Every such request is now a 400 that changes nothing. Query
booleans (`values`, `strict`, `flat`) and `layout` accept only their documented
values, so a typo such as `?strict=flase` no longer silently means strict.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from blockd_testlib import Daemon, seed_mlp_spec  # noqa: E402


class UrlHardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        r = cls.d.post("/v1/models", {"name": "m2", "seed": 1,
                                      "block": seed_mlp_spec()})
        assert r.status_code == 201, r.text
        r = cls.d.put("/v1/tensors/a", {"shape": [1], "data": [7]})
        assert r.status_code == 201, r.text

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def expect_400(self, method, path, body=None):
        r = self.d.request(method, path, json_body=body)
        self.assertEqual(r.status_code, 400, "%s %s: %s" % (method, path,
                                                            r.text))
        self.assertEqual(r.json()["error"]["code"], "invalid_argument")
        return r.json()["error"]["message"]

    def test_escaped_nul_in_path_is_400_and_changes_nothing(self):
        models = self.d.get("/v1/models").text
        tensors = self.d.get("/v1/tensors").text
        files = self.d.get("/v1/files").text
        msg = self.expect_400("DELETE", "/v1/models/m2%00zz")
        self.assertIn("NUL", msg)
        self.expect_400("PUT", "/v1/tensors/a%00b",
                        {"shape": [1], "data": [1]})
        self.expect_400("DELETE", "/v1/tensors/a%00")
        self.expect_400("PUT", "/v1/files/a%00b", {"tensors": "a"})
        self.expect_400("GET", "/v1/models/m2/parameters/0.weight%00")
        self.expect_400("POST", "/v1/models/m2%00/forward",
                        {"inputs": [[0.0] * 20]})
        self.expect_400("GET", "/v1/models/m2/parameters/%00")
        self.expect_400("GET", "/v1/models/m2/parameters/0.bias%01")
        self.assertEqual(self.d.get("/v1/models").text, models)
        self.assertEqual(self.d.get("/v1/tensors").text, tensors)
        self.assertEqual(self.d.get("/v1/files").text, files)
        # The real names still work.
        self.assertEqual(self.d.get("/v1/tensors/a").json()["data"], [7])
        self.assertEqual(self.d.get("/v1/models/m2").status_code, 200)

    def test_spaces_in_paths_still_resolve(self):
        # Escaped spaces (as in "block 0") are ordinary characters.
        r = self.d.get("/v1/models/m2/parameters/no%20such")
        self.assertEqual(r.status_code, 404, r.text)

    def test_query_vocabulary(self):
        self.assertIn("values",
                      self.expect_400("GET", "/v1/models/m2/parameters"
                                      "?values=maybe"))
        self.expect_400("GET", "/v1/models/m2/parameters?values=yes")
        self.assertIn("layout",
                      self.expect_400("GET", "/v1/models/m2/state_dict"
                                      "?layout=flatt"))
        self.expect_400("POST", "/v1/models/m2/forward?layout=row",
                        {"inputs": [[0.0] * 20]})
        self.expect_400("GET", "/v1/models/m2/parameters/0.bias"
                        "?field=grad%00")
        sd = self.d.get("/v1/models/m2/state_dict").text
        self.assertIn("strict", self.expect_400(
            "PUT", "/v1/models/m2/state_dict?strict=flase", {}))
        self.assertEqual(self.d.get("/v1/models/m2/state_dict").text, sd)
        # The documented values keep working.
        for q in ("values=true", "values=false", "values=1", "values=0",
                  "values", "layout=flat", "layout=nested"):
            r = self.d.get("/v1/models/m2/parameters?" + q)
            self.assertEqual(r.status_code, 200, q + ": " + r.text)
        vals = self.d.get("/v1/models/m2/parameters?values=true").json()
        self.assertIn("value", vals["parameters"][0])
        novals = self.d.get("/v1/models/m2/parameters?values=0").json()
        self.assertNotIn("value", novals["parameters"][0])
        flat = self.d.post("/v1/models/m2/forward?layout=flat",
                           {"inputs": [[0.0] * 20, [1.0] * 20]}).json()
        self.assertEqual(len(flat["outputs"]["data"]), 20)
        # Unknown keys stay ignored (clients may add cache-busters).
        self.assertEqual(self.d.get("/v1/health?_=123").status_code, 200)

    def test_shared_flags_parsed_once_for_every_route(self):
        x = {"inputs": [[0.5] * 20, [1.0] * 20]}
        nested = self.d.post("/v1/models/m2/forward", x).json()["outputs"]
        self.assertEqual(len(nested["data"]), 2)
        flat = sum(nested["data"], [])
        # forward's older ?flat spelling, empty meaning true
        for q in ("flat=true", "flat=1", "flat", "layout=flat&flat=0",
                  "layout=flat&layout=nested"):
            r = self.d.post("/v1/models/m2/forward?" + q, x)
            self.assertEqual(r.json()["outputs"]["data"], flat, q)
        for q in ("flat=0", "flat=false", "layout=nested&layout=flat"):
            r = self.d.post("/v1/models/m2/forward?" + q, x)
            self.assertEqual(r.json()["outputs"]["data"], nested["data"], q)
        # The same layout flag on a tensor, a parameter and the state_dict.
        self.assertEqual(self.d.get("/v1/tensors/a?layout=flat").json()
                         ["data"], [7])
        p = self.d.get("/v1/models/m2/parameters/0.weight?layout=flat")
        self.assertEqual(len(p.json()["value"]["data"]), 256 * 20)
        sd = self.d.get("/v1/models/m2/state_dict?layout=flat").json()
        self.assertEqual(len(sd["0.weight"]["data"]), 256 * 20)
        # A bare boolean flag means true, as ?values= does.
        for q in ("values", "values="):
            ps = self.d.get("/v1/models/m2/parameters?" + q).json()
            self.assertIn("value", ps["parameters"][0], q)
        # A bad flag is refused before any route runs, on every route.
        self.expect_400("GET", "/v1/health?strict=maybe")
        self.expect_400("GET", "/v1/tensors/a?flat=2")
        # strict defaults to true and ?strict=0 turns it off.
        r = self.d.put("/v1/models/m2/state_dict", {})
        self.assertEqual(r.status_code, 400, r.text)
        r = self.d.put("/v1/models/m2/state_dict?strict=0", {})
        self.assertEqual(r.status_code, 200, r.text)

    def test_save_refuses_fields_and_malformed_json(self):
        # POST /v1/models/{m}/save takes no fields; it used to ignore its
        # body entirely, so typos and garbage were silently accepted.
        msg = self.expect_400("POST", "/v1/models/m2/save", {"bogus": 1})
        self.assertIn("bogus", msg)
        r = self.d.request("POST", "/v1/models/m2/save", data="{not json",
                           headers={"Content-Type": "application/json"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "malformed_json")
        self.expect_400("POST", "/v1/models/m2/save", [1, 2])
        self.assertEqual(self.d.post("/v1/models/m2/save", {}).json(),
                         {"saved": "m2"})
        r = self.d.request("POST", "/v1/models/m2/save")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.d.post("/v1/models/none/save",
                                     {}).status_code, 404)


class RequestTensorCap(unittest.TestCase):
    """Tensors created while serving one request are capped at
    max(--max-elements, the model's or operands' own size), so a small
    request cannot make the daemon allocate without bound (before, an
    [N, 1] input through Linear(1, N) asked for N*N floats: 16 GB for
    N = 65536, enough to get the daemon killed by the kernel)."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-elements", "1000")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def expect_413(self, r):
        self.assertEqual(r.status_code, 413, r.text)
        self.assertEqual(r.json()["error"]["code"], "too_large")
        self.assertIn("1000 elements", r.json()["error"]["message"])

    def test_expanding_forward_and_backward(self):
        d = self.d
        self.assertEqual(d.post("/v1/models", {
            "name": "wide", "seed": 1, "block": {
                "type": "linear", "in_features": 1,
                "out_features": 100}}).status_code, 201)
        x = {"shape": [100, 1], "data": [0.5] * 100}   # 100 <= 1000
        self.expect_413(d.post("/v1/models/wide/forward", {"inputs": x}))
        self.expect_413(d.post("/v1/models/wide/backward", {
            "inputs": x, "loss": {"type": "sum"}}))
        p = d.get("/v1/models/wide/parameters").json()["parameters"]
        self.assertFalse(any(q["has_grad"] for q in p))
        # Under the cap the same model works: [9, 1] -> [9, 100].
        r = d.post("/v1/models/wide/forward",
                   {"inputs": {"shape": [9, 1], "data": [1.0] * 9}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"]["shape"], [9, 100])

    def test_growing_while_loop(self):
        d = self.d
        grow = {"type": "while", "cond": {"reduce": "sum", "gt": 0},
                "body": {"type": "parallel", "combine": "concat",
                         "branches": [{"type": "identity"},
                                      {"type": "identity"}]},
                "max_iters": 100}
        self.assertEqual(d.post("/v1/models", {
            "name": "grow", "block": grow}).status_code, 201)
        self.expect_413(d.post("/v1/models/grow/forward",
                               {"inputs": [[1.0]]}))
        self.assertEqual(d.get("/v1/health").status_code, 200)

    def test_models_larger_than_the_cap_still_train(self):
        # 100*50 + 50 = 5050 parameters > 1000: gradients of that size are
        # allowed because the cap grows with the model.
        d = self.d
        self.assertEqual(d.post("/v1/models", {
            "name": "big", "seed": 1, "block": {
                "type": "linear", "in_features": 100,
                "out_features": 50}}).status_code, 201)
        x = {"shape": [10, 100], "data": [0.1] * 1000}
        r = d.post("/v1/models/big/backward",
                   {"inputs": x, "loss": {"type": "sum"}})
        self.assertEqual(r.status_code, 200, r.text)
        g = d.get("/v1/models/big/parameters/weight?field=grad").json()
        self.assertEqual(g["shape"], [50, 100])
        # d(sum)/dW[i, j] = sum over the batch of x[:, j] = 10 * 0.1.
        self.assertAlmostEqual(g["data"][3][7], 1.0, places=5)

    def test_tensor_op_outer_product(self):
        d = self.d
        self.assertEqual(d.put("/v1/tensors/col", {
            "shape": [100, 1], "data": [1.0] * 100}).status_code, 201)
        self.assertEqual(d.put("/v1/tensors/row", {
            "shape": [1, 100], "data": [1.0] * 100}).status_code, 201)
        names = d.get("/v1/tensors").text
        self.expect_413(d.post("/v1/tensors/ops", {
            "op": "matmul", "a": "col", "b": "row", "as": "outer"}))
        self.assertEqual(d.get("/v1/tensors").text, names)
        r = d.post("/v1/tensors/ops", {"op": "matmul", "a": "row",
                                       "b": "col", "as": "inner"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(d.get("/v1/tensors/inner").json()["data"],
                         [[100]])


if __name__ == "__main__":
    unittest.main()
