"""Issue 13, denial of service: a spec's cost is bounded by what it expands
to, not by its size on the wire. Sequential levels that {"ref"} the level
below twice grow as 2^levels (a 1.4 KB body used to take 19 s to create,
write a 27 MB checkpoint and run past --max-compute-seconds); they are
refused at once with 400 limit_exceeded naming --max-spec-nodes. Specs of
tens of thousands of layers are parsed and built in linear time (a
quadratic parser would time this suite out), --max-blocks caps them, and
the compute deadline stops any forward, not only a while loop."""
import json
import time
import unittest

import requests

from blockd_testlib import Daemon, linear, seq


def doubling(levels):
    """Level 0 is a 1x1 linear; level k runs level k-1 twice. The root
    sequential runs every level once: 1 + sum(2^k - 1 + 2^k ...) blocks
    once expanded, 2^levels runs of the linear in the last level alone."""
    layers = [linear(1, 1, bias=False, id="L0")]
    for k in range(1, levels + 1):
        layers.append({"type": "sequential", "id": "L%d" % k,
                       "layers": [{"ref": "L%d" % (k - 1), "name": "a"},
                                  {"ref": "L%d" % (k - 1), "name": "b"}]})
    return seq(*layers)


def expanded(levels):
    """Blocks of doubling(levels) once every ref is expanded."""
    size = [1]  # level 0: the linear
    for _ in range(levels):
        size.append(1 + 2 * size[-1])
    return 1 + sum(size)


def post_raw(d, body):
    """POST /v1/models without the test library's schema check (which is
    slow on huge specs and beside the point here)."""
    return requests.post(d.url("/v1/models"), data=json.dumps(body),
                         headers={"Content-Type": "application/json"},
                         timeout=120)


class ExpandedSize(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-spec-nodes", "1000", "--max-model-bytes", "1M")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_exponential_refs_are_refused_fast(self):
        body = {"name": "bomb", "seed": 1, "block": doubling(22)}
        self.assertLess(len(json.dumps(body)), 3000)
        t0 = time.monotonic()
        r = self.d.post("/v1/models", body)
        took = time.monotonic() - t0
        self.assertEqual(r.status_code, 400, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "limit_exceeded")
        self.assertIn("--max-spec-nodes", err["message"])
        self.assertIn("more than 1000 blocks", err["message"])
        # The first level past the limit is named: 2^9 - 1 + ... > 1000.
        self.assertIn("block.layers[9]", err["message"])
        self.assertLess(took, 10)
        self.assertEqual(self.d.get("/v1/models/bomb").status_code, 404)
        self.assertEqual(self.d.get("/v1/health").status_code, 200)

    def test_just_under_the_limit_works(self):
        # 8 levels expand to 1 + (1 + 3 + 7 + ... + 511) = 1014 > 1000;
        # 7 levels to 1 + (1 + 3 + ... + 255) = 503.
        self.assertEqual(expanded(7), 503)
        self.assertGreater(expanded(8), 1000)
        r = self.d.post("/v1/models", {"name": "ok7", "seed": 1,
                                        "block": doubling(7)})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.put("/v1/models/ok7/parameters/0.weight", [[1.01]])
        self.assertEqual(r.status_code, 200, r.text)
        # The linear runs 1 (level 0) + 2 + 4 + ... + 128 = 255 times.
        y = self.d.post("/v1/models/ok7/forward", {"inputs": [[1.0]]})
        self.assertEqual(y.status_code, 200, y.text)
        got = y.json()["outputs"]["data"][0][0]
        self.assertAlmostEqual(got / 1.01 ** 255, 1.0, places=3)
        r = self.d.post("/v1/models", {"name": "no8", "seed": 1,
                                        "block": doubling(8)})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("--max-spec-nodes", r.json()["error"]["message"])

    def test_refs_count_against_the_nesting_limit(self):
        # Each level of refs adds a level of nesting once expanded: 70
        # levels of one ref each nest 70 deep although the spec is flat.
        layers = [linear(1, 1, bias=False, id="C0")]
        for k in range(1, 70):
            layers.append(seq({"ref": "C%d" % (k - 1)}, id="C%d" % k))
        r = self.d.post("/v1/models", {"name": "deep", "seed": 1,
                                        "block": seq(*layers)})
        self.assertEqual(r.status_code, 400, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "limit_exceeded")
        self.assertIn("nested deeper than 64 once refs are expanded",
                      err["message"])

    def test_state_dict_is_bounded_by_the_expansion(self):
        # Tied tensors are listed under every path: the state_dict of the
        # largest accepted spec stays as small as the expansion.
        sd = self.d.get("/v1/models/ok7/state_dict")
        if sd.status_code == 404:
            self.test_just_under_the_limit_works()
            sd = self.d.get("/v1/models/ok7/state_dict")
        self.assertEqual(sd.status_code, 200, sd.text)
        # The one weight, under each of its 1 + 2 + ... + 128 paths.
        keys = list(sd.json())
        self.assertEqual(len(keys), 255)
        self.assertEqual(keys[0], "0.weight")
        self.assertIn("7.a.a.a.a.a.a.b.weight", keys)


class CheckpointSize(unittest.TestCase):
    def test_repetition_cannot_pass_max_model_bytes(self):
        # 12 doubling levels: 8 bytes of parameters, listed (and saved)
        # under 8191 paths, several hundred kB: past a 100 kB model limit.
        with Daemon("--max-model-bytes", "100K") as d:
            r = d.post("/v1/models", {"name": "rep", "seed": 1,
                                       "block": doubling(12)})
            self.assertEqual(r.status_code, 413, r.text)
            err = r.json()["error"]
            self.assertEqual(err["code"], "too_large")
            self.assertIn("tied tensors listed under each of their paths",
                          err["message"])
            self.assertIn("--max-model-bytes", err["message"])
            self.assertEqual(d.get("/v1/models/rep").status_code, 404)
            r = d.post("/v1/models", {"name": "fits", "seed": 1,
                                       "block": doubling(6)})
            self.assertEqual(r.status_code, 201, r.text)


class ManyLayers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--max-body", "256M", "--max-blocks", "60000",
                       "--max-spec-nodes", "200000")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_fifty_thousand_layers(self):
        # Named, with ids: every name and id lookup is a hash lookup (a
        # quadratic build took minutes here).
        n = 50000
        layers = [{"type": "relu", "name": "r%d" % i, "id": "i%d" % i}
                  for i in range(n)]
        r = post_raw(self.d, {"name": "wide", "seed": 1,
                              "block": {"type": "sequential",
                                        "layers": layers}})
        self.assertEqual(r.status_code, 201, r.text)
        y = self.d.post("/v1/models/wide/forward", {"inputs": [-1.0, 2.0]})
        self.assertEqual(y.status_code, 200, y.text)
        self.assertEqual(y.json()["outputs"]["data"], [0.0, 2.0])
        # A duplicate name at the very end is still found.
        layers[-1]["name"] = "r7"
        r = post_raw(self.d, {"name": "dup", "seed": 1,
                              "block": {"type": "sequential",
                                        "layers": layers}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("block.layers[49999].name: duplicate child name 'r7'",
                      r.json()["error"]["message"])

    def test_block_count_is_capped_while_parsing(self):
        layers = [{"type": "relu"} for _ in range(60001)]
        r = post_raw(self.d, {"name": "many", "seed": 1,
                              "block": {"type": "sequential",
                                        "layers": layers}})
        self.assertEqual(r.status_code, 400, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "limit_exceeded")
        self.assertIn("more than 60000 blocks", err["message"])
        self.assertIn("--max-blocks", err["message"])

    def test_flag_validation(self):
        for flag in ("--max-blocks", "--max-spec-nodes"):
            for bad in ("0", "-5", "abc", "1e3"):
                with self.assertRaises(RuntimeError):
                    Daemon(flag, bad).stop()


class DeadlineEverywhere(unittest.TestCase):
    """--max-compute-seconds stops a forward that never enters a while
    loop: every block run checks the deadline."""

    def test_plain_forward_and_backward_time_out(self):
        with Daemon("--max-compute-seconds", "0.2",
                    "--max-spec-nodes", "100000") as d:
            # 20000 runs of one 256x256 linear (a sequential step that
            # reuses its child by name: one state_dict entry) on a batch
            # of 64: seconds of work without the check, no while anywhere.
            steps = [linear(256, 256, bias=False, id="W", name="w")]
            steps += [{"ref": "W", "name": "w"}] * 19999
            r = post_raw(d, {"name": "slow", "seed": 1,
                             "block": seq(*steps)})
            self.assertEqual(r.status_code, 201, r.text)
            x = [[0.01] * 256 for _ in range(64)]
            for path, body in (("forward", {"inputs": x}),
                               ("backward", {"inputs": x,
                                             "loss": {"type": "sum"}})):
                t0 = time.monotonic()
                r = d.post("/v1/models/slow/" + path, body)
                took = time.monotonic() - t0
                self.assertEqual(r.status_code, 422, r.text)
                err = r.json()["error"]
                self.assertEqual(err["code"], "compute_timeout")
                self.assertIn("--max-compute-seconds", err["message"])
                self.assertLess(took, 30)
            self.assertEqual(d.get("/v1/health").status_code, 200)


if __name__ == "__main__":
    unittest.main()
