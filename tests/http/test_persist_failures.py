"""A success reply means the data is on disk (issue 13, "Data"):

- on a full disk every request that saves fails with 507
  insufficient_storage and a JSON error, and the previous state stays, in
  memory and on disk (it is what a restart serves);
- temporary files are uniquely named and the ones a crash left are
  removed at start-up;
- a restart restores what was acknowledged: requires_grad false and the
  creation order of the model list.

The full-disk tests mount a 2 MiB tmpfs as the data directory: they run as
root (as in CI) and are skipped, with the reason, elsewhere."""
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

from blockd_testlib import Daemon, from_json, linear, seq, tensor_json

SPEC = seq(linear(4, 3), {"type": "relu"}, linear(3, 2))


def create(d, name, seed=1, block=SPEC):
    return d.post("/v1/models", {"name": name, "seed": seed, "block": block})


def state(d, name):
    r = d.get("/v1/models/%s/state_dict" % name)
    assert r.status_code == 200, r.text
    return {k: from_json(v) for k, v in r.json().items()}


def names(d):
    r = d.get("/v1/models")
    assert r.status_code == 200, r.text
    return [m["name"] for m in r.json()["models"]]


def kill(d):
    """SIGKILL: only what was already on disk survives."""
    d.proc.kill()
    d.proc.communicate(timeout=30)


def fill(path):
    """Writes a file until the file system is full; returns its path."""
    p = os.path.join(path, "filler")
    with open(p, "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return p


class FullDisk(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a small tmpfs data dir")
        self.dir = tempfile.mkdtemp(prefix="blockd-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                            self.dir], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.dir)
            self.skipTest("cannot mount a tmpfs: %s" % r.stderr.strip())

    def tearDown(self):
        subprocess.run(["umount", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def assert_507(self, r):
        self.assertEqual(r.status_code, 507, r.text)
        self.assertEqual(r.headers["Content-Type"].split(";")[0],
                         "application/json")
        err = r.json()["error"]
        self.assertEqual(err["code"], "insufficient_storage")
        self.assertIn("No space left on device", err["message"])

    def test_full_disk_fails_every_save_and_keeps_the_old_state(self):
        d = Daemon(data_dir=self.dir)
        try:
            self.assertEqual(create(d, "old").status_code, 201)
            self.assertEqual(d.put("/v1/tensors/x", tensor_json(
                np.ones((2, 2), np.float32))).status_code, 201)
            old = state(d, "old")
            spec_json = os.path.join(self.dir, "models", "old", "spec.json")
            state_file = os.path.join(self.dir, "models", "old",
                                      "state.safetensors")
            with open(state_file, "rb") as f:
                old_bytes = f.read()
            filler = fill(self.dir)

            # A create that cannot be saved leaves no model, in memory or
            # on disk.
            self.assert_507(create(d, "new"))
            self.assertEqual(d.get("/v1/models/new").status_code, 404)
            self.assertEqual(names(d), ["old"])
            self.assertFalse(os.path.exists(
                os.path.join(self.dir, "models", "new")))

            # A load that cannot be saved is rolled back.
            zeros = {k: tensor_json(np.zeros_like(v)) for k, v in old.items()}
            self.assert_507(d.put("/v1/models/old/state_dict", zeros))
            for k, v in state(d, "old").items():
                np.testing.assert_array_equal(v, old[k])

            # An explicit save and a file write fail the same way.
            self.assert_507(d.post("/v1/models/old/save", {}))
            self.assert_507(d.put("/v1/files/f1", {"tensors": "x"}))
            self.assert_507(d.put("/v1/files/f2", {"model": "old"}))
            self.assertEqual(d.get("/v1/files/f1").status_code, 404)

            # The old files are intact and no temporary file is left.
            with open(state_file, "rb") as f:
                self.assertEqual(f.read(), old_bytes)
            self.assertTrue(os.path.exists(spec_json))
            for sub in ("models/old", "files"):
                p = os.path.join(self.dir, sub)
                left = os.listdir(p) if os.path.isdir(p) else []
                self.assertEqual([n for n in left if n.startswith(".")], [])

            # What a restart serves is the acknowledged state.
            kill(d)
            d = Daemon(data_dir=self.dir)
            self.assertEqual(names(d), ["old"])
            for k, v in state(d, "old").items():
                np.testing.assert_array_equal(v, old[k])

            # With space again, the same requests succeed.
            os.unlink(filler)
            self.assertEqual(create(d, "new").status_code, 201)
            r = d.put("/v1/models/old/state_dict", zeros)
            self.assertEqual(r.status_code, 200, r.text)
            kill(d)
            d = Daemon(data_dir=self.dir)
            self.assertEqual(names(d), ["old", "new"])
            for v in state(d, "old").values():
                self.assertFalse(v.any())
        finally:
            d.stop()


class TempFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="blockd-tmpfiles-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_stale_temp_files_are_removed_at_start(self):
        d = Daemon(data_dir=self.dir)
        try:
            self.assertEqual(create(d, "m").status_code, 201)
        finally:
            d.stop()
        mdir = os.path.join(self.dir, "models", "m")
        fdir = os.path.join(self.dir, "files")
        os.makedirs(fdir, exist_ok=True)
        stale = [
            # the predictable name of older daemons (PID 1 in a container)
            os.path.join(mdir, ".state.safetensors.tmp.1.1"),
            # the current pattern
            os.path.join(mdir, ".spec.json.tmp.0123456789abcdef"),
            os.path.join(fdir, ".w.safetensors.tmp.fedcba9876543210"),
        ]
        keep = [os.path.join(fdir, ".notes"),  # not blockd's pattern
                os.path.join(fdir, ".x.tmp.12ab")]
        for p in stale + keep:
            with open(p, "wb") as f:
                f.write(b"stale" * 1000)
        d = Daemon("--log-level", "info", data_dir=self.dir)
        try:
            for p in stale:
                self.assertFalse(os.path.exists(p), p)
            for p in keep:
                self.assertTrue(os.path.exists(p), p)
            self.assertEqual(names(d), ["m"])
            r = d.post("/v1/models/m/save", {})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(sorted(os.listdir(mdir)),
                             ["spec.json", "state.safetensors"])
        finally:
            err = d.stop()
        self.assertIn("removed 2 stale temporary files in " + mdir, err)
        self.assertIn("removed 1 stale temporary file in " + fdir, err)

    def test_unfinished_create_or_delete_directory_is_removed_at_start(self):
        """A kill inside a create (state renamed, spec.json not yet) or a
        delete (spec.json removed first) leaves models/<m> without
        spec.json: never an acknowledged model, removed at the next start
        instead of lingering (the crash-consistency test hits both
        windows). A directory holding anything else is left alone."""
        d = Daemon(data_dir=self.dir)
        try:
            for m in ("half", "other", "whole"):
                self.assertEqual(create(d, m).status_code, 201)
        finally:
            d.stop()
        models = os.path.join(self.dir, "models")
        os.unlink(os.path.join(models, "half", "spec.json"))
        os.unlink(os.path.join(models, "other", "spec.json"))
        with open(os.path.join(models, "other", "notes.txt"), "w") as f:
            f.write("not blockd's")
        os.makedirs(os.path.join(models, "empty"))  # a kill after mkdir
        d = Daemon("--log-level", "info", data_dir=self.dir)
        try:
            self.assertEqual(names(d), ["whole"])
        finally:
            err = d.stop()
        self.assertEqual(sorted(os.listdir(models)), ["other", "whole"])
        self.assertIn("removed models/half: a create or delete that did not "
                      "finish", err)
        self.assertIn("removed models/empty", err)
        self.assertIn("model 'other' not restored", err)


class RestartRestores(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="blockd-restore-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def params(self, d, name):
        r = d.get("/v1/models/%s/parameters" % name)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def test_requires_grad_false_survives_restart(self):
        d = Daemon(data_dir=self.dir)
        try:
            self.assertEqual(create(d, "m").status_code, 201)
            r = d.patch("/v1/models/m/parameters/0.weight",
                        {"requires_grad": False})
            self.assertEqual(r.status_code, 200, r.text)
            before = self.params(d, "m")
        finally:
            d.stop()  # clean shutdown saves every model
        d = Daemon(data_dir=self.dir)
        try:
            after = self.params(d, "m")
            self.assertEqual(after, before)
            r = d.get("/v1/models/m/parameters/0.weight")
            self.assertEqual(r.status_code, 200, r.text)
            self.assertIs(r.json()["requires_grad"], False)
            r = d.get("/v1/models/m/parameters/2.weight")
            self.assertIs(r.json()["requires_grad"], True)
            # Acknowledged by an explicit save, then SIGKILL: still there.
            r = d.patch("/v1/models/m/parameters/2.bias",
                        {"requires_grad": False})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(d.post("/v1/models/m/save", {}).status_code, 200)
            kill(d)
            d = Daemon(data_dir=self.dir)
            for p, want in (("0.weight", False), ("0.bias", True),
                            ("2.weight", True), ("2.bias", False)):
                r = d.get("/v1/models/m/parameters/" + p)
                self.assertIs(r.json()["requires_grad"], want, p)
        finally:
            d.stop()

    def test_model_list_order_survives_restart(self):
        order = ["zeta", "alpha", "mid", "beta", "omega"]
        d = Daemon(data_dir=self.dir)
        try:
            for n in order:
                self.assertEqual(create(d, n).status_code, 201)
            self.assertEqual(d.delete("/v1/models/mid").status_code, 200)
            order.remove("mid")
            self.assertEqual(names(d), order)
            kill(d)  # nothing saved at shutdown: the creates' own saves
            d = Daemon(data_dir=self.dir)
            self.assertEqual(names(d), order)
            # Models created after the restart come after the restored
            # ones, also across the next restart.
            self.assertEqual(create(d, "aaa").status_code, 201)
            self.assertEqual(create(d, "mid").status_code, 201)
            order += ["aaa", "mid"]
            self.assertEqual(names(d), order)
            kill(d)
            d = Daemon(data_dir=self.dir)
            self.assertEqual(names(d), order)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
