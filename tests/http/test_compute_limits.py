"""--max-compute-seconds: a while loop whose condition never turns false
stops with 422 compute_timeout instead of holding a worker (and shutdown)
for as long as max_iters allows; the daemon keeps serving."""
import time
import unittest

from blockd_testlib import FOREVER, Daemon, linear, seq


class ComputeLimit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-compute-seconds", "0.5")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_endless_while_times_out_in_forward_and_backward(self):
        r = self.d.post("/v1/models", {"name": "spin", "seed": 1,
                                        "block": seq(linear(2, 2), FOREVER)})
        self.assertEqual(r.status_code, 201, r.text)
        for path, body in (
                ("forward", {"inputs": [[1.0, 2.0]]}),
                ("backward", {"inputs": [[1.0, 2.0]],
                              "loss": {"type": "sum"}})):
            t0 = time.monotonic()
            r = self.d.post("/v1/models/spin/" + path, body)
            took = time.monotonic() - t0
            self.assertEqual(r.status_code, 422, r.text)
            err = r.json()["error"]
            self.assertEqual(err["code"], "compute_timeout")
            self.assertIn("layer 1", err["message"])
            self.assertLess(took, 30)  # bounded; the limit is 0.5 s
        # No gradient was left behind by the failed backward.
        g = self.d.get("/v1/models/spin/parameters/0.weight?field=grad")
        self.assertEqual(g.status_code, 200)
        self.assertIsNone(g.json())
        # The daemon keeps serving.
        self.assertEqual(self.d.get("/v1/health").status_code, 200)

    def test_short_loops_are_unaffected(self):
        halve = {"type": "while", "cond": {"reduce": "abs_sum", "gt": 1},
                 "body": {"type": "scale", "value": 0.5}, "max_iters": 100}
        r = self.d.post("/v1/models", {"name": "halve", "seed": 1,
                                        "block": halve})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.post("/v1/models/halve/forward", {"inputs": [8.0, 8.0]})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"]["data"], [0.5, 0.5])

    def test_flag_validation(self):
        for bad in ("-1", "abc", "1e9"):
            with self.assertRaises(RuntimeError):
                Daemon("--max-compute-seconds", bad).stop()


if __name__ == "__main__":
    unittest.main()
