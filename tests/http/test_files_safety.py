"""Hostile tensor files and names: every bad_* file of the seed corpora
(tests/fuzz/gen_corpus.py, regenerated here into a temp dir) is refused
with a 4xx JSON error and nothing is stored; every ok_* file is accepted;
the daemon stays up. Plus sandboxed file names and .npy on the wire, and
the sandbox on disk: links, FIFOs and linked model directories under the
data dir are never followed, read, listed, written through or removed
through; names that are not valid UTF-8 are refused."""
import io
import json
import os
import shutil
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


def strict_json(r):
    """r's body decoded as strict UTF-8 JSON (raises otherwise)."""
    return json.loads(r.content.decode("utf-8", errors="strict"))


class Sandbox(unittest.TestCase):
    """Nothing below the data dir is followed out of it (issue 13)."""

    def setUp(self):
        self.d = Daemon()
        self.files = os.path.join(self.d.data_dir, "files")
        self.outside = tempfile.mkdtemp(prefix="blockd-outside-")
        self.canary = os.path.join(self.outside, "canary.txt")
        with open(self.canary, "w") as f:
            f.write("canary")

    def tearDown(self):
        self.d.stop()
        shutil.rmtree(self.outside, ignore_errors=True)

    def assertCanary(self):
        with open(self.canary) as f:
            self.assertEqual(f.read(), "canary")
        self.assertEqual(os.listdir(self.outside), ["canary.txt"])

    def listing(self):
        r = self.d.get("/v1/files")
        self.assertEqual(r.status_code, 200, r.text)
        return {f["name"]: f for f in strict_json(r)["files"]}

    def test_symlink_in_files_is_not_served_or_listed(self):
        self.d.put("/v1/tensors/x", tensor_json(np.ones(2, np.float32)))
        self.assertEqual(self.d.put("/v1/files/ok",
                                    {"tensors": "x"}).status_code, 201)
        # A valid tensor file outside the data dir, and /etc/passwd.
        shutil.copy(os.path.join(self.files, "ok"),
                    os.path.join(self.outside, "t.safetensors"))
        os.symlink("/etc/passwd", os.path.join(self.files, "passwd"))
        os.symlink(os.path.join(self.outside, "t.safetensors"),
                   os.path.join(self.files, "valid"))
        for name in ("passwd", "valid"):
            with self.subTest(name=name):
                for headers in ({}, {"Accept": "application/octet-stream"}):
                    r = self.d.get("/v1/files/" + name, headers=headers)
                    self.assertEqual(r.status_code, 422, r.text)
                    self.assertNotIn(b"root:", r.content)
                    self.assertIn("not a regular file",
                                  strict_json(r)["error"]["message"])
                # Nor loadable into a model.
                r = self.d.post("/v1/models", {"name": "m", "file": name})
                self.assertTrue(400 <= r.status_code < 500, r.text)
        files = self.listing()
        self.assertEqual(sorted(files), ["ok"])  # no size/sha of a target

    def test_put_and_delete_replace_the_link_not_its_target(self):
        self.d.put("/v1/tensors/x", tensor_json(np.ones(2, np.float32)))
        link = os.path.join(self.files, "f")
        os.symlink(self.canary, link)
        r = self.d.put("/v1/files/f", {"tensors": "x"})
        self.assertEqual(r.status_code, 200, r.text)  # the entry existed
        self.assertFalse(os.path.islink(link))
        self.assertCanary()
        os.symlink(self.canary, os.path.join(self.files, "g"))
        raw = self.d.get("/v1/files/f",
                         headers={"Accept": "application/octet-stream"})
        r = self.d.put("/v1/files/g", data=raw.content, headers=OCTET)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertCanary()
        os.symlink(self.canary, os.path.join(self.files, "h"))
        self.assertEqual(self.d.delete("/v1/files/h").status_code, 200)
        self.assertFalse(os.path.lexists(os.path.join(self.files, "h")))
        self.assertCanary()

    def test_fifo_in_files_answers_promptly(self):
        os.mkfifo(os.path.join(self.files, "fifo"))
        for headers in ({}, {"Accept": "application/octet-stream"}):
            r = self.d.session.get(self.d.url("/v1/files/fifo"),
                                   headers=headers, timeout=10)
            self.assertEqual(r.status_code, 422, r.text)
            self.assertIn("FIFO", strict_json(r)["error"]["message"])
        r = self.d.session.get(self.d.url("/v1/files"), timeout=10)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(strict_json(r)["files"], [])
        r = self.d.session.post(self.d.url("/v1/models"), timeout=10,
                                json={"name": "m", "file": "fifo"})
        self.assertTrue(400 <= r.status_code < 500, r.text)
        # No worker is stuck: every thread still answers.
        for _ in range(8):
            r = self.d.session.get(self.d.url("/v1/health"), timeout=10)
            self.assertEqual(r.status_code, 200)

    def test_linked_model_dir_is_not_written_or_emptied(self):
        r = self.d.post("/v1/models", {"name": "v", "seed": 1,
                                       "block": named_mlp_spec()})
        self.assertEqual(r.status_code, 201, r.text)
        mdir = os.path.join(self.d.data_dir, "models", "v")
        self.assertTrue(os.path.isfile(os.path.join(mdir, "spec.json")))
        shutil.rmtree(mdir)
        os.symlink(self.outside, mdir)
        r = self.d.post("/v1/models/v/save")
        self.assertEqual(r.status_code, 500, r.text)
        self.assertIn("symbolic link", strict_json(r)["error"]["message"])
        self.assertCanary()  # nothing written there
        self.assertEqual(self.d.delete("/v1/models/v").status_code, 200)
        self.assertCanary()  # nothing removed there
        self.assertFalse(os.path.lexists(mdir))  # the link itself went
        self.assertEqual(self.d.get("/v1/health").status_code, 200)


class SandboxStartup(unittest.TestCase):
    """Links and FIFOs under the data dir at start-up."""

    def test_linked_files_dir_refuses_to_start(self):
        data = tempfile.mkdtemp(prefix="blockd-data-")
        other = tempfile.mkdtemp(prefix="blockd-other-")
        try:
            os.symlink(other, os.path.join(data, "files"))
            with self.assertRaises(RuntimeError) as cm:
                Daemon(data_dir=data)
            self.assertIn("files is a symbolic link", str(cm.exception))
            self.assertEqual(os.listdir(other), [])
        finally:
            shutil.rmtree(data)
            shutil.rmtree(other)

    def test_linked_or_fifo_model_dir_is_skipped_with_a_log_line(self):
        d = Daemon(keep_data=True)
        data = d.data_dir
        other = tempfile.mkdtemp(prefix="blockd-other-")
        try:
            for name in ("a", "b"):
                r = d.post("/v1/models", {"name": name, "seed": 1,
                                          "block": named_mlp_spec()})
                self.assertEqual(r.status_code, 201, r.text)
            d.stop()
            models = os.path.join(data, "models")
            # a's directory moves outside and is linked back in; b's
            # spec.json becomes a FIFO (restore must not block on it).
            shutil.move(os.path.join(models, "a"), os.path.join(other, "a"))
            os.symlink(os.path.join(other, "a"), os.path.join(models, "a"))
            os.unlink(os.path.join(models, "b", "spec.json"))
            os.mkfifo(os.path.join(models, "b", "spec.json"))
            d = Daemon(data_dir=data, keep_data=True)
            r = d.get("/v1/models")
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(strict_json(r)["models"], [])
            err = d.stop()
            self.assertIn("model 'a' not restored: models/a is a symbolic "
                          "link", err)
            self.assertIn("model 'b' not restored", err)
            self.assertIn("FIFO", err)
            self.assertEqual(sorted(os.listdir(os.path.join(other, "a"))),
                             ["spec.json", "state.safetensors"])
        finally:
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(other, ignore_errors=True)


class Utf8Names(unittest.TestCase):
    """Names round-trip as valid JSON: invalid UTF-8 is refused (400)."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.put("/v1/tensors/x", tensor_json(np.ones(2, np.float32)))

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    BAD = ("%ff%fe", "a%c0%afb", "%ed%a0%80", "x%c3", "%c2%85")

    def test_bad_names_refused(self):
        t = tensor_json(np.ones(2, np.float32))
        for bad in self.BAD:
            with self.subTest(name=bad):
                r = self.d.put("/v1/tensors/" + bad, t)
                self.assertEqual(r.status_code, 400, r.text)
                msg = strict_json(r)["error"]["message"]
                self.assertIn("tensor name", msg)
                r = self.d.put("/v1/files/" + bad, {"tensors": "x"})
                self.assertEqual(r.status_code, 400, r.text)
                self.assertIn("file name", strict_json(r)["error"]["message"])
                r = self.d.put("/v1/files/" + bad, data=b"x", headers=OCTET)
                self.assertEqual(r.status_code, 400, r.text)
        r = self.d.put("/v1/tensors/%ff%fe", t)
        self.assertIn("not valid UTF-8", strict_json(r)["error"]["message"])
        for path in ("/v1/tensors", "/v1/files"):
            r = self.d.get(path)
            self.assertEqual(r.status_code, 200)
            names = [e["name"] for e in strict_json(r)[path.split("/")[-1]]]
            self.assertNotIn("\ufffd", "".join(names))
            self.assertTrue(all(n.isprintable() for n in names), names)

    def test_utf8_names_round_trip(self):
        r = self.d.put("/v1/tensors/caf%C3%A9", tensor_json(np.ones(1)))
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(strict_json(r)["name"], "caf\u00e9")
        r = self.d.put("/v1/files/%E2%82%AC.pt", {"tensors": "caf\u00e9"})
        self.assertEqual(r.status_code, 201, r.text)
        self.assertIn("\u20ac.pt", self.listing_names())
        self.assertIn("caf\u00e9", [t["name"] for t in strict_json(
            self.d.get("/v1/tensors"))["tensors"]])

    def listing_names(self):
        return [f["name"] for f in strict_json(self.d.get("/v1/files"))["files"]]

    def test_json_body_must_be_utf8(self):
        raw = b'{"tensors": {"\xff": "x"}}'
        r = self.d.put("/v1/files/k", data=raw,
                       headers={"Content-Type": "application/json"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("UTF-8", strict_json(r)["error"]["message"])
        self.assertNotIn("k", self.listing_names())

    def test_file_with_non_utf8_keys_is_refused(self):
        # A safetensors file whose tensor key is not UTF-8 (made by hand)
        # is refused on the way in (and proto_buf_json_str would print the
        # byte as U+FFFD anyway: tests/unit/test_buf.c).
        hdr = b'{"\xffk":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
        hdr += b" " * (-len(hdr) % 8)
        blob = len(hdr).to_bytes(8, "little") + hdr + b"\0\0\x80\x3f"
        r = self.d.put("/v1/files/badkey", data=blob, headers=OCTET)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("UTF-8", strict_json(r)["error"]["message"])
        self.assertNotIn("badkey", self.listing_names())

if __name__ == "__main__":
    unittest.main()
