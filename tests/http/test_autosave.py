"""Autosave and the shutdown save write only the models that changed since
their last save (issue 12): an edit reaches the disk within a few
--autosave-interval periods without any save request (a SIGKILL after
that loses nothing), and an untouched model's files are never rewritten
(same inode: every save replaces the file by rename)."""
import os
import shutil
import signal
import time
import unittest

import numpy as np

from blockd_testlib import Daemon, from_json, linear, seq, wait_or_fail


def inode(d, model):
    return os.stat(os.path.join(d.data_dir, "models", model,
                                "state.safetensors")).st_ino




class Autosave(unittest.TestCase):
    def test_changed_models_only(self):
        d = Daemon("--autosave-interval", "0.2", keep_data=True)
        try:
            for name in ("edited", "untouched"):
                r = d.post("/v1/models", {"name": name, "seed": 1,
                                          "block": seq(linear(3, 2))})
                self.assertEqual(r.status_code, 201, r.text)
            still = inode(d, "untouched")
            before = inode(d, "edited")
            r = d.put("/v1/models/edited/parameters/0.bias", [4.5, -1.25])
            self.assertEqual(r.status_code, 200, r.text)
            wait_or_fail(lambda: inode(d, "edited") != before, "the autosave")
            # Several more periods pass: nothing changed, nothing written.
            saved = inode(d, "edited")
            time.sleep(1.0)
            self.assertEqual(inode(d, "edited"), saved)
            self.assertEqual(inode(d, "untouched"), still)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(timeout=30)
            d2 = Daemon(data_dir=d.data_dir)
            try:
                b = from_json(d2.get(
                    "/v1/models/edited/parameters/0.bias?field=value").json())
                np.testing.assert_array_equal(
                    b, np.array([4.5, -1.25], np.float32))
                # A clean shutdown rewrites only what changed.
                r = d2.patch("/v1/models/edited", {"mode": "eval"})
                self.assertEqual(r.status_code, 200, r.text)
                e0 = inode(d2, "edited")
            finally:
                d2.stop()
            self.assertNotEqual(inode(d2, "edited"), e0)
            self.assertEqual(inode(d2, "untouched"), still)
            d3 = Daemon(data_dir=d.data_dir)
            try:
                self.assertEqual(d3.get("/v1/models/edited").json()["mode"],
                                 "eval")
            finally:
                d3.stop()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            shutil.rmtree(d.data_dir, ignore_errors=True)

    def test_flag_values(self):
        import subprocess
        from blockd_testlib import BLOCKD_BIN
        for bad in ("-1", "x", "0.01"):
            p = subprocess.run([BLOCKD_BIN, "--autosave-interval", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--autosave-interval", p.stderr)


if __name__ == "__main__":
    unittest.main()
