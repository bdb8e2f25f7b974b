"""int64 tensors over JSON keep every value exactly.

cJSON reads numbers as doubles, so 9007199254740993 (2^53 + 1) used to come
back as ...992 and 2^63-1 was refused. Integer literals are now read as
integers over the whole int64 range; one past it is a 400 that stores
nothing.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from blockd_testlib import Daemon  # noqa: E402

JSON = {"Content-Type": "application/json"}
EXACT = [9007199254740993, 9223372036854775807, -9223372036854775808,
         -9007199254740993, 1234567890123456789, 0, -1]


class Int64Json(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def put_raw(self, name, text):
        return self.d.request("PUT", "/v1/tensors/" + name, data=text,
                              headers=JSON)

    def test_extremes_round_trip_exactly(self):
        text = ('{"shape":[%d],"dtype":"int64","data":[%s]}'
                % (len(EXACT), ",".join(str(v) for v in EXACT)))
        r = self.put_raw("big", text)
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.get("/v1/tensors/big")
        self.assertEqual(r.status_code, 200, r.text)
        # The text itself, so that no double in the client rounds it.
        self.assertIn("[%s]" % ",".join(str(v) for v in EXACT), r.text)
        self.assertEqual(r.json()["data"], EXACT)

    def test_nested_and_flat_forms(self):
        r = self.put_raw("nested", '{"dtype":"int64","data":'
                         '[[9223372036854775807],[-9223372036854775807]]}')
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(self.d.get("/v1/tensors/nested").json()["data"],
                         [[9223372036854775807], [-9223372036854775807]])
        r = self.put_raw("flat", '{"shape":[2,1],"dtype":"int64",'
                         '"data":[9007199254740995,2]}')
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(self.d.get("/v1/tensors/flat").json()["data"],
                         [[9007199254740995], [2]])

    def test_out_of_range_is_400_and_stores_nothing(self):
        for v in ("9223372036854775808", "-9223372036854775809",
                  "99999999999999999999999"):
            r = self.put_raw("over", '{"dtype":"int64","data":[1,%s]}' % v)
            self.assertEqual(r.status_code, 400, r.text)
            err = r.json()["error"]
            self.assertEqual(err["code"], "invalid_argument")
            self.assertIn("element 1 is not an integer in the int64 range",
                          err["message"])
        self.assertEqual(self.d.get("/v1/tensors/over").status_code, 404)
        r = self.put_raw("frac", '{"dtype":"int64","data":[1.5]}')
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("not an integer", r.json()["error"]["message"])

    def test_neighbouring_long_literals(self):
        r = self.put_raw("s", '{"dtype":"int64","shape":[2],'
                         '"data":[9223372036854775806,7]}')
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.request(
            "PUT", "/v1/tensors/s2", headers=JSON,
            data='{"dtype":"int64","data":[9223372036854775805]}')
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(self.d.get("/v1/tensors/s").json()["data"],
                         [9223372036854775806, 7])
        self.assertEqual(self.d.get("/v1/tensors/s2").json()["data"],
                         [9223372036854775805])

    def test_float_tensors_unchanged(self):
        r = self.put_raw("f", '{"data":[12345678901234567890, 1.5]}')
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(self.d.get("/v1/tensors/f").json()["data"],
                         [1.2345679e19, 1.5])


if __name__ == "__main__":
    unittest.main()
