"""Named tensors across devices: PUT /v1/tensors/{t}?device=, POST
/v1/tensors/{t}/to (X.cuda(1); same device: no copy) and POST /v1/tensors/ops
(add, mul, matmul, sum; mixed devices -> device_mismatch), checked against
numpy. GPU-only cases are skipped without a GPU."""
import unittest

import numpy as np

from blockd_testlib import Daemon, from_json, tensor_json, TEST_DEVICE


class TensorDevices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.ngpu = cls.d.get("/v1/devices").json()["cuda_device_count"]

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def put(self, name, arr, device=None):
        path = "/v1/tensors/%s" % name
        if device is not None:
            path += "?device=%s" % device
        return self.d.put(path, tensor_json(arr))

    def value(self, name):
        r = self.d.get("/v1/tensors/%s" % name)
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json())

    def op(self, **body):
        return self.d.post("/v1/tensors/ops", body)

    def test_put_on_a_device(self):
        x = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
        r = self.put("pd", x, TEST_DEVICE)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["device"], TEST_DEVICE)
        np.testing.assert_array_equal(self.value("pd"), x)
        listed = {t["name"]: t for t in self.d.get("/v1/tensors").json()["tensors"]}
        self.assertEqual(listed["pd"]["device"], TEST_DEVICE)

    def test_put_on_a_missing_device_is_400_and_stores_nothing(self):
        for dev in ("cuda:%d" % self.ngpu, "gpu"):
            r = self.put("nowhere", np.ones(3, np.float32), dev)
            self.assertEqual(r.status_code, 400, r.text)
            self.assertEqual(r.json()["error"]["code"], "invalid_argument")
            self.assertIn("device", r.json()["error"]["message"])
        self.assertEqual(self.d.get("/v1/tensors/nowhere").status_code, 404)

    def test_to_same_device_is_no_copy(self):
        x = np.array([1.5, -2.25, 3e-8], np.float32)
        self.put("same", x, TEST_DEVICE)
        r = self.d.post("/v1/tensors/same/to", {"device": TEST_DEVICE, "as": "same2"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertFalse(r.json()["copied"])
        self.assertEqual(r.json()["device"], TEST_DEVICE)
        np.testing.assert_array_equal(self.value("same2"), x)
        r = self.d.post("/v1/tensors/same/to", {"device": "cpu"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["name"], "same")
        self.assertEqual(r.json()["device"], "cpu")

    def test_to_errors(self):
        self.put("terr", np.ones(2, np.float32))
        cases = [({"device": "cuda:%d" % self.ngpu}, 400),
                 ({"device": 1}, 400), ({}, 400),
                 ({"device": "cpu", "as": "../x"}, 400),
                 ({"device": "cpu", "extra": 1}, 400)]
        for body, code in cases:
            r = self.d.post("/v1/tensors/terr/to", body)
            self.assertEqual(r.status_code, code, (body, r.text))
        r = self.d.post("/v1/tensors/absent/to", {"device": "cpu"})
        self.assertEqual(r.status_code, 404, r.text)

    def test_ops_match_numpy(self):
        rng = np.random.default_rng(3)
        a = rng.standard_normal((4, 5)).astype(np.float32)
        b = rng.standard_normal((4, 5)).astype(np.float32)
        row = rng.standard_normal(5).astype(np.float32)
        m = rng.standard_normal((5, 3)).astype(np.float32)
        v = rng.standard_normal(5).astype(np.float32)
        for n, x in (("oa", a), ("ob", b), ("orow", row), ("om", m), ("ov", v)):
            self.assertIn(self.put(n, x, TEST_DEVICE).status_code, (200, 201))
        self.put("os", np.array([2.5], np.float32), TEST_DEVICE)
        cases = [("add", "oa", "ob", a + b), ("mul", "oa", "ob", a * b),
                 ("add", "oa", "orow", a + row), ("mul", "oa", "os", a * 2.5),
                 ("matmul", "oa", "om", a @ m), ("matmul", "oa", "ov", a @ v)]
        for op, x, y, want in cases:
            r = self.op(op=op, a=x, b=y, **{"as": "oy"})
            self.assertEqual(r.status_code, 200, (op, r.text))
            self.assertEqual(r.json()["device"], TEST_DEVICE)
            self.assertEqual(r.json()["shape"], list(want.shape))
            np.testing.assert_allclose(self.value("oy"), want, rtol=1e-5, atol=1e-6)
        r = self.op(op="sum", a="oa", **{"as": "osum"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["shape"], [])
        np.testing.assert_allclose(self.value("osum"), a.astype(np.float64).sum(), rtol=1e-6)

    def test_sum_of_int64_arange(self):
        self.assertEqual(self.put("ar", np.arange(4, dtype=np.int64)).status_code, 201)
        r = self.op(op="sum", a="ar", **{"as": "ars"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(float(self.value("ars")), 6.0)

    def test_op_errors(self):
        self.put("e1", np.ones((2, 3), np.float32))
        self.put("e2", np.ones((3, 2), np.float32))
        r = self.op(op="add", a="e1", b="e2", **{"as": "e3"})
        self.assertEqual(r.status_code, 422, r.text)
        self.assertEqual(r.json()["error"]["code"], "shape_mismatch")
        r = self.op(op="matmul", a="e1", b="e1", **{"as": "e3"})
        self.assertEqual(r.status_code, 422, r.text)
        for body in ({"op": "pow", "a": "e1", "b": "e2", "as": "e3"},
                     {"op": "add", "a": "e1", "as": "e3"},
                     {"op": "add", "a": "e1", "b": "e2"},
                     {"op": "sum", "a": "e1", "b": "e2", "as": "e3"},
                     {"a": "e1", "b": "e2", "as": "e3"}):
            self.assertEqual(self.d.post("/v1/tensors/ops", body).status_code, 400, body)
        r = self.op(op="add", a="e1", b="nope", **{"as": "e3"})
        self.assertEqual(r.status_code, 404, r.text)
        self.assertEqual(self.d.get("/v1/tensors/e3").status_code, 404)

    def test_gpu_round_trip_and_device_mismatch(self):
        if not self.ngpu:
            self.skipTest("no CUDA device: cross-device copies and device_mismatch not run")
        x = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
        self.put("gx", x, "cpu")
        last = "gx"
        for i in list(range(self.ngpu)) + [0]:
            r = self.d.post("/v1/tensors/%s/to" % last, {"device": "cuda:%d" % i,
                                                         "as": "g%d" % i})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["device"], "cuda:%d" % i)
            last = "g%d" % i
        np.testing.assert_array_equal(self.value(last), x)
        r = self.op(op="add", a="g0", b="gx", **{"as": "gz"})
        self.assertEqual(r.status_code, 422, r.text)
        self.assertEqual(r.json()["error"]["code"], "device_mismatch")
        self.assertIn("same device", r.json()["error"]["message"])


if __name__ == "__main__":
    unittest.main()
