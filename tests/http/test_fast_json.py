"""Tensor JSON read in one pass and printed without printf, over HTTP.

Float32 values put as the 17-digit text Python prints for them come back
bit for bit, printed in numpy's shortest digits; backward reads its tensors
straight from the body whatever the key order, and its errors keep their
order and text; .npy bodies round-trip float32 and int64 through the tensor
endpoints, alone and mixed with JSON.
"""
import io
import json
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from blockd_testlib import (Daemon, seed_mlp_spec, tensor_json,  # noqa: E402
                            TEST_DEVICE)

JSON = {"Content-Type": "application/json"}
NPY = {"Content-Type": "application/x-npy"}
ACCEPT_NPY = {"Accept": "application/x-npy"}


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def shortest_digits(x):
    """numpy's shortest digits and exponent of a float32, as (str, int)."""
    m, e = np.format_float_scientific(np.float32(x), unique=True).split("e")
    d = m.replace(".", "").replace("-", "").rstrip("0")
    return d, int(e) - len(d) + 1


def printed_digits(tok):
    """The same for a number as the daemon printed it ("0.1", "1e-07")."""
    t = tok.lstrip("-")
    mant, _, exp = t.partition("e")
    e = int(exp) if exp else 0
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    e -= len(fp)
    stripped = digits.rstrip("0")
    return stripped, e + len(digits) - len(stripped)


class FastJson(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        r = cls.d.post("/v1/models", {"name": "m", "seed": 3,
                                       "device": TEST_DEVICE,
                                       "block": seed_mlp_spec()})
        assert r.status_code == 201, r.text

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_float32_text_round_trip_and_shortest(self):
        rng = np.random.default_rng(7)
        bits = rng.integers(0, 2**31 - 1, 2000, dtype=np.uint32)
        bits[:400] &= 0x007FFFFF  # subnormals
        bits = bits[((bits >> 23) & 0xFF) != 0xFF]
        edges = np.array([1, 0x7F7FFFFF, 0x00800000, 0x3F800000, 0x4B800000],
                         dtype=np.uint32)
        a = np.concatenate([bits, edges]).view(np.float32)
        a = np.concatenate([a, -a])
        # 17 significant digits, as json.dumps prints float(np.float32).
        text = '{"dtype":"float32","data":[%s]}' % ",".join(
            repr(float(v)) for v in a)
        r = self.d.request("PUT", "/v1/tensors/f", data=text, headers=JSON)
        self.assertEqual(r.status_code, 201, r.text)
        g = self.d.get("/v1/tensors/f")
        self.assertEqual(g.status_code, 200, g.text)
        toks = g.text.split('"data":[')[1].rstrip("]}").split(",")
        back = np.array([float(t) for t in toks], dtype=np.float32)
        np.testing.assert_array_equal(back.view(np.uint32), a.view(np.uint32))
        for t, v in zip(toks, a):
            self.assertEqual(printed_digits(t), shortest_digits(v), t)
        # And as .npy, the same bits.
        n = self.d.get("/v1/tensors/f", headers=ACCEPT_NPY)
        self.assertEqual(n.status_code, 200)
        np.testing.assert_array_equal(
            np.load(io.BytesIO(n.content)).view(np.uint32), a.view(np.uint32))

    def test_npy_round_trips(self):
        rng = np.random.default_rng(1)
        arrays = {
            "f32": rng.standard_normal((3, 5)).astype(np.float32),
            "i64": np.array([[2**63 - 1, -2**63], [2**53 + 1, 0]],
                            dtype=np.int64),
        }
        for name, a in arrays.items():
            r = self.d.request("PUT", "/v1/tensors/" + name,
                               data=npy_bytes(a), headers=NPY)
            self.assertEqual(r.status_code, 201, r.text)
            g = self.d.get("/v1/tensors/" + name, headers=ACCEPT_NPY)
            self.assertEqual(g.status_code, 200, g.text)
            self.assertEqual(g.headers["Content-Type"], "application/x-npy")
            b = np.load(io.BytesIO(g.content))
            self.assertEqual(b.dtype, a.dtype)
            np.testing.assert_array_equal(b, a)
            # Put as .npy, read as JSON: exact values too.
            j = self.d.get("/v1/tensors/" + name).json()
            self.assertEqual(j["dtype"], str(a.dtype))
            np.testing.assert_array_equal(np.array(j["data"], dtype=a.dtype),
                                          a)
        # Put as JSON text, read as .npy.
        r = self.d.request("PUT", "/v1/tensors/j", headers=JSON,
                           data='{"dtype":"int64","data":[9007199254740993]}')
        self.assertEqual(r.status_code, 201, r.text)
        g = self.d.get("/v1/tensors/j", headers=ACCEPT_NPY)
        self.assertEqual(np.load(io.BytesIO(g.content)).tolist(),
                         [9007199254740993])

    def backward(self, text):
        return self.d.request("POST", "/v1/models/m/backward", data=text,
                              headers=JSON)

    def test_backward_key_orders_agree(self):
        x = np.random.default_rng(2).standard_normal((4, 20)).astype(
            np.float32)
        t = np.random.default_rng(3).standard_normal((4, 10)).astype(
            np.float32)
        xs, ts = json.dumps(tensor_json(x)), json.dumps(t.tolist())
        bodies = [
            '{"inputs":%s,"loss":{"type":"mse","target":%s}}' % (xs, ts),
            '{"loss":{"target":%s,"type":"mse"},"inputs":%s}' % (ts, xs),
            '{"loss":{"target":{"data":%s,"shape":[4,10]},"type":"mse"},'
            '"inputs":%s}' % (json.dumps(t.ravel().tolist()), xs),
        ]
        losses = []
        for b in bodies:
            self.d.post("/v1/models/m/zero_grad", {})
            r = self.backward(b)
            self.assertEqual(r.status_code, 200, r.text)
            losses.append(r.json()["loss"])
        self.assertEqual(losses[0], losses[1])
        self.assertEqual(losses[0], losses[2])
        self.assertGreater(losses[0], 0)

    def test_backward_errors_keep_order_and_text(self):
        cases = [
            ('{"inputs":[[1]],"bogus":1,"loss":{"target":[[1],[2,3]]}}',
             400, "unknown field 'bogus'"),
            ('{"inputs":[[1],[2,3]]}', 400, "loss: missing"),
            ('{"inputs":[[1],[2,3]],"loss":{"type":"mse","target":[[1]]}}',
             422, "inputs: ragged"),
            ('{"inputs":[[1]],"loss":{"type":"mse","target":[[1],[2,3]]}}',
             422, "loss.target: ragged"),
            ('{"inputs":[[1]],"loss":{"type":"mse","target":[1],"x":2}}',
             400, "unknown field 'loss.x'"),
            ('{"inputs":[[1]],"loss":{"type":"sum"},"grad_output":[1]}',
             400, "grad_output: not used by loss 'sum'"),
            ('{"inputs":[1,2', 400, "malformed JSON near byte"),
            ('{"inputs":[1]} x', 400, "trailing data after the JSON document"),
            ('[1]', 400, "the request body must be a JSON object"),
            ('{"inputs":[1],"s":"\xff"}', 400, "not valid UTF-8"),
        ]
        for body, code, msg in cases:
            data = body.encode("latin-1") if "\xff" in body else body
            r = self.d.request("POST", "/v1/models/m/backward", data=data,
                               headers=JSON)
            self.assertEqual(r.status_code, code, (body, r.text))
            self.assertIn(msg, r.json()["error"]["message"], body)


if __name__ == "__main__":
    unittest.main()
