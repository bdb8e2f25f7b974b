"""Hostile tensor files and names: every bad_* file of the seed corpora
(tests/fuzz/gen_corpus.py, regenerated here into a temp dir) is refused
with a 4xx JSON error and nothing is stored; every ok_* file is accepted;
the daemon stays up. Plus sandboxed file names and .npy on the wire."""
import io
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

import numpy as np

from blockd_testlib import Daemon, named_mlp_spec, tensor_json

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "fuzz", "gen_corpus.py")
OCTET = {"Content-Type": "application/octet-stream"}
NPY = {"Content-Type": "application/x-npy"}


class FilesSafety(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="blockd-corpus-")
        subprocess.run([sys.executable, GEN, cls.tmp], check=True,
                       capture_output=True)
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def corpus(self, kind):
        d = os.path.join(self.tmp, kind)
        names = sorted(os.listdir(d))
        self.assertGreater(len(names), 5)
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                yield n, f.read()

    def check_file_corpus(self, kind):
        for name, data in self.corpus(kind):
            with self.subTest(file=name):
                fname = kind + "-" + name
                r = self.d.put("/v1/files/" + fname, data=data, headers=OCTET)
                if name.startswith("ok_"):
                    self.assertIn(r.status_code, (200, 201), r.text)
                    g = self.d.get("/v1/files/" + fname)
                    self.assertEqual(g.status_code, 200, g.text)
                    continue
                self.assertTrue(400 <= r.status_code < 500,
                                "%s: %s %s" % (name, r.status_code, r.text))
                self.assertIn("message", r.json()["error"])
                self.assertEqual(
                    self.d.get("/v1/files/" + fname).status_code, 404)
                # The same bytes as a state_dict upload are refused too.
                r = self.d.put("/v1/models/victim/state_dict", data=data,
                               headers=OCTET)
                self.assertTrue(400 <= r.status_code < 500, r.text)
        self.assertEqual(self.d.get("/v1/health").status_code, 200)
        self.assertFalse(os.path.exists("/tmp/blockd-pwned"))

    def setUp(self):
        self.d.post("/v1/models", {"name": "victim", "seed": 1,
                                   "block": named_mlp_spec()})

    def test_safetensors_corpus(self):
        self.check_file_corpus("safetensors")

    def test_torchzip_corpus(self):
        self.check_file_corpus("torchzip")

    def test_specific_messages(self):
        def msg(kind, name):
            with open(os.path.join(self.tmp, kind, name), "rb") as f:
                r = self.d.put("/v1/files/m", data=f.read(), headers=OCTET)
            self.assertEqual(r.status_code, 400, r.text)
            return r.json()["error"]["message"]
        self.assertIn("os.system", msg("torchzip", "bad_global_os_system"))
        self.assertIn("builtins.eval",
                      msg("torchzip", "bad_global_builtins_eval"))
        self.assertIn("compressed", msg("torchzip", "bad_zip_bomb_deflated"))
        self.assertIn("outside its storage",
                      msg("torchzip", "bad_view_out_of_bounds"))
        self.assertIn("contiguous", msg("safetensors", "bad_overlap"))
        self.assertIn("duplicate", msg("safetensors", "bad_duplicate_keys"))
        self.assertIn("past the end",
                      msg("safetensors", "bad_header_past_end"))

    def test_npy_corpus(self):
        for name, data in self.corpus("npy"):
            with self.subTest(file=name):
                r = self.d.put("/v1/tensors/n_" + name, data=data,
                               headers=NPY)
                if name.startswith("ok_"):
                    self.assertEqual(r.status_code, 201, r.text)
                else:
                    self.assertTrue(400 <= r.status_code < 500, r.text)
                    self.assertEqual(
                        self.d.get("/v1/tensors/n_" + name).status_code, 404)

    def test_npy_roundtrip_with_numpy(self):
        for a in (np.arange(12, dtype=np.float32).reshape(3, 4),
                  np.array(2.5), np.arange(5, dtype=np.int64) - 2,
                  np.array([1.5, -0.25], dtype=np.float16),
                  np.zeros((0, 3), np.float32)):
            buf = io.BytesIO()
            np.save(buf, a)
            r = self.d.put("/v1/tensors/np", data=buf.getvalue(), headers=NPY)
            self.assertIn(r.status_code, (200, 201), r.text)
            self.assertEqual(r.json()["shape"], list(a.shape))
            g = self.d.get("/v1/tensors/np",
                           headers={"Accept": "application/x-npy"})
            self.assertEqual(g.headers["Content-Type"], "application/x-npy")
            self.assertEqual(g.content, buf.getvalue())  # byte-identical
            back = np.load(io.BytesIO(g.content))
            self.assertEqual(back.dtype, a.dtype)
            np.testing.assert_array_equal(back, a)
        lst = self.d.get("/v1/tensors").json()["tensors"]
        self.assertIn("np", [t["name"] for t in lst])
        self.assertEqual(self.d.delete("/v1/tensors/np").status_code, 200)
        self.assertEqual(self.d.get("/v1/tensors/np").status_code, 404)

    def test_bad_names(self):
        self.d.put("/v1/tensors/x", tensor_json(np.ones(2, np.float32)))
        for bad in (".hidden", "%2E%2E", "%2E", "x" * 201, "a%01b", "a%5Cb"):
            with self.subTest(name=bad):
                r = self.d.put("/v1/files/" + bad, {"tensors": "x"})
                self.assertEqual(r.status_code, 400, r.text)
                r = self.d.get("/v1/files/" + bad)
                self.assertEqual(r.status_code, 400, r.text)
        # Nothing escaped the files directory.
        self.assertEqual(sorted(os.listdir(self.d.data_dir)),
                         sorted(set(os.listdir(self.d.data_dir)) &
                                {"files", "models"}))

    def test_our_zip_is_valid_and_aligned(self):
        self.d.put("/v1/tensors/a", tensor_json(np.ones((3, 5), np.float32)))
        self.d.put("/v1/tensors/b", tensor_json(np.arange(7, dtype=np.int64)))
        r = self.d.put("/v1/files/ab.pt", {"tensors": {"a": "a", "b": "b"},
                                           "format": "torch"})
        self.assertEqual(r.status_code, 201, r.text)
        raw = self.d.get("/v1/files/ab.pt",
                         headers={"Accept": "application/octet-stream"})
        z = zipfile.ZipFile(io.BytesIO(raw.content))
        self.assertIsNone(z.testzip())  # CRCs and sizes correct
        for info in z.infolist():
            self.assertEqual(info.compress_type, zipfile.ZIP_STORED)
            self.assertTrue(info.filename.startswith("ab/"))
            # data offset = local header + 30 + name + local extra field
            h = info.header_offset
            extra = int.from_bytes(raw.content[h + 28:h + 30], "little")
            off = h + 30 + len(info.filename.encode()) + extra
            self.assertEqual(off % 64, 0, info.filename)
        listing = {f["name"]: f for f in self.d.get("/v1/files").json()["files"]}
        import hashlib
        self.assertEqual(listing["ab.pt"]["sha256"],
                         hashlib.sha256(raw.content).hexdigest())
        self.assertEqual(listing["ab.pt"]["size"], len(raw.content))
        self.assertEqual(listing["ab.pt"]["kind"], "dict")
        self.assertEqual(self.d.delete("/v1/files/ab.pt").status_code, 200)
        self.assertEqual(self.d.delete("/v1/files/ab.pt").status_code, 404)


if __name__ == "__main__":
    unittest.main()
