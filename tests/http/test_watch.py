"""--watch NAME=FILE (issue 14): a read replica follows a checkpoint file a
writer replaces. While forwards run against the replica, every answer is
either the old or the new model's output, never an error; after the
reload only the new one; a corrupt replacement keeps the last good state
serving and is logged."""
import os
import shutil
import tempfile
import threading
import time
import unittest

import numpy as np
import requests

from blockd_testlib import Daemon, linear, relu, seq

X = [[0.25 * i - 2 for i in range(20)]]


def outputs(d, name="m"):
    r = d.post("/v1/models/%s/forward" % name, {"inputs": X})
    assert r.status_code == 200, r.text
    return np.array(r.json()["outputs"]["data"], np.float32)


def replace(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)  # the writer's atomic replacement


class Watch(unittest.TestCase):
    def test_replica_follows_writer(self):
        tmp = tempfile.mkdtemp(prefix="blockd-watch-")
        ckpt = os.path.join(tmp, "m.safetensors")
        writer = Daemon()
        replica = None
        try:
            r = writer.post("/v1/models", {"name": "m", "seed": 1, "block":
                                           seq(linear(20, 16), relu(),
                                               linear(16, 3))})
            self.assertEqual(r.status_code, 201, r.text)
            writer.patch("/v1/models/m", {"mode": "eval"})
            old = outputs(writer)
            replace(ckpt, writer.get(
                "/v1/models/m/state_dict?format=safetensors").content)
            replica = Daemon("--watch", "m=" + ckpt,
                             "--watch-interval", "0.05")

            def created():
                r = replica.get("/v1/models/m")
                return r.status_code == 200
            end = time.monotonic() + 60
            while not created():
                self.assertLess(time.monotonic(), end, "model not created")
                time.sleep(0.02)
            np.testing.assert_array_equal(outputs(replica), old)

            # The writer trains on (here: re-initialises) and publishes.
            r = writer.post("/v1/models/m/init", {"method": "normal",
                                                  "std": 0.5, "seed": 9})
            self.assertEqual(r.status_code, 200, r.text)
            new = outputs(writer)
            self.assertFalse(np.array_equal(new, old))

            seen, errors, stop = [], [], threading.Event()
            per_thread = [[] for _ in range(3)]

            def reader(mine):
                sess = requests.Session()  # one per thread
                while not stop.is_set():
                    r = sess.post(replica.url("/v1/models/m/forward"),
                                  json={"inputs": X}, timeout=60)
                    if r.status_code != 200:
                        errors.append(r.text)
                        continue
                    y = np.array(r.json()["outputs"]["data"], np.float32)
                    mine.append(y)
                    seen.append(y)
            readers = [threading.Thread(target=reader, args=(per_thread[i],))
                       for i in range(3)]
            for t in readers:
                t.start()
            time.sleep(0.1)
            replace(ckpt, writer.get(
                "/v1/models/m/state_dict?format=safetensors").content)
            end = time.monotonic() + 60
            while not (seen and np.array_equal(seen[-1], new)):
                self.assertLess(time.monotonic(), end, "no reload")
                time.sleep(0.02)
            time.sleep(0.1)
            stop.set()
            for t in readers:
                t.join()
            self.assertEqual(errors, [])
            for mine in per_thread:
                kinds = [0 if np.array_equal(s, old) else
                         1 if np.array_equal(s, new) else 2 for s in mine]
                self.assertNotIn(2, kinds, "an answer from neither state")
                # In each client's sequence of requests, once the new
                # state answered, the old one never came back.
                if 1 in kinds:
                    self.assertNotIn(0, kinds[kinds.index(1):])

            # A corrupt replacement: the last good state keeps serving.
            replace(ckpt, b"not a checkpoint at all")
            time.sleep(0.5)  # several polls
            np.testing.assert_array_equal(outputs(replica), new)
            err = replica.stop()
            replica = None
            self.assertIn("not reloaded", err)
        finally:
            writer.stop()
            if replica:
                replica.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_bad_flag(self):
        import subprocess
        from blockd_testlib import BLOCKD_BIN
        for bad in ("m", "=file", "m="):
            p = subprocess.run([BLOCKD_BIN, "--watch", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--watch", p.stderr)


if __name__ == "__main__":
    unittest.main()
