"""Tensor files between blockd and PyTorch / the safetensors package, both
ways: our torch files load with torch.load(weights_only=True) into the same
objects and values; torch.save files (tensors, lists, dicts, real
state_dict()s with fp16/bf16/f64/int64, views with a storage offset, shared
storages, Parameters) load into blockd and give the same forward outputs;
the safetensors package (PyPI, in a virtualenv made by this test) reads our
files and writes files we read."""
import collections
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
from torch import nn

from blockd_testlib import (Daemon, from_json, named_mlp_spec, tensor_json,
                            TEST_DEVICE)
from seed_models import MLP

OCTET = {"Content-Type": "application/octet-stream"}
RAW = {"Accept": "application/octet-stream"}


def torch_bytes(obj):
    f = io.BytesIO()
    torch.save(obj, f)
    return f.getvalue()


def as_np(t):
    return t.detach().float().numpy() if t.dtype == torch.bfloat16 \
        else t.detach().numpy()


class FilesInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def forward(self, name, x):
        r = self.d.post("/v1/models/%s/forward" % name,
                        {"inputs": tensor_json(x)})
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json()["outputs"])

    def create(self, name, **kw):
        body = {"name": name, "device": TEST_DEVICE}
        body.update(kw)
        r = self.d.post("/v1/models", body)
        self.assertEqual(r.status_code, 201, r.text)

    def put_tensor(self, name, arr):
        r = self.d.put("/v1/tensors/" + name, tensor_json(arr))
        self.assertIn(r.status_code, (200, 201), r.text)

    # ---- blockd -> torch -------------------------------------------------

    def test_our_torch_files_load_weights_only(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((3, 4)).astype(np.float32)
        y = rng.standard_normal((5,)).astype(np.float64)
        z = np.arange(-3, 3, dtype=np.int64)
        s = np.array(2.5, dtype=np.float32)
        for n, a in (("tx", x), ("ty", y), ("tz", z), ("ts", s)):
            self.put_tensor(n, a)
        cases = [("x-file", "tx", torch.Tensor),
                 ("xy-list", ["tx", "ty"], list),
                 ("mydict", {"x": "tx", "y": "ty", "z": "tz", "s": "ts"},
                  dict)]
        for fname, spec, typ in cases:
            r = self.d.put("/v1/files/" + fname,
                           {"tensors": spec, "format": "torch"})
            self.assertEqual(r.status_code, 201, r.text)
            raw = self.d.get("/v1/files/" + fname, headers=RAW)
            self.assertEqual(raw.status_code, 200)
            obj = torch.load(io.BytesIO(raw.content), weights_only=True)
            self.assertIs(type(obj), typ)
            if typ is torch.Tensor:
                np.testing.assert_array_equal(obj.numpy(), x)
            elif typ is list:
                self.assertEqual(len(obj), 2)
                np.testing.assert_array_equal(obj[0].numpy(), x)
                self.assertEqual(obj[1].dtype, torch.float64)
                np.testing.assert_array_equal(obj[1].numpy(), y)
            else:
                self.assertEqual(list(obj.keys()), ["x", "y", "z", "s"])
                self.assertEqual(obj["z"].dtype, torch.int64)
                np.testing.assert_array_equal(obj["z"].numpy(), z)
                self.assertEqual(obj["s"].shape, torch.Size([]))
                self.assertEqual(float(obj["s"]), 2.5)

    def test_model_state_dict_to_torch_module(self):
        self.create("sdm", seed=7, block=named_mlp_spec())
        for fmt in ("torch", "safetensors"):
            r = self.d.get("/v1/models/sdm/state_dict?format=" + fmt)
            self.assertEqual(r.status_code, 200, r.text)
            if fmt == "torch":
                sd = torch.load(io.BytesIO(r.content), weights_only=True)
                self.assertIs(type(sd), collections.OrderedDict)
            else:
                sd = read_safetensors_by_hand(r.content)
            net = MLP()
            net.load_state_dict(sd)
            x = np.random.default_rng(2).standard_normal((4, 20)).astype(
                np.float32)
            with torch.no_grad():
                want = net(torch.from_numpy(x)).numpy()
            np.testing.assert_allclose(self.forward("sdm", x), want,
                                       rtol=1e-5, atol=1e-6)

    # ---- torch -> blockd -------------------------------------------------

    def test_torch_save_objects_load(self):
        base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
        view = base[1:, 2:]            # non-zero offset, non-contiguous
        shared = torch.arange(10, dtype=torch.float64)
        objs = {
            "t.pt": torch.randn(3, 5),
            "l.pt": [torch.randn(2), torch.ones(3, dtype=torch.int64)],
            "d.pt": {"half": torch.randn(4).half(),
                     "bf": torch.randn(3).bfloat16(),
                     "dbl": torch.randn(2, 2).double(),
                     "long": torch.tensor([1, -2, 3 ** 30]),
                     "view": view,
                     "a": shared[2:5], "b": shared[4:],
                     "p": nn.Parameter(torch.randn(2, 3)),
                     "scalar": torch.tensor(1.25)},
        }
        for fname, obj in objs.items():
            r = self.d.put("/v1/files/" + fname, data=torch_bytes(obj),
                           headers=OCTET)
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["format"], "torch")
            g = self.d.get("/v1/files/" + fname)
            self.assertEqual(g.status_code, 200, g.text)
            body = g.json()
            if isinstance(obj, torch.Tensor):
                self.assertEqual(body["kind"], "tensor")
                np.testing.assert_array_equal(from_json(body["values"]),
                                              obj.numpy())
            elif isinstance(obj, list):
                self.assertEqual(body["kind"], "list")
                for got, want in zip(body["values"], obj):
                    np.testing.assert_array_equal(from_json(got), want.numpy())
            else:
                self.assertEqual(body["kind"], "dict")
                self.assertEqual(list(body["values"].keys()), list(obj))
                for k, want in obj.items():
                    got = body["values"][k]
                    self.assertEqual(got["dtype"], str(want.dtype)[6:], k)
                    np.testing.assert_array_equal(from_json(got),
                                                  as_np(want), err_msg=k)

    def test_torch_state_dict_into_model(self):
        torch.manual_seed(5)
        net = MLP()
        self.create("fromtorch", seed=1, block=named_mlp_spec())
        x = np.random.default_rng(3).standard_normal((8, 20)).astype(
            np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        # Raw torch.save bytes straight into load_state_dict.
        r = self.d.put("/v1/models/fromtorch/state_dict",
                       data=torch_bytes(net.state_dict()), headers=OCTET)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["loaded"], 4)
        np.testing.assert_allclose(self.forward("fromtorch", x), want,
                                   rtol=1e-5, atol=1e-6)
        # A float64 state_dict is converted to float32 on load.
        self.create("fromtorch64", seed=2, block=named_mlp_spec())
        sd64 = collections.OrderedDict((k, v.double())
                                       for k, v in net.state_dict().items())
        r = self.d.put("/v1/files/mlp64.pt", data=torch_bytes(sd64),
                       headers=OCTET)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["kind"], "state_dict")
        r = self.d.put("/v1/models/fromtorch64/state_dict",
                       {"file": "mlp64.pt"})
        self.assertEqual(r.status_code, 200, r.text)
        np.testing.assert_allclose(self.forward("fromtorch64", x), want,
                                   rtol=1e-5, atol=1e-6)

    # ---- the seed's flow and self-describing checkpoints ------------------

    def test_seed_flow_save_clone_load(self):
        self.create("mlp", seed=11, block=named_mlp_spec())
        for fmt in ("safetensors", "torch"):
            fname = "mlp.params" if fmt == "safetensors" else "mlp.pt"
            r = self.d.put("/v1/files/" + fname, {"model": "mlp",
                                                  "format": fmt})
            self.assertEqual(r.status_code, 201, r.text)
            clone = "clone_" + fmt
            self.create(clone, like="mlp", seed=99)
            r = self.d.put("/v1/models/%s/state_dict" % clone,
                           {"file": fname})
            self.assertEqual(r.status_code, 200, r.text)
            r = self.d.patch("/v1/models/%s" % clone, {"mode": "eval"})
            self.assertEqual(r.status_code, 200, r.text)
            x = np.random.default_rng(4).standard_normal((2, 20)).astype(
                np.float32)
            np.testing.assert_array_equal(self.forward(clone, x),
                                          self.forward("mlp", x))
            # Rebuilt from the file alone.
            rebuilt = "rebuilt_" + fmt
            self.create(rebuilt, file=fname)
            np.testing.assert_array_equal(self.forward(rebuilt, x),
                                          self.forward("mlp", x))

    def test_strict_and_non_strict(self):
        self.create("strict1", seed=1, block=named_mlp_spec())
        before = self.d.get("/v1/models/strict1/state_dict").json()
        bad = {"hidden.weight": tensor_json(np.zeros((256, 20), np.float32)),
               "hidden.bias": tensor_json(np.zeros((3,), np.float32)),
               "extra": tensor_json(np.zeros((1,), np.float32))}
        r = self.d.put("/v1/models/strict1/state_dict", bad)
        self.assertEqual(r.status_code, 400, r.text)
        msg = r.json()["error"]["message"]
        for word in ("out.weight", "out.bias", "extra", "hidden.bias"):
            self.assertIn(word, msg)
        err = r.json()["error"]  # the same report as structured fields
        self.assertEqual(sorted(err["missing_keys"]), ["out.bias",
                                                       "out.weight"])
        self.assertEqual(err["unexpected_keys"], ["extra"])
        self.assertEqual(err["mismatched_keys"][0]["key"], "hidden.bias")
        self.assertEqual(self.d.get("/v1/models/strict1/state_dict").json(),
                         before)  # nothing applied
        r = self.d.put("/v1/models/strict1/state_dict?strict=false", bad)
        self.assertEqual(r.status_code, 200, r.text)
        rep = r.json()
        self.assertEqual(rep["loaded"], 1)
        self.assertEqual(sorted(rep["missing_keys"]), ["out.bias",
                                                       "out.weight"])
        self.assertEqual(rep["unexpected_keys"], ["extra"])
        self.assertEqual(rep["mismatched_keys"][0]["key"], "hidden.bias")
        after = self.d.get("/v1/models/strict1/state_dict").json()
        self.assertTrue(all(v == 0 for row in after["hidden.weight"]["data"]
                            for v in row))
        self.assertEqual(after["out.weight"], before["out.weight"])

    # ---- the safetensors package -----------------------------------------

    def test_safetensors_package(self):
        py = safetensors_python()
        if py is None:
            self.skipTest("PyPI unreachable: cannot pip install safetensors "
                          "into a virtualenv")
        self.create("stm", seed=21, block=named_mlp_spec())
        r = self.d.put("/v1/files/stm.safetensors", {"model": "stm"})
        self.assertEqual(r.status_code, 201, r.text)
        ours = self.d.get("/v1/files/stm.safetensors", headers=RAW).content
        sd = self.d.get("/v1/models/stm/state_dict").json()
        with tempfile.TemporaryDirectory() as tmp:
            p_ours = os.path.join(tmp, "ours.safetensors")
            p_theirs = os.path.join(tmp, "theirs.safetensors")
            with open(p_ours, "wb") as f:
                f.write(ours)
            script = (
                "import json,sys,numpy as np\n"
                "from safetensors.numpy import load_file, save_file\n"
                "from safetensors import safe_open\n"
                "d = load_file(sys.argv[1])\n"
                "with safe_open(sys.argv[1], 'np') as f: md = f.metadata()\n"
                "out = {k: v.tolist() for k, v in d.items()}\n"
                "save_file({'w': np.arange(6, dtype=np.float32).reshape(2,3),"
                " 'h': np.array([1.5, -2], np.float16),"
                " 'i': np.array([7, -8], np.int64)}, sys.argv[2],"
                " metadata={'format': 'pt'})\n"
                "print(json.dumps({'values': out, 'meta': md}))\n")
            res = subprocess.run([py, "-c", script, p_ours, p_theirs],
                                 capture_output=True, text=True, timeout=300)
            self.assertEqual(res.returncode, 0, res.stderr)
            got = json.loads(res.stdout)
            self.assertEqual(got["meta"]["format"], "pt")
            self.assertEqual(got["meta"]["blockd.kind"], "state_dict")
            self.assertIn("blockd.spec", got["meta"])
            self.assertEqual(sorted(got["values"]), sorted(sd))
            for k in sd:
                np.testing.assert_array_equal(
                    np.array(got["values"][k], np.float32), from_json(sd[k]))
            with open(p_theirs, "rb") as f:
                theirs = f.read()
        r = self.d.put("/v1/files/theirs.safetensors", data=theirs,
                       headers=OCTET)
        self.assertEqual(r.status_code, 201, r.text)
        v = self.d.get("/v1/files/theirs.safetensors").json()["values"]
        np.testing.assert_array_equal(from_json(v["w"]),
                                      np.arange(6).reshape(2, 3))
        self.assertEqual(v["h"]["dtype"], "float16")
        np.testing.assert_array_equal(from_json(v["h"]), [1.5, -2])
        self.assertEqual(v["i"]["data"], [7, -8])


def read_safetensors_by_hand(b):
    """A minimal reader (the format is simple) used where the package may be
    unavailable."""
    n = int.from_bytes(b[:8], "little")
    h = json.loads(b[8:8 + n])
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64,
          "F16": np.float16}
    out = collections.OrderedDict()
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[v["dtype"]])
        out[k] = torch.from_numpy(a.reshape(v["shape"]).copy())
    return out


_VENV = None


def safetensors_python():
    """A python with the safetensors package: a venv over Debian's python
    (--system-site-packages, so numpy is there) with pip install
    safetensors. None when PyPI cannot be reached."""
    global _VENV
    if _VENV is not None:
        return _VENV or None
    venv = os.path.join(os.environ.get("BLOCKD_BUILD_DIR", tempfile.gettempdir()),
                        "venv-safetensors")
    py = os.path.join(venv, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import safetensors.numpy"], capture_output=True
    ).returncode == 0
    if not ok:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages",
                        venv], check=True, capture_output=True)
        res = subprocess.run([py, "-m", "pip", "install", "-q",
                              "--disable-pip-version-check", "safetensors"],
                             capture_output=True, text=True, timeout=600)
        ok = res.returncode == 0
        if not ok:
            sys.stderr.write("pip install safetensors failed:\n" +
                             res.stderr[-2000:])
    _VENV = py if ok else ""
    return _VENV or None


if __name__ == "__main__":
    unittest.main()
