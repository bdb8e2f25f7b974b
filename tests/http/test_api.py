"""HTTP integration tests of the walking skeleton's endpoints against a real
blockd: health, models create/list/get/patch/delete, forward (nested, flat,
layout=flat), parameters, state_dict; then more than 30 malformed or hostile
requests, each checked for its exact status, the JSON error shape and an
unchanged registry."""
import json
import threading
import unittest

import numpy as np
import requests

from blockd_testlib import (Daemon, from_json, linear, named_mlp_spec, relu,
                            seed_mlp_spec, seq, tensor_json, wait_for)


def mlp_numpy(sd, x, first="0", second="2"):
    """The seed MLP in float64 numpy from a JSON state_dict."""
    w1 = from_json(sd[first + ".weight"]).astype(np.float64)
    b1 = from_json(sd[first + ".bias"]).astype(np.float64)
    w2 = from_json(sd[second + ".weight"]).astype(np.float64)
    b2 = from_json(sd[second + ".bias"]).astype(np.float64)
    h = np.maximum(x.astype(np.float64) @ w1.T + b1, 0)
    return h @ w2.T + b2


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, spec=None, seed=1, **kw):
        body = {"name": name, "seed": seed, "device": "cpu",
                "block": spec or seed_mlp_spec()}
        body.update(kw)
        r = self.d.post("/v1/models", body)
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def delete(self, name):
        r = self.d.delete("/v1/models/" + name)
        self.assertEqual(r.status_code, 200, r.text)

    def test_health(self):
        r = self.d.get("/v1/health")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertTrue(r.headers.get("X-Request-Id", "").isdigit())
        j = r.json()
        self.assertEqual(j["status"], "ok")
        self.assertRegex(j["version"], r"^\d+\.\d+\.\d+")
        self.assertIsInstance(j["models"], int)

    def test_create_get_list_delete(self):
        j = self.create("crud", seed=5)
        self.assertEqual(j["name"], "crud")
        self.assertEqual(j["device"], "cpu")
        self.assertEqual(j["mode"], "train")
        self.assertEqual(j["seed"], 5)
        self.assertEqual(j["parameter_count"], 7946)
        self.assertEqual(j["bytes"], 31784)
        want_spec = {"type": "sequential", "layers": [
            {"type": "linear", "in_features": 20, "out_features": 256,
             "bias": True, "name": "0"},
            {"type": "relu", "name": "1"},
            {"type": "linear", "in_features": 256, "out_features": 10,
             "bias": True, "name": "2"}]}
        self.assertEqual(j["block"], want_spec)
        g = self.d.get("/v1/models/crud")
        self.assertEqual(g.status_code, 200)
        self.assertEqual(g.json()["block"], want_spec)
        self.assertEqual(g.json()["parameter_count"], 7946)
        # The spec round-trips: building it again gives the same spec and,
        # with the same seed, the same parameters.
        j2 = self.create("crud2", spec=g.json()["block"], seed=5)
        self.assertEqual(j2["block"], want_spec)
        sd1 = self.d.get("/v1/models/crud/state_dict").json()
        sd2 = self.d.get("/v1/models/crud2/state_dict").json()
        self.assertEqual(sd1, sd2)
        names = [m["name"] for m in self.d.get("/v1/models").json()["models"]]
        self.assertIn("crud", names)
        self.assertIn("crud2", names)
        listed = [m for m in self.d.get("/v1/models").json()["models"]
                  if m["name"] == "crud"][0]
        self.assertEqual(listed["parameter_count"], 7946)
        self.assertNotIn("block", listed)
        r = self.d.delete("/v1/models/crud")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"deleted": "crud"})
        self.assertEqual(self.d.get("/v1/models/crud").status_code, 404)
        names = [m["name"] for m in self.d.get("/v1/models").json()["models"]]
        self.assertNotIn("crud", names)
        self.delete("crud2")

    def test_like_clone_has_fresh_parameters(self):
        self.create("orig", seed=1)
        r = self.d.post("/v1/models", {"name": "clone", "like": "orig",
                                        "seed": 2, "device": "cpu"})
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["block"],
                         self.d.get("/v1/models/orig").json()["block"])
        a = self.d.get("/v1/models/orig/state_dict").json()
        b = self.d.get("/v1/models/clone/state_dict").json()
        self.assertEqual(list(a), list(b))
        self.assertNotEqual(a["0.weight"]["data"], b["0.weight"]["data"])
        self.delete("orig")
        self.delete("clone")

    def test_parameters_and_state_dict(self):
        self.create("params", spec=named_mlp_spec(), seed=11)
        r = self.d.get("/v1/models/params/parameters")
        self.assertEqual(r.status_code, 200)
        plist = r.json()["parameters"]
        self.assertEqual([p["name"] for p in plist],
                         ["hidden.weight", "hidden.bias", "out.weight",
                          "out.bias"])
        self.assertEqual([p["shape"] for p in plist],
                         [[256, 20], [256], [10, 256], [10]])
        for p in plist:
            self.assertEqual(p["dtype"], "float32")
            self.assertEqual(p["device"], "cpu")
            self.assertIs(p["requires_grad"], True)
            self.assertIs(p["has_grad"], False)
            self.assertEqual(p["aliases"], [])
            self.assertNotIn("value", p)
        self.assertEqual(r.json()["buffers"], [])
        sd = self.d.get("/v1/models/params/state_dict")
        self.assertEqual(sd.status_code, 200)
        # PyTorch's key order (json preserves it).
        keys = list(json.loads(sd.text).keys())
        self.assertEqual(keys, ["hidden.weight", "hidden.bias", "out.weight",
                                "out.bias"])
        sdj = sd.json()
        self.assertEqual(sdj["out.bias"]["shape"], [10])
        self.assertEqual(np.array(sdj["hidden.weight"]["data"]).shape,
                         (256, 20))  # nested by default
        p = self.d.get("/v1/models/params/parameters/out.bias")
        self.assertEqual(p.status_code, 200)
        pj = p.json()
        self.assertEqual(pj["name"], "out.bias")
        self.assertEqual(pj["shape"], [10])
        self.assertEqual(pj["dtype"], "float32")
        self.assertEqual(pj["device"], "cpu")
        self.assertIs(pj["requires_grad"], True)
        self.assertIsNone(pj["grad"])
        self.assertEqual(pj["value"], sdj["out.bias"])
        # Flat layout of the state_dict and of a parameter.
        flat = self.d.get("/v1/models/params/state_dict?layout=flat").json()
        self.assertEqual(len(flat["hidden.weight"]["data"]), 5120)
        self.assertEqual(np.array(flat["hidden.weight"]["data"]).reshape(
            256, 20).tolist(), sdj["hidden.weight"]["data"])
        pw = self.d.get("/v1/models/params/parameters/hidden.weight"
                        "?layout=flat").json()
        self.assertEqual(len(pw["value"]["data"]), 5120)
        # values=true includes each value in the list.
        pv = self.d.get("/v1/models/params/parameters?values=true").json()
        self.assertEqual(pv["parameters"][3]["value"], sdj["out.bias"])
        self.delete("params")

    def test_forward(self):
        self.create("fwd", seed=3)
        sd = self.d.get("/v1/models/fwd/state_dict").json()
        rng = np.random.default_rng(1)
        for batch in (1, 5):
            x = rng.standard_normal((batch, 20)).astype(np.float32)
            want = mlp_numpy(sd, x)
            # nested data with shape
            r = self.d.post("/v1/models/fwd/forward", {"inputs": {
                "shape": [batch, 20], "data": x.tolist()}})
            self.assertEqual(r.status_code, 200, r.text)
            out = r.json()["outputs"]
            self.assertEqual(out["shape"], [batch, 10])
            self.assertEqual(out["dtype"], "float32")
            self.assertEqual(np.array(out["data"]).shape, (batch, 10))
            np.testing.assert_allclose(from_json(out), want, rtol=1e-5,
                                       atol=1e-6)
            # flat data with shape
            r2 = self.d.post("/v1/models/fwd/forward",
                             {"inputs": tensor_json(x)})
            self.assertEqual(r2.status_code, 200, r2.text)
            self.assertEqual(r2.json(), r.json())
            # a bare nested list
            r3 = self.d.post("/v1/models/fwd/forward",
                             {"inputs": x.tolist()})
            self.assertEqual(r3.json(), r.json())
            # layout=flat output
            r4 = self.d.post("/v1/models/fwd/forward?layout=flat",
                             {"inputs": x.tolist()})
            o4 = r4.json()["outputs"]
            self.assertEqual(o4["shape"], [batch, 10])
            self.assertEqual(len(o4["data"]), batch * 10)
            self.assertEqual(np.array(o4["data"]).reshape(batch, 10).tolist(),
                             out["data"])
        # 1-d and 3-d inputs: linear applies to the last dimension.
        x3 = rng.standard_normal((2, 3, 20)).astype(np.float32)
        r = self.d.post("/v1/models/fwd/forward", {"inputs": x3.tolist()})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"]["shape"], [2, 3, 10])
        np.testing.assert_allclose(from_json(r.json()["outputs"]),
                                   mlp_numpy(sd, x3), rtol=1e-5, atol=1e-6)
        r = self.d.post("/v1/models/fwd/forward", {"inputs": x3[0, 0].tolist()})
        self.assertEqual(r.json()["outputs"]["shape"], [10])
        # float64 and int64 inputs are converted to float32.
        r = self.d.post("/v1/models/fwd/forward", {"inputs": {
            "shape": [1, 20], "dtype": "int64", "data": list(range(20))}})
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_allclose(
            from_json(r.json()["outputs"]),
            mlp_numpy(sd, np.arange(20, dtype=np.float32)[None]), rtol=1e-5,
            atol=1e-5)
        # An empty batch gives an empty output of the right shape, as in
        # PyTorch.
        r = self.d.post("/v1/models/fwd/forward", {"inputs": {
            "shape": [0, 20], "data": []}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"], {"shape": [0, 10],
                                               "dtype": "float32",
                                               "data": []})
        # Content-Type parameters are ignored. curl's form default is
        # refused without a token (test_auth.py covers it).
        for ct, status in (("application/json; charset=utf-8", 200),
                           ("application/x-www-form-urlencoded", 415)):
            r = self.d.request("POST", "/v1/models/fwd/forward",
                               data=json.dumps({"inputs": [[0.0] * 20]}),
                               headers={"Content-Type": ct})
            self.assertEqual(r.status_code, status, r.text)
        # Non-finite inputs travel as strings and come back as strings.
        xs = ["NaN"] + [0.0] * 19
        r = self.d.post("/v1/models/fwd/forward", {"inputs": [xs]})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(all(v == "NaN" for v in r.json()["outputs"]["data"][0]))
        # 1e308 overflows float32 to infinity, as torch.tensor does.
        r = self.d.post("/v1/models/fwd/forward",
                        {"inputs": [[1e308] + [0.0] * 19]})
        self.assertEqual(r.status_code, 200, r.text)
        vals = r.json()["outputs"]["data"][0]
        self.assertTrue(all(isinstance(v, str) or abs(v) < 1e38 for v in vals))
        self.assertTrue(any(isinstance(v, str) for v in vals))
        self.delete("fwd")

    def test_patch_mode(self):
        self.create("modal")
        r = self.d.patch("/v1/models/modal", {"mode": "eval"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["mode"], "eval")
        self.assertEqual(self.d.get("/v1/models/modal").json()["mode"], "eval")
        # Forward works in eval mode too (no dropout in this model).
        self.assertEqual(self.d.post("/v1/models/modal/forward", {
            "inputs": [[0.0] * 20]}).status_code, 200)
        r = self.d.patch("/v1/models/modal", {"mode": "train"})
        self.assertEqual(r.json()["mode"], "train")
        r = self.d.patch("/v1/models/modal", {})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json()["mode"], "train")
        self.delete("modal")

    def test_concurrent_forward_and_delete(self):
        """Forwards racing a delete either succeed or get 404; once the
        model is gone every worker sees 404, and the daemon keeps
        serving."""
        self.create("race")
        results = []

        def worker():
            with requests.Session() as s:
                for _ in range(20000):
                    r = s.post(self.d.url("/v1/models/race/forward"),
                               data=json.dumps({"inputs": [[0.5] * 20] * 8}),
                               headers={"Content-Type": "application/json"},
                               timeout=60)
                    results.append(r.status_code)
                    if r.status_code == 404:
                        return
        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        # Delete while the workers are running forwards.
        self.assertTrue(wait_for(lambda: results.count(200) >= 8))
        self.delete("race")
        for t in ts:
            t.join()
        self.assertEqual(set(results) - {200, 404}, set())
        self.assertEqual(results.count(404), 4)
        self.assertEqual(self.d.get("/v1/health").status_code, 200)


class Hostile(unittest.TestCase):
    """Malformed and hostile requests: exact status, {"error":{"code",
    "message"}} and the registry unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        r = cls.d.post("/v1/models", {"name": "mlp", "seed": 1,
                                       "device": "cpu",
                                       "block": seed_mlp_spec()})
        assert r.status_code == 201, r.text
        cls.count = 0

    @classmethod
    def tearDownClass(cls):
        assert cls.d.get("/v1/health").status_code == 200
        cls.d.stop()
        print("hostile requests checked: %d" % cls.count)

    def snapshot(self):
        r = self.d.get("/v1/models")
        self.assertEqual(r.status_code, 200)
        sd = self.d.get("/v1/models/mlp/state_dict").text
        return r.text, sd

    def expect(self, method, path, status, code, body=None, raw=None,
               headers=None, msg=None):
        before = self.snapshot()
        hdrs = dict(headers or {})
        if body is not None:
            raw = json.dumps(body)
        if raw is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        r = self.d.session.request(method, self.d.url(path), data=raw,
                                   headers=hdrs, timeout=60)
        self.assertEqual(r.status_code, status,
                         "%s %s -> %s %s" % (method, path, r.status_code,
                                             r.text[:300]))
        self.assertEqual(r.headers.get("Content-Type"), "application/json")
        j = r.json()
        self.assertEqual(set(j), {"error"}, r.text)
        self.assertEqual(set(j["error"]), {"code", "message"}, r.text)
        self.assertEqual(j["error"]["code"], code, r.text)
        self.assertIsInstance(j["error"]["message"], str)
        self.assertTrue(j["error"]["message"])
        if msg:
            self.assertIn(msg, j["error"]["message"])
        self.assertEqual(self.snapshot(), before,
                         "registry changed by %s %s" % (method, path))
        type(self).count += 1
        return r

    def create_err(self, status, code, msg=None, **fields):
        body = {"name": "x", "seed": 1, "device": "cpu",
                "block": seed_mlp_spec()}
        for k, v in fields.items():
            if v is KeyError:
                body.pop(k)
            else:
                body[k] = v
        return self.expect("POST", "/v1/models", status, code, body=body,
                           msg=msg)

    # --- malformed JSON ------------------------------------------------
    def test_bad_json(self):
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw='{"name": "x", "block": ')
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw="{'name': 'x'}")
        self.expect("POST", "/v1/models/mlp/forward", 400, "malformed_json",
                    raw='{"inputs": [1, 2,]}')
        self.expect("POST", "/v1/models", 400, "malformed_json", raw="")
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw="   \n  ")

    def test_trailing_garbage(self):
        body = json.dumps({"name": "x", "block": seed_mlp_spec()})
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw=body + " xyz", msg="trailing")
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw=body + body)

    def test_non_object_body(self):
        for raw in ("[1, 2]", '"mlp"', "42", "null", "true"):
            self.expect("POST", "/v1/models", 400, "invalid_argument",
                        raw=raw, msg="JSON object")
        self.expect("POST", "/v1/models/mlp/forward", 400, "invalid_argument",
                    raw="[[1,2]]")

    def test_invalid_utf8_name(self):
        raw = b'{"name":"\xff\xfe","seed":1,"block":{"type":"relu"}}'
        self.expect("POST", "/v1/models", 400, "invalid_argument", raw=raw)

    # --- wrong types for every field of POST /v1/models -------------------
    def test_wrong_types_create(self):
        self.create_err(400, "invalid_argument", "name: missing",
                        name=KeyError)
        self.create_err(400, "invalid_argument", "name: must be a string",
                        name=5)
        self.create_err(400, "invalid_argument", "name", name=["mlp"])
        self.create_err(400, "invalid_argument", "block: missing",
                        block=KeyError)
        self.create_err(400, "invalid_argument", "block: a block spec",
                        block="linear")
        self.create_err(400, "invalid_argument", "block: a block spec",
                        block=[seed_mlp_spec()])
        self.create_err(400, "invalid_argument", "seed", seed="1")
        self.create_err(400, "invalid_argument", "seed", seed=-1)
        self.create_err(400, "invalid_argument", "seed", seed=1.5)
        self.create_err(400, "invalid_argument", "seed", seed=2 ** 60)
        self.create_err(400, "invalid_argument", "seed", seed=1e308)
        self.create_err(400, "invalid_argument", "seed", seed="NaN")
        self.create_err(400, "invalid_argument", "seed", seed=None)
        self.create_err(400, "invalid_argument", "device: must be a string",
                        device=0)
        self.create_err(400, "invalid_argument", "device", device="tpu")
        self.create_err(400, "invalid_argument", "device", device="cuda:99")
        self.create_err(400, "invalid_argument", "like: must be a string",
                        block=KeyError, like=7)
        self.create_err(400, "invalid_argument", "like",
                        like="mlp")
        self.create_err(404, "not_found", "like: model 'ghost' not found",
                        block=KeyError, like="ghost")
        self.create_err(400, "invalid_argument", "unknown field 'layers'",
                        layers=[])

    # --- block specs: dims, types, fields -------------------------------
    def test_bad_dims(self):
        def spec(i, o, **kw):
            return seq(linear(20, 256), relu(), linear(i, o, **kw))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].in_features: -1 is outside",
                        block=spec(-1, 10))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].out_features: 0 is outside",
                        block=spec(256, 0))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].in_features: must be an integer",
                        block=spec("256", 10))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].in_features: must be an integer",
                        block=spec(2.5, 10))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].in_features: 1e+308 is outside",
                        block=spec(1e308, 10))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].in_features",
                        block=spec(None, 10))
        self.create_err(400, "invalid_argument",
                        "block.layers[2].bias: must be true or false",
                        block=spec(256, 10, bias="yes"))
        # 10^12 x 10^12 elements overflow the element limit.
        self.create_err(400, "limit_exceeded", "block.layers[2]",
                        block=spec(10 ** 12, 10 ** 12))
        # 100000 x 100000 floats = 40 GB, over --max-model-bytes (4G).
        self.create_err(413, "too_large", "block.layers[2]",
                        block=spec(100000, 100000))

    def test_bad_specs(self):
        self.create_err(400, "invalid_argument",
                        "block.layers[1].type: unknown block type 'conv9d'",
                        block=seq(linear(20, 256), {"type": "conv9d"}))
        self.create_err(400, "invalid_argument",
                        "block.layers[0].units: unknown field",
                        block=seq(linear(20, 256, units=3)))
        self.create_err(400, "invalid_argument", "block.layers: must be",
                        block={"type": "sequential", "layers": {"0": relu()}})
        self.create_err(400, "invalid_argument", "block.type: missing",
                        block={"layers": []})
        self.create_err(400, "invalid_argument",
                        "block.layers[1].ref: undefined ref",
                        block=seq(relu(), {"ref": "nope"}))
        self.create_err(400, "invalid_argument",
                        "block.layers[1].name: duplicate child name",
                        block=seq(relu(name="a"), relu(name="a")))

    def test_depth_bombs(self):
        # Deeper than --max-depth (64) but valid JSON.
        spec = relu()
        for _ in range(100):
            spec = seq(spec)
        self.create_err(400, "limit_exceeded", "nested deeper than 64",
                        block=spec)
        # Deeper than any JSON parser should follow: rejected by the parser.
        deep = '{"type":"sequential","layers":[' * 5000 + "]}" * 5000
        self.expect("POST", "/v1/models", 400, "malformed_json",
                    raw='{"name":"x","block":' + deep + "}")
        self.expect("POST", "/v1/models/mlp/forward", 400, "malformed_json",
                    raw='{"inputs":' + "[" * 100000 + "]" * 100000 + "}")

    def test_invalid_names(self):
        for name in ("", ".hidden", "../etc", "a/b", "a b", "x" * 129,
                     "na\u00efve", "semi;colon", "%2e%2e"):
            self.create_err(400, "invalid_argument", "not a valid model name",
                            name=name)

    def test_duplicate_name(self):
        self.create_err(409, "already_exists",
                        "a model named 'mlp' already exists", name="mlp")

    # --- unknown model / parameter / endpoint ------------------------------
    def test_unknown_names(self):
        self.expect("GET", "/v1/models/ghost", 404, "not_found",
                    msg="model 'ghost' not found")
        self.expect("DELETE", "/v1/models/ghost", 404, "not_found")
        self.expect("GET", "/v1/models/ghost/parameters", 404, "not_found")
        self.expect("GET", "/v1/models/ghost/state_dict", 404, "not_found")
        self.expect("PATCH", "/v1/models/ghost", 404, "not_found",
                    body={"mode": "eval"})
        self.expect("POST", "/v1/models/ghost/forward", 404, "not_found",
                    body={"inputs": [[0.0] * 20]})
        self.expect("GET", "/v1/models/mlp/parameters/0.gamma", 404,
                    "not_found", msg="no parameter or buffer '0.gamma'")
        self.expect("GET", "/v1/models/mlp/parameters/5.weight", 404,
                    "not_found")
        self.expect("GET", "/v1/models/mlp/parameters/0.", 404, "not_found")
        self.expect("GET", "/v1/nothing", 404, "not_found")
        self.expect("GET", "/v1/models/mlp/forward/extra", 404, "not_found")
        self.expect("GET", "/v1/models/" + "y" * 2000, 404, "not_found")

    def test_path_traversal(self):
        self.expect("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", 404,
                    "not_found")
        self.expect("GET", "/v1/models/../../etc/passwd", 404, "not_found")
        self.expect("DELETE", "/v1/models/..", 404, "not_found")
        self.expect("GET", "/v1/models/mlp/parameters/..%2F..%2Fstate_dict",
                    404, "not_found")

    # --- methods -------------------------------------------------------------
    def check_allow(self, method, path, must):
        r = self.expect(method, path, 405, "method_not_allowed",
                        raw="{}" if method in ("POST", "PUT", "PATCH")
                        else None)
        allow = {m.strip() for m in r.headers["Allow"].split(",")}
        self.assertTrue(set(must) <= allow, (path, allow))
        self.assertNotIn(method, allow)

    def test_wrong_methods(self):
        self.check_allow("PUT", "/v1/models", {"GET", "POST"})
        self.check_allow("DELETE", "/v1/health", {"GET"})
        self.check_allow("POST", "/v1/health", {"GET"})
        self.check_allow("GET", "/v1/models/mlp/forward", {"POST"})
        self.check_allow("POST", "/v1/models/mlp", {"GET", "PATCH", "DELETE"})
        self.check_allow("DELETE", "/v1/models/mlp/state_dict", {"GET"})
        self.check_allow("POST", "/v1/models/mlp/parameters", {"GET"})
        self.check_allow("DELETE", "/v1/models/mlp/parameters/0.bias", {"GET"})

    # --- media types and sizes ------------------------------------------
    def test_unsupported_content_type(self):
        body = json.dumps({"name": "x", "block": relu()})
        for ct in ("text/plain", "application/xml", "multipart/form-data"):
            self.expect("POST", "/v1/models", 415, "unsupported_media_type",
                        raw=body, headers={"Content-Type": ct})
        self.expect("POST", "/v1/models/mlp/forward", 415,
                    "unsupported_media_type",
                    raw=json.dumps({"inputs": [[0.0] * 20]}),
                    headers={"Content-Type": "image/png"})

    def test_huge_shape_claims(self):
        self.expect("POST", "/v1/models/mlp/forward", 400, "limit_exceeded",
                    body={"inputs": {"shape": [10 ** 9, 10 ** 9], "data": []}})
        self.expect("POST", "/v1/models/mlp/forward", 400, "limit_exceeded",
                    body={"inputs": {"shape": [2 ** 26 + 1, 1], "data": []}},
                    msg="exceed the limit")
        self.expect("POST", "/v1/models/mlp/forward", 400, "invalid_argument",
                    body={"inputs": {"shape": [-1, 20], "data": []}})
        self.expect("POST", "/v1/models/mlp/forward", 400, "invalid_argument",
                    body={"inputs": {"shape": [1e308], "data": []}})
        self.expect("POST", "/v1/models/mlp/forward", 400, "invalid_argument",
                    body={"inputs": {"shape": [1] * 9, "data": [1]}})

    # --- forward inputs ---------------------------------------------------
    def test_forward_bad_inputs(self):
        f = "/v1/models/mlp/forward"
        self.expect("POST", f, 422, "shape_mismatch", body={"inputs": {
            "shape": [1, 21], "data": [0.0] * 21}},
            msg="layer 0 (linear) expects 20 input features, got 21")
        self.expect("POST", f, 422, "shape_mismatch", body={"inputs": 3.0},
                    msg="layer 0 (linear)")
        self.expect("POST", f, 400, "invalid_argument", body={},
                    msg="inputs: missing")
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": [[0.0] * 20], "outputs": 1},
                    msg="unknown field 'outputs'")
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": {"data": [[0.0] * 20], "device": "cpu"}})
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": "NaN"})
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": [["NaNa"] + [0.0] * 19]},
                    msg="not a number")
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": [[None] * 20]})
        self.expect("POST", f, 400, "invalid_argument",
                    body={"inputs": {"shape": [1, 20], "dtype": "complex64",
                                     "data": [0.0] * 20}})
        self.expect("POST", f, 422, "shape_mismatch",
                    body={"inputs": [[0.0] * 20, [0.0] * 19]}, msg="ragged")
        self.expect("POST", f, 422, "shape_mismatch",
                    body={"inputs": {"shape": [2, 20], "data": [0.0] * 39}})

    def test_patch_bad(self):
        self.expect("PATCH", "/v1/models/mlp", 400, "invalid_argument",
                    body={"mode": "test"})
        self.expect("PATCH", "/v1/models/mlp", 400, "invalid_argument",
                    body={"mode": 1})
        self.expect("PATCH", "/v1/models/mlp", 400, "invalid_argument",
                    body={"name": "renamed"})
        self.expect("PATCH", "/v1/models/mlp", 400, "malformed_json",
                    raw="mode=eval")

    def test_bad_query(self):
        self.expect("GET", "/v1/models/mlp/parameters/0.bias?field=grads",
                    400, "invalid_argument")


class Limits(unittest.TestCase):
    """--max-body: bodies over it get 413, with or without Content-Length."""

    def test_max_body(self):
        with Daemon("--max-body", "4K") as d:
            before = d.get("/v1/models").text
            big = json.dumps({"name": "big", "block": seed_mlp_spec(),
                              "pad": "x" * 5000})
            r = d.session.post(d.url("/v1/models"), data=big,
                               headers={"Content-Type": "application/json"},
                               timeout=60)
            self.assertEqual(r.status_code, 413, r.text)
            self.assertEqual(r.json()["error"]["code"], "payload_too_large")

            def chunks():
                for _ in range(10):
                    yield b"[" + b"0," * 500 + b"0]"
            with requests.Session() as s:
                r = s.post(d.url("/v1/models/x/forward"), data=chunks(),
                           headers={"Content-Type": "application/json"},
                           timeout=60)
            self.assertEqual(r.status_code, 413, r.text)
            self.assertEqual(r.json()["error"]["code"], "payload_too_large")
            self.assertEqual(d.get("/v1/models").text, before)
            # A body under the limit still works on the same daemon.
            r = d.post("/v1/models", {"name": "small", "block": relu()})
            self.assertEqual(r.status_code, 201, r.text)


if __name__ == "__main__":
    unittest.main()
