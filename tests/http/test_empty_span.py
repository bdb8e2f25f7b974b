"""Empty tensors with a huge index space, found by the JSON-tensor fuzzer
(tests/fuzz/fuzz_json_tensor.c): shape [2^40, 0] holds 0 elements, so every
element limit let it through, yet printing it as nested JSON writes 2^40
"[]" - the daemon hung and ran out of memory. The limits now count the
product of the non-zero dimensions (bd_shape_span), and a shape whose
non-zero dims multiply past 2^40 is refused outright."""
import json
import struct
import unittest

import numpy as np
from blockd_testlib import Daemon

OCTET = {"Content-Type": "application/octet-stream"}
NPY = {"Content-Type": "application/x-npy"}
BIG = 1 << 40


def st_file(shape):
    h = json.dumps({"a": {"dtype": "F32", "shape": shape,
                          "data_offsets": [0, 0]}},
                   separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h


def npy_file(shape):
    hdr = ("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
           % (tuple(shape),)).encode()
    hdr += b" " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr


class EmptySpan(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def assert_alive(self):
        self.assertEqual(self.d.get("/v1/health").status_code, 200)

    def test_json_body_refused(self):
        r = self.d.put("/v1/tensors/e", {"shape": [BIG, 0], "data": []})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("non-zero dimensions", r.json()["error"]["message"])
        self.assertEqual(self.d.get("/v1/tensors/e").status_code, 404)
        self.assert_alive()

    def test_npy_body_refused(self):
        data = npy_file([BIG, 0])
        # The helper above writes what numpy writes for a small shape.
        small = np.load(__import__("io").BytesIO(npy_file([3, 0])))
        self.assertEqual(small.shape, (3, 0))
        r = self.d.put("/v1/tensors/n", data=data, headers=NPY)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("non-zero dimensions", r.json()["error"]["message"])
        self.assert_alive()

    def test_small_empty_tensor_still_round_trips(self):
        # [2, 0, 3] prints as [[], []]; it reads back (it did not before).
        r = self.d.put("/v1/tensors/s", {"shape": [2, 0, 3], "data": []})
        self.assertIn(r.status_code, (200, 201), r.text)
        g = self.d.get("/v1/tensors/s")
        self.assertEqual(g.status_code, 200, g.text)
        body = g.json()
        self.assertEqual(body["shape"], [2, 0, 3])
        self.assertEqual(body["data"], [[], []])
        r = self.d.put("/v1/tensors/s2", body)
        self.assertIn(r.status_code, (200, 201), r.text)
        self.assertEqual(self.d.get("/v1/tensors/s2").json()["shape"],
                         [2, 0, 3])

    def test_file_as_json_refused(self):
        # Files may hold up to 2^40 elements; as JSON the span counts.
        r = self.d.put("/v1/files/span", data=st_file([BIG, 0]),
                       headers=OCTET)
        self.assertIn(r.status_code, (200, 201), r.text)
        g = self.d.get("/v1/files/span")
        self.assertEqual(g.status_code, 413, g.text[:200])
        self.assertEqual(g.json()["error"]["code"], "too_large")
        raw = self.d.get("/v1/files/span",
                         headers={"Accept": "application/octet-stream"})
        self.assertEqual(raw.status_code, 200)
        self.assertEqual(raw.content, st_file([BIG, 0]))
        self.assert_alive()

    def test_zero_dim_overflow_refused(self):
        r = self.d.put("/v1/files/ovf", data=st_file([0, 1 << 40, 1 << 40]),
                       headers=OCTET)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("non-zero dimensions", r.json()["error"]["message"])
        self.assertEqual(self.d.get("/v1/files/ovf").status_code, 404)
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
