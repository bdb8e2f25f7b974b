"""Models persist across restarts (spec, state as last saved, mode, SGD
momentum, the RNG position of dropout and init); deleting a model removes its directory; a writer killed
mid-save leaves the previous file intact and loadable."""
import os
import shutil
import tempfile
import unittest

import numpy as np
import requests

from blockd_testlib import (BLOCKD_TESTHOOKS_BIN, Daemon, from_json, linear,
                            named_mlp_spec, seq, tensor_json)

X = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
T = np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32)


def fwd(d, name):
    r = d.post("/v1/models/%s/forward" % name, {"inputs": tensor_json(X)})
    assert r.status_code == 200, r.text
    return from_json(r.json()["outputs"])


def train_step(d, name):
    r = d.post("/v1/models/%s/zero_grad" % name, {})
    assert r.status_code == 200, r.text
    r = d.post("/v1/models/%s/backward" % name,
               {"inputs": tensor_json(X),
                "loss": {"type": "mse", "target": tensor_json(T)}})
    assert r.status_code == 200, r.text
    r = d.post("/v1/models/%s/step" % name,
               {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9})
    assert r.status_code == 200, r.text


class Persistence(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="blockd-persist-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_restart_restores_models(self):
        d = Daemon(data_dir=self.dir)
        ref = Daemon()  # never restarted: the reference run
        try:
            for dm in (d, ref):
                for n in ("p1", "p2", "gone"):
                    r = dm.post("/v1/models", {"name": n, "seed": 5,
                                               "block": named_mlp_spec()})
                    self.assertEqual(r.status_code, 201, r.text)
                train_step(dm, "p1")  # momentum buffers now exist
                self.assertEqual(dm.patch("/v1/models/p2",
                                          {"mode": "eval"}).status_code, 200)
            self.assertEqual(d.delete("/v1/models/gone").status_code, 200)
            self.assertFalse(os.path.exists(
                os.path.join(self.dir, "models", "gone")))
            want1, want2 = fwd(d, "p1"), fwd(d, "p2")
            d.stop()
            d = Daemon(data_dir=self.dir)
            names = sorted(m["name"] for m in
                           d.get("/v1/models").json()["models"])
            self.assertEqual(names, ["p1", "p2"])
            np.testing.assert_array_equal(fwd(d, "p1"), want1)
            np.testing.assert_array_equal(fwd(d, "p2"), want2)
            self.assertEqual(d.get("/v1/models/p2").json()["mode"], "eval")
            # The momentum came back: a second step matches the reference.
            train_step(d, "p1")
            train_step(ref, "p1")
            np.testing.assert_array_equal(fwd(d, "p1"), fwd(ref, "p1"))
        finally:
            d.stop()
            ref.stop()

    def test_restart_continues_dropout_stream(self):
        """A train-mode dropout model draws the same masks across a restart
        as a daemon that never restarted: the RNG position is saved."""
        spec = seq(linear(20, 64), {"type": "dropout", "p": 0.5})
        d = Daemon(data_dir=self.dir)
        ref = Daemon()
        try:
            for dm in (d, ref):
                r = dm.post("/v1/models", {"name": "drop", "seed": 11,
                                           "block": spec})
                self.assertEqual(r.status_code, 201, r.text)
                self.assertEqual(r.json()["mode"], "train")
            first = fwd(d, "drop")
            np.testing.assert_array_equal(first, fwd(ref, "drop"))
            # a seedless init draws from the same stream
            for dm in (d, ref):
                r = dm.post("/v1/models/drop/init",
                            {"method": "normal", "target": "bias"})
                self.assertEqual(r.status_code, 200, r.text)
            d.stop()
            d = Daemon(data_dir=self.dir)
            self.assertEqual(d.get("/v1/models/drop").json()["mode"], "train")
            for _ in range(2):
                got, want = fwd(d, "drop"), fwd(ref, "drop")
                np.testing.assert_array_equal(got, want)
                # a fresh mask, not the first one replayed
                self.assertFalse(np.array_equal((got == 0), (first == 0)))
        finally:
            d.stop()
            ref.stop()

    def test_explicit_save_survives_kill(self):
        d = Daemon(data_dir=self.dir)
        try:
            d.post("/v1/models", {"name": "k", "seed": 2,
                                  "block": named_mlp_spec()})
            train_step(d, "k")
            r = d.post("/v1/models/k/save", {})
            self.assertEqual(r.status_code, 200, r.text)
            want = fwd(d, "k")
            d.proc.kill()  # no clean shutdown
            d.proc.wait()
        finally:
            d.stop(expect_clean=False)
        d = Daemon(data_dir=self.dir)
        try:
            np.testing.assert_array_equal(fwd(d, "k"), want)
        finally:
            d.stop()

    def test_crash_mid_write_keeps_old_file(self):
        old = np.arange(100, dtype=np.float32)
        new = np.ones(20000, dtype=np.float32)
        d = Daemon(data_dir=self.dir, bin=BLOCKD_TESTHOOKS_BIN,
                   env={"BLOCKD_TEST_CRASH_AFTER_BYTES": "40000"})
        try:
            d.put("/v1/tensors/old", tensor_json(old))
            d.put("/v1/tensors/new", tensor_json(new))
            r = d.put("/v1/files/w.safetensors", {"tensors": "old"})
            self.assertEqual(r.status_code, 201, r.text)
            with self.assertRaises(requests.exceptions.ConnectionError):
                d.put("/v1/files/w.safetensors", {"tensors": "new"})
            d.proc.wait(timeout=30)
            self.assertEqual(d.proc.returncode, 86)  # the hook fired
        finally:
            d.stop(expect_clean=False)
        # The torn temp file is there, the old file is intact.
        files = os.listdir(os.path.join(self.dir, "files"))
        self.assertIn("w.safetensors", files)
        self.assertTrue(any(f.startswith(".w.safetensors.tmp") for f in files))
        d = Daemon(data_dir=self.dir)
        try:
            g = d.get("/v1/files/w.safetensors")
            self.assertEqual(g.status_code, 200, g.text)
            np.testing.assert_array_equal(from_json(g.json()["values"]), old)
            names = [f["name"] for f in d.get("/v1/files").json()["files"]]
            self.assertEqual(names, ["w.safetensors"])
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
