"""Devices and placement: GET /v1/devices, models placed on BLOCKD_TEST_DEVICE,
PATCH {"device"} moves (net.to(device)) that keep parameters bit-identical,
clear 4xx for devices that do not exist, per-device memory accounting and
the --device-budget flag. GPU-only cases are skipped without a GPU."""
import subprocess
import tempfile
import unittest

from blockd_testlib import (BLOCKD_BIN, Daemon, linear, seed_mlp_spec, seq,
                            TEST_DEVICE)


def state(d, name):
    r = d.get("/v1/models/%s/state_dict" % name)
    assert r.status_code == 200, r.text
    return r.json()


class Devices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.info = cls.d.get("/v1/devices").json()
        cls.ngpu = cls.info["cuda_device_count"]

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_devices_listing(self):
        r = self.d.get("/v1/devices")
        self.assertEqual(r.status_code, 200, r.text)
        j = r.json()
        devs = [x["device"] for x in j["devices"]]
        self.assertEqual(devs[0], "cpu")
        self.assertEqual(devs[1:], ["cuda:%d" % i for i in range(self.ngpu)])
        cpu = j["devices"][0]
        self.assertEqual(cpu["type"], "cpu")
        self.assertGreater(cpu["total_memory"], 0)
        self.assertLessEqual(cpu["free_memory"], cpu["total_memory"])
        self.assertIsNone(cpu["budget"])
        if self.ngpu:
            self.assertEqual(j["auto"], "cuda:0")
            self.assertEqual(j["try_all_gpus"], devs[1:])
            for g in j["devices"][1:]:
                self.assertRegex(g["compute_capability"], r"^\d+\.\d+$")
                self.assertTrue(g["name"])
                self.assertGreater(g["total_memory"], 0)
        else:
            self.assertEqual(j["auto"], "cpu")
            self.assertEqual(j["try_all_gpus"], ["cpu"])
        h = self.d.get("/v1/health").json()
        self.assertEqual(h["cuda"], self.ngpu > 0)

    def test_missing_device_is_a_clear_400(self):
        missing = "cuda:%d" % self.ngpu
        for dev in (missing, "gpu", "cuda:x", ""):
            r = self.d.post("/v1/models", {"name": "nodev", "device": dev,
                                           "block": linear(2, 2)})
            self.assertEqual(r.status_code, 400, (dev, r.text))
            self.assertEqual(r.json()["error"]["code"], "invalid_argument")
            self.assertIn("device", r.json()["error"]["message"])
        r = self.d.post("/v1/models", {"name": "nodev", "device": missing,
                                       "block": linear(2, 2)})
        self.assertIn("does not exist", r.json()["error"]["message"])
        self.assertEqual(self.d.get("/v1/models/nodev").status_code, 404)

    def test_cuda0_accepted_only_when_present(self):
        r = self.d.post("/v1/models", {"name": "oncuda", "device": "cuda:0",
                                       "block": linear(3, 2), "seed": 1})
        if self.ngpu:
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["device"], "cuda:0")
        else:
            self.assertEqual(r.status_code, 400, r.text)
            self.assertEqual(r.json()["error"]["code"], "invalid_argument")

    def test_same_seed_same_parameters_on_every_device(self):
        spec = seed_mlp_spec()
        for name, dev in (("s_cpu", "cpu"), ("s_dev", TEST_DEVICE)):
            r = self.d.post("/v1/models", {"name": name, "seed": 11,
                                           "device": dev, "block": spec})
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["device"], dev)
        self.assertEqual(state(self.d, "s_cpu"), state(self.d, "s_dev"))

    def test_device_bytes_accounting(self):
        r = self.d.post("/v1/models", {"name": "acct", "seed": 2,
                                       "device": TEST_DEVICE,
                                       "block": seq(linear(20, 256), linear(256, 10))})
        self.assertEqual(r.status_code, 201, r.text)
        want = 4 * (20 * 256 + 256 + 256 * 10 + 10)
        self.assertEqual(r.json()["bytes"], want)
        self.assertEqual(r.json()["device_bytes"], {TEST_DEVICE: want})
        g = self.d.get("/v1/models/acct").json()
        self.assertEqual(g["device_bytes"], {TEST_DEVICE: want})
        devs = {x["device"]: x for x in self.d.get("/v1/devices").json()["devices"]}
        self.assertGreaterEqual(devs[TEST_DEVICE]["allocated"], want)

    def test_move_to_same_device_is_a_noop(self):
        r = self.d.post("/v1/models", {"name": "mv0", "seed": 5,
                                       "device": TEST_DEVICE,
                                       "block": seed_mlp_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        before = state(self.d, "mv0")
        r = self.d.patch("/v1/models/mv0", {"device": TEST_DEVICE})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["device"], TEST_DEVICE)
        self.assertEqual(state(self.d, "mv0"), before)

    def test_bad_move_leaves_model_unchanged(self):
        r = self.d.post("/v1/models", {"name": "mvbad", "seed": 5,
                                       "device": "cpu", "block": linear(4, 3)})
        self.assertEqual(r.status_code, 201, r.text)
        before = state(self.d, "mvbad")
        for dev in ("cuda:%d" % self.ngpu, "tpu", 3, None):
            r = self.d.patch("/v1/models/mvbad", {"device": dev, "mode": "eval"})
            self.assertEqual(r.status_code, 400, (dev, r.text))
            self.assertIn("device", r.json()["error"]["message"])
        g = self.d.get("/v1/models/mvbad").json()
        self.assertEqual(g["device"], "cpu")
        self.assertEqual(g["mode"], "train")  # nothing half-applied
        self.assertEqual(state(self.d, "mvbad"), before)
        self.assertEqual(self.d.patch("/v1/models/nope", {"device": "cpu"}).status_code, 404)

    def test_round_trip_through_every_gpu_is_bit_identical(self):
        if not self.ngpu:
            self.skipTest("no CUDA device: cpu -> cuda -> cpu round trip not run")
        r = self.d.post("/v1/models", {"name": "rt", "seed": 9, "device": "cpu",
                                       "block": seed_mlp_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        before = state(self.d, "rt")
        x = {"shape": [2, 20], "data": [0.01 * i for i in range(40)]}
        y_cpu = self.d.post("/v1/models/rt/forward", {"inputs": x}).json()
        for i in range(self.ngpu):
            r = self.d.patch("/v1/models/rt", {"device": "cuda:%d" % i})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["device"], "cuda:%d" % i)
            self.assertEqual(list(r.json()["device_bytes"]), ["cuda:%d" % i])
            self.assertEqual(state(self.d, "rt"), before)
            y = self.d.post("/v1/models/rt/forward", {"inputs": x})
            self.assertEqual(y.status_code, 200, y.text)
            for a, b in zip(sum(y.json()["outputs"]["data"], []),
                            sum(y_cpu["outputs"]["data"], [])):
                self.assertAlmostEqual(a, b, delta=1e-5 * (1 + abs(b)))
        r = self.d.patch("/v1/models/rt", {"device": "cpu"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(state(self.d, "rt"), before)


class Budget(unittest.TestCase):
    def test_budget_caps_allocations(self):
        with Daemon("--device-budget", "cpu=4K") as d:
            cpu = d.get("/v1/devices").json()["devices"][0]
            self.assertEqual(cpu["budget"], 4096)
            r = d.post("/v1/models", {"name": "big", "device": "cpu",
                                      "block": linear(64, 64)})
            self.assertEqual(r.status_code, 507, r.text)
            self.assertIn("budget", r.json()["error"]["message"])
            self.assertEqual(d.get("/v1/models/big").status_code, 404)
            r = d.post("/v1/models", {"name": "small", "device": "cpu",
                                      "block": linear(4, 4)})
            self.assertEqual(r.status_code, 201, r.text)

    def test_budget_for_absent_gpu_is_ignored(self):
        with Daemon("--device-budget", "cuda:15=1G") as d:
            self.assertEqual(d.get("/v1/health").status_code, 200)

    def test_default_device_must_exist(self):
        with Daemon() as d:
            ngpu = d.get("/v1/devices").json()["cuda_device_count"]
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run([BLOCKD_BIN, "--listen", "127.0.0.1:0",
                                "--data-dir", tmp, "--device", "cuda:%d" % ngpu],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--device", p.stderr)
            self.assertIn("does not exist", p.stderr)

    def test_malformed_budget_is_a_usage_error(self):
        for bad in ("cpu", "cpu=", "cpu=12Q", "=4G", "tpu:0=4G"):
            with tempfile.TemporaryDirectory() as tmp:
                p = subprocess.run([BLOCKD_BIN, "--listen", "127.0.0.1:0",
                                    "--data-dir", tmp, "--device-budget", bad],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 2, (bad, p.stderr))
                self.assertIn("device-budget", p.stderr)


if __name__ == "__main__":
    unittest.main()
