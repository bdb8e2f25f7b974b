"""KServe Open Inference Protocol v2 (REST) against a live blockd.

The real client, tritonclient[http] from PyPI, is installed into a
virtualenv under the build dir (created once from /usr/bin/python3 -m venv
--system-site-packages, so it still sees numpy and requests); this file
then runs itself again under that virtualenv's Python. If the virtualenv
cannot be created or the install fails (no network), the test FAILS: CI
has PyPI, and skipping would hide a broken protocol.

What is checked:
- with tritonclient: server live/ready/metadata, model metadata and
  readiness, infer with JSON and with binary tensors (FP32, FP16, BF16,
  FP64, INT64, INT32 inputs, converted to float32 by the engine), results
  equal to blockd's /v1 forward of the same values, the request id echoed,
  and the errors the client raises carrying blockd's message (wrong shape,
  unknown model, unknown input and output names, unknown version);
- v2 infer shares the model's queue and dynamic batching with /v1
  forward (concurrent v2 JSON, v2 binary and v1 requests form batches and
  each gets its own unbatched result);
- with raw HTTP: the binary extension's edge cases (header length past
  the body, sizes that do not match shape x datatype, leftover bytes, the
  raw binary form), the {"error": "..."} body on every /v2 failure
  (front-end ones included) while /v1 keeps its own shape, and the
  metadata shapes derived from several block specs.
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from blockd_testlib import BUILD_DIR  # noqa: E402

VENV = os.path.join(os.path.abspath(BUILD_DIR), "kserve-venv")
VENV_PY = os.path.join(VENV, "bin", "python")
REQUIREMENT = "tritonclient[http]"


def ensure_venv():
    """Creates the cached virtualenv with tritonclient[http] (once; a lock
    keeps two test processes from building it together). Raises on any
    failure."""
    os.makedirs(os.path.dirname(VENV), exist_ok=True)
    marker = os.path.join(VENV, ".tritonclient-ok")
    with open(VENV + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return
        if not os.path.exists(VENV_PY):
            subprocess.run(["/usr/bin/python3", "-m", "venv",
                            "--system-site-packages", VENV], check=True)
        r = subprocess.run([VENV_PY, "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", REQUIREMENT],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("pip install %s failed (exit %d):\n%s"
                               % (REQUIREMENT, r.returncode, r.stdout[-4000:]))
        subprocess.run([VENV_PY, "-c", "import tritonclient.http, ml_dtypes"],
                       check=True)
        open(marker, "w").close()


if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    ensure_venv()
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])

# ---- from here on, under the virtualenv's Python ----------------------
import unittest  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from blockd_testlib import (Daemon, from_json, linear, relu, seq,  # noqa: E402
                            TEST_DEVICE, add_busy_model, wait_or_fail)

MLP = seq(linear(4, 8), relu(), linear(8, 3))
X = np.array([[0.5, -1.25, 2.0, 3.5], [1.0, 0.0, -0.75, 0.125],
              [-2.5, 4.0, 1.5, -3.0]], dtype=np.float32)


class KServeV2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        r = cls.d.post("/v1/models", {"name": "mlp", "seed": 3,
                                      "device": TEST_DEVICE, "block": MLP})
        assert r.status_code == 201, r.text
        cls.url = cls.d.base[len("http://"):]
        cls.client = httpclient.InferenceServerClient(url=cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.d.stop()

    # -- helpers --------------------------------------------------------

    def v1_forward(self, values, dtype):
        """blockd's /v1 forward of the same values in the same dtype."""
        a = np.asarray(values)
        data = a.astype(np.float64).reshape(-1).tolist()
        if dtype == "int64":
            data = [int(v) for v in data]
        r = self.d.post("/v1/models/mlp/forward",
                        {"inputs": {"shape": list(a.shape), "dtype": dtype,
                                    "data": data}})
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json()["outputs"])

    def infer(self, arr, datatype, binary_in, binary_out, name="input__0",
              **kw):
        inp = httpclient.InferInput(name, list(arr.shape), datatype)
        inp.set_data_from_numpy(arr, binary_data=binary_in)
        out = httpclient.InferRequestedOutput("output__0",
                                              binary_data=binary_out)
        return self.client.infer("mlp", [inp], outputs=[out], **kw)

    def assert_client_error(self, fn, status, text):
        with self.assertRaises(InferenceServerException) as cm:
            fn()
        self.assertEqual(cm.exception.status(), str(status),
                         cm.exception.message())
        self.assertIn(text, cm.exception.message())

    # -- server and model metadata --------------------------------------

    def test_server_live_ready_metadata(self):
        self.assertTrue(self.client.is_server_live())
        self.assertTrue(self.client.is_server_ready())
        meta = self.client.get_server_metadata()
        self.assertEqual(meta["name"], "blockd")
        self.assertEqual(meta["version"], self.d.get("/v1/health")
                         .json()["version"])
        self.assertIn("binary_tensor_data", meta["extensions"])
        for path in ("/v2/health/live", "/v2/health/ready"):
            r = self.d.get(path)
            self.assertEqual((r.status_code, r.content), (200, b""), path)

    def test_model_metadata_and_ready(self):
        meta = self.client.get_model_metadata("mlp")
        self.assertEqual(meta, {
            "name": "mlp", "versions": ["1"], "platform": "blockd",
            "inputs": [{"name": "input__0", "datatype": "FP32",
                        "shape": [-1, 4]}],
            "outputs": [{"name": "output__0", "datatype": "FP32",
                         "shape": [-1, 3]}]})
        self.assertEqual(self.client.get_model_metadata(
            "mlp", model_version="1"), meta)
        self.assertTrue(self.client.is_model_ready("mlp"))
        self.assertTrue(self.client.is_model_ready("mlp", model_version="1"))
        self.assertFalse(self.client.is_model_ready("nope"))
        self.assertFalse(self.client.is_model_ready("mlp", model_version="2"))
        self.assert_client_error(
            lambda: self.client.get_model_metadata("nope"), 404,
            "model 'nope' not found")
        self.assert_client_error(
            lambda: self.client.get_model_metadata("mlp", model_version="7"),
            404, "model 'mlp' has no version '7'")

    # -- infer ----------------------------------------------------------

    def test_fp32_json_and_binary_equal_v1_forward(self):
        want = self.v1_forward(X, "float32")
        for bin_in in (False, True):
            for bin_out in (False, True):
                res = self.infer(X, "FP32", bin_in, bin_out)
                got = res.as_numpy("output__0")
                self.assertEqual(got.dtype, np.float32)
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6,
                                           err_msg=str((bin_in, bin_out)))
                self.assertEqual(got.tolist(), want.tolist())
                out = res.get_output("output__0")
                self.assertEqual((out["datatype"], out["shape"]),
                                 ("FP32", [3, 3]))
                self.assertEqual("binary_data_size" in
                                 out.get("parameters", {}), bin_out)

    def test_default_outputs_and_versions_segment(self):
        want = self.v1_forward(X, "float32")
        inp = httpclient.InferInput("input__0", [3, 4], "FP32")
        inp.set_data_from_numpy(X)
        # No outputs: the client sets binary_data_output, all come back.
        res = self.client.infer("mlp", [inp], model_version="1",
                                request_id="req-7")
        self.assertEqual(res.get_response()["id"], "req-7")
        self.assertEqual(res.get_response()["model_name"], "mlp")
        self.assertEqual(res.as_numpy("output__0").tolist(), want.tolist())

    def test_other_input_datatypes_convert_to_float32(self):
        """FP16, BF16, FP64 and INT64 inputs equal /v1 forward of the same
        values in the same dtype (the engine converts both to float32);
        INT32 is widened to int64 first. The output is FP32."""
        cases = [
            ("FP16", X.astype(np.float16), "float16", (True, False)),
            ("BF16", X.astype(ml_dtypes.bfloat16), "bfloat16", (True,)),
            ("FP64", X.astype(np.float64) / 3, "float64", (True, False)),
            ("INT64", np.array([[1, -2, 3, 40], [5, 6, -7, 8]],
                               dtype=np.int64), "int64", (True, False)),
            ("INT32", np.array([[9, 0, -3, 2]], dtype=np.int32), "int64",
             (True, False)),
        ]
        for datatype, arr, v1_dtype, modes in cases:
            want = self.v1_forward(arr.astype(np.float64)
                                   if v1_dtype != "int64" else arr, v1_dtype)
            for bin_in in modes:
                res = self.infer(arr, datatype, bin_in, True)
                got = res.as_numpy("output__0")
                self.assertEqual(got.dtype, np.float32, datatype)
                self.assertEqual(got.tolist(), want.tolist(),
                                 (datatype, bin_in))
        # The conversion is real: FP16 rounding changes the result.
        x = np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
        res16 = self.infer(x.astype(np.float16), "FP16", True, True)
        self.assertEqual(res16.as_numpy("output__0").tolist(),
                         self.v1_forward(x.astype(np.float16)
                                         .astype(np.float64), "float16")
                         .tolist())

    def test_any_single_input_name_is_accepted(self):
        want = self.v1_forward(X, "float32")
        for name in ("INPUT0", "x"):
            res = self.infer(X, "FP32", True, True, name=name)
            self.assertEqual(res.as_numpy("output__0").tolist(),
                             want.tolist())

    # -- errors the client raises ---------------------------------------

    def test_client_errors_carry_blockd_messages(self):
        bad = np.zeros((2, 5), dtype=np.float32)
        self.assert_client_error(
            lambda: self.infer(bad, "FP32", True, True), 422,
            "layer 0 (linear) expects 4 input features, got 5")
        self.assert_client_error(
            lambda: self.infer(bad, "FP32", False, False), 422,
            "layer 0 (linear) expects 4 input features, got 5")

        def unknown_model():
            inp = httpclient.InferInput("input__0", [3, 4], "FP32")
            inp.set_data_from_numpy(X)
            self.client.infer("nope", [inp])
        self.assert_client_error(unknown_model, 404, "model 'nope' not found")

        def two_inputs():
            a = httpclient.InferInput("input__0", [3, 4], "FP32")
            a.set_data_from_numpy(X)
            b = httpclient.InferInput("bogus", [3, 4], "FP32")
            b.set_data_from_numpy(X)
            self.client.infer("mlp", [a, b])
        self.assert_client_error(two_inputs, 400,
                                 "unknown input 'bogus': model 'mlp' takes "
                                 "one input, 'input__0'")

        def unknown_output():
            inp = httpclient.InferInput("input__0", [3, 4], "FP32")
            inp.set_data_from_numpy(X)
            self.client.infer("mlp", [inp], outputs=[
                httpclient.InferRequestedOutput("probs")])
        self.assert_client_error(unknown_output, 400,
                                 "unknown output 'probs'")

        def compressed():
            inp = httpclient.InferInput("input__0", [3, 4], "FP32")
            inp.set_data_from_numpy(X)
            self.client.infer("mlp", [inp],
                              request_compression_algorithm="gzip")
        self.assert_client_error(compressed, 415,
                                 "Content-Encoding 'gzip' is not supported")

        def wrong_version():
            inp = httpclient.InferInput("input__0", [3, 4], "FP32")
            inp.set_data_from_numpy(X)
            self.client.infer("mlp", [inp], model_version="2")
        self.assert_client_error(wrong_version, 404,
                                 "model 'mlp' has no version '2'")


class KServeV2Raw(unittest.TestCase):
    """The wire itself, without the client."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        r = cls.d.post("/v1/models", {"name": "mlp", "seed": 3,
                                      "device": TEST_DEVICE, "block": MLP})
        assert r.status_code == 201, r.text

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def post(self, body, header_len=None, path="/v2/models/mlp/infer",
             ctype="application/octet-stream"):
        headers = {"Content-Type": ctype}
        if header_len is not None:
            headers["Inference-Header-Content-Length"] = str(header_len)
        return self.d.session.post(self.d.url(path), data=body,
                                   headers=headers, timeout=60)

    def binary_request(self, arr, datatype="FP32", size=None, extra=b"",
                       header_len=None):
        doc = json.dumps({"inputs": [{
            "name": "input__0", "shape": list(arr.shape),
            "datatype": datatype,
            "parameters": {"binary_data_size":
                           len(arr.tobytes()) if size is None else size}}],
            "parameters": {"binary_data_output": True}}).encode()
        hl = len(doc) if header_len is None else header_len
        return self.post(doc + arr.tobytes() + extra, hl)

    def assert_v2_error(self, r, status, text):
        self.assertEqual(r.status_code, status, r.text)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        body = r.json()
        self.assertEqual(list(body), ["error"], body)
        self.assertIsInstance(body["error"], str)
        self.assertIn(text, body["error"])

    def split(self, r):
        """(JSON header, binary tail) of a binary response."""
        n = int(r.headers["Inference-Header-Content-Length"])
        return json.loads(r.content[:n]), r.content[n:]

    def v1(self, arr):
        r = self.d.post("/v1/models/mlp/forward", {"inputs": {
            "shape": list(arr.shape), "data": arr.reshape(-1).tolist()}})
        self.assertEqual(r.status_code, 200, r.text)
        return from_json(r.json()["outputs"])

    def test_binary_response_layout(self):
        r = self.binary_request(X)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "application/octet-stream")
        head, tail = self.split(r)
        out = head["outputs"][0]
        self.assertEqual(out["parameters"]["binary_data_size"], 36)
        self.assertNotIn("data", out)
        self.assertEqual(len(tail), 36)
        got = np.frombuffer(tail, dtype="<f4").reshape(out["shape"])
        self.assertEqual(got.tolist(), self.v1(X).tolist())

    def test_json_response_has_no_header_length(self):
        r = self.post(json.dumps({"inputs": [{
            "name": "input__0", "shape": [3, 4], "datatype": "FP32",
            "data": X.tolist()}]}), ctype="application/json")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertNotIn("Inference-Header-Content-Length", r.headers)
        out = r.json()["outputs"][0]
        self.assertEqual(np.array(out["data"], dtype=np.float32)
                         .reshape(out["shape"]).tolist(),
                         self.v1(X).tolist())
        self.assertNotIn("id", r.json())
        # "outputs": [] asks for nothing in particular: the output comes
        # back, as Triton returns every output when none is requested.
        r = self.post(json.dumps({"inputs": [{
            "name": "input__0", "shape": [3, 4], "datatype": "FP32",
            "data": X.tolist()}], "outputs": []}), ctype="application/json")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"][0]["name"], "output__0")

    def test_raw_binary_request(self):
        row = X[:1]
        r = self.post(row.tobytes(), 0)
        self.assertEqual(r.status_code, 200, r.text)
        head, tail = self.split(r)
        self.assertEqual(head["outputs"][0]["shape"], [1, 3])
        self.assertEqual(np.frombuffer(tail, "<f4").tolist(),
                         self.v1(row).reshape(-1).tolist())
        self.assert_v2_error(self.post(b"\x00" * 7, 0), 400,
                             "multiple of 4 bytes")
        self.assert_v2_error(self.post(b"\x00" * 12, 0), 422,
                             "expects 4 input features, got 3")

    def test_header_length_past_body(self):
        doc = json.dumps({"inputs": []}).encode()
        self.assert_v2_error(self.post(doc, len(doc) + 1), 400,
                             "Inference-Header-Content-Length is %d but the "
                             "body holds only %d bytes"
                             % (len(doc) + 1, len(doc)))
        for bad in ("abc", "-1", "12x", ""):
            self.assert_v2_error(self.post(doc, bad), 400,
                                 "Inference-Header-Content-Length")

    def test_sizes_not_matching_shape_and_datatype(self):
        self.assert_v2_error(self.binary_request(X, size=40), 400,
                             "binary_data_size: 40 bytes, but shape [3, 4] "
                             "of FP32 needs 48")
        # FP32 bytes declared as FP16: the size matches neither.
        self.assert_v2_error(self.binary_request(X, datatype="FP16"), 400,
                             "of FP16 needs 24")
        # Declared size larger than what follows the header.
        doc = json.dumps({"inputs": [{
            "name": "input__0", "shape": [3, 4], "datatype": "FP32",
            "parameters": {"binary_data_size": 48}}]}).encode()
        self.assert_v2_error(self.post(doc + X.tobytes()[:20], len(doc)), 400,
                             "only 20 bytes of binary data are left")
        # Bytes left over after the last binary input.
        self.assert_v2_error(self.binary_request(X, extra=b"\0\0\0\0"), 400,
                             "4 bytes of binary data follow")
        # A header length that cuts the JSON short.
        self.assert_v2_error(self.binary_request(X, header_len=10), 400,
                             "malformed JSON")
        # Binary data without the header that says where it starts.
        doc = json.dumps({"inputs": [{
            "name": "input__0", "shape": [3, 4], "datatype": "FP32",
            "parameters": {"binary_data_size": 48}}]})
        self.assert_v2_error(self.post(doc, ctype="application/json"), 400,
                             "needs the Inference-Header-Content-Length")
        self.assert_v2_error(self.post(doc.encode() + X.tobytes()), 400,
                             "trailing data after the JSON document")

    def test_bad_json_inputs(self):
        def req(inp, **top):
            body = {"inputs": [inp]}
            body.update(top)
            return self.post(json.dumps(body), ctype="application/json")
        base = {"name": "input__0", "shape": [1, 4], "datatype": "FP32",
                "data": [1, 2, 3, 4]}
        cases = [
            (dict(base, datatype="FP8"), 400, "unknown datatype 'FP8'"),
            (dict(base, datatype="BYTES"), 422, "BYTES is not supported"),
            (dict(base, datatype="INT8", data=[1, 2, 300, 4]), 400,
             "element 2 (300) is outside the range of INT8"),
            (dict(base, data=[1, 2, 3]), 422, "3 values given for shape"),
            ({k: v for k, v in base.items() if k != "shape"}, 400,
             "inputs[0].shape: missing"),
            ({k: v for k, v in base.items() if k != "data"}, 400,
             "give data, or parameters.binary_data_size"),
            (dict(base, colour="red"), 400,
             "inputs[0].unknown field 'colour'"),
        ]
        for inp, status, text in cases:
            self.assert_v2_error(req(inp), status, text)
        self.assert_v2_error(req(base, colour=1), 400, "unknown field 'colour'")
        self.assert_v2_error(req(base, id=5), 400, "id: must be a string")
        self.assert_v2_error(self.post("{", ctype="application/json"), 400,
                             "malformed JSON")
        # Nested data is accepted as well as flat.
        r = req(dict(base, shape=[3, 4], data=X.tolist()))
        self.assertEqual(r.status_code, 200, r.text)

    def test_front_end_errors_take_the_v2_shape(self):
        r = self.d.get("/v2/models/mlp/infer")
        self.assert_v2_error(r, 405, "GET is not allowed")
        self.assertEqual(r.headers["Allow"], "POST")
        self.assert_v2_error(self.post("{}", ctype="text/plain"), 415,
                             "Content-Type 'text/plain' is not supported")
        self.assert_v2_error(self.d.get("/v2/nothing/here"), 404,
                             "no such endpoint")
        self.assert_v2_error(self.d.get("/v2/models/none/ready"), 404,
                             "model 'none' not found")
        # /v1 keeps blockd's own error shape.
        r = self.d.get("/v1/models/none")
        self.assertEqual(r.json()["error"]["code"], "not_found")

    def test_metadata_shapes_from_block_specs(self):
        lin = linear
        cases = {
            "one_linear": (lin(3, 2), [-1, 3], [-1, 2]),
            "relu_first": (seq(relu(), lin(6, 5), {
                "type": "parallel", "combine": "concat",
                "branches": [lin(5, 4), {"type": "tanh"}]}), [-1, 6], [-1, 9]),
            "parallel_add": ({"type": "parallel", "combine": "add",
                              "branches": [lin(4, 2), lin(4, 2)]},
                             [-1, 4], [-1, 2]),
            "residual": ({"type": "residual", "body": seq(
                lin(8, 8), {"type": "gelu"})}, [-1, 8], [-1, 8]),
            "tied_matmul_while": (seq(
                lin(5, 5, id="lin"),
                {"type": "matmul", "weight": {"shape": [5, 7]}},
                {"type": "add", "value": 1}, relu(), lin(7, 5),
                {"ref": "lin"},
                {"type": "while", "cond": {"reduce": "abs_sum", "gt": 1},
                 "body": {"type": "scale", "value": 0.5}}), [-1, 5], [-1, 5]),
            "flatten_first": (seq({"type": "flatten"}, lin(12, 8)),
                              [-1, -1], [-1, 8]),
            "sum_last": (seq(lin(4, 4), {"type": "sum"}), [-1, 4], [-1, -1]),
            "shape_free": (seq(relu(), {"type": "softmax"}), [-1, -1],
                           [-1, -1]),
        }
        for name, (spec, ins, outs) in cases.items():
            r = self.d.post("/v1/models", {"name": name, "block": spec,
                                           "device": TEST_DEVICE})
            self.assertEqual(r.status_code, 201, r.text)
            meta = self.d.get("/v2/models/" + name).json()
            self.assertEqual(meta["inputs"][0]["shape"], ins, name)
            self.assertEqual(meta["outputs"][0]["shape"], outs, name)


class KServeV2Batching(unittest.TestCase):
    """v2 infer goes through the serving core's per-model queue and
    dynamic batching, together with /v1 forward."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon("--workers", "2")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def v2(self, x, binary):
        if binary:
            doc = json.dumps({"inputs": [{
                "name": "input__0", "shape": list(x.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": x.nbytes}}],
                "parameters": {"binary_data_output": True}}).encode()
            r = requests.post(
                self.d.url("/v2/models/bm/infer"), data=doc + x.tobytes(),
                headers={"Inference-Header-Content-Length": str(len(doc)),
                         "Content-Type": "application/octet-stream"},
                timeout=120)
            self.assertEqual(r.status_code, 200, r.text)
            n = int(r.headers["Inference-Header-Content-Length"])
            head = json.loads(r.content[:n])
            return np.frombuffer(r.content[n:], "<f4").reshape(
                head["outputs"][0]["shape"])
        r = requests.post(self.d.url("/v2/models/bm/infer"), json={
            "inputs": [{"name": "input__0", "shape": list(x.shape),
                        "datatype": "FP32", "data": x.reshape(-1).tolist()}]},
            timeout=120)
        self.assertEqual(r.status_code, 200, r.text)
        out = r.json()["outputs"][0]
        return np.array(out["data"], np.float32).reshape(out["shape"])

    def v1(self, x):
        r = requests.post(self.d.url("/v1/models/bm/forward"),
                          json={"inputs": x.tolist()}, timeout=120)
        self.assertEqual(r.status_code, 200, r.text)
        return np.array(r.json()["outputs"]["data"], np.float32)

    def test_v2_and_v1_share_batches(self):
        r = self.d.post("/v1/models", {"name": "bm", "seed": 5, "block": MLP,
                                       "device": TEST_DEVICE})
        self.assertEqual(r.status_code, 201, r.text)
        rng = np.random.default_rng(11)
        xs = [rng.standard_normal((n, 4)).astype(np.float32)
              for n in (1, 2, 1, 3, 1, 1, 2, 1, 1, 1, 1, 4)]
        alone = [self.v1(x) for x in xs]  # batching is off by default
        r = self.d.patch("/v1/models/bm", {"batching": {
            "max_batch": 64, "max_delay_us": 300000}})
        self.assertEqual(r.status_code, 200, r.text)
        before = self.d.get("/v1/models/bm").json()["serving"]
        got = [None] * len(xs)
        errors = []

        def go(i):
            try:
                kind = i % 3
                got[i] = (self.v1(xs[i]) if kind == 0
                          else self.v2(xs[i], binary=kind == 1))
            except Exception as e:  # reported below, not lost in a thread
                errors.append(e)
        ts = [threading.Thread(target=go, args=(i,)) for i in range(len(xs))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        for i, y in enumerate(got):
            self.assertEqual(y.shape, (xs[i].shape[0], 3))
            # BLAS may pick another kernel for another batch size.
            np.testing.assert_allclose(y, alone[i], rtol=1e-6, atol=1e-6)
        after = self.d.get("/v1/models/bm").json()["serving"]
        self.assertEqual(after["inferences"] - before["inferences"], len(xs))
        self.assertGreater(after["batched_requests"],
                           before["batched_requests"], after)




class KServeV2Lifecycle(unittest.TestCase):
    def test_probes_answer_while_busy_and_drain_is_not_ready(self):
        d = Daemon("--workers", "1", "--max-compute-seconds", "1.5")
        try:
            add_busy_model(d)  # forwards hold the worker until 1.5 s
            res = {}

            def spin():
                res["spin"] = requests.post(
                    d.url("/v2/models/spin/infer"), json={"inputs": [{
                        "name": "input__0", "shape": [1, 2],
                        "datatype": "FP32", "data": [1.0, 2.0]}]},
                    timeout=120)
            t = threading.Thread(target=spin)
            t.start()
            wait_or_fail(lambda: d.get("/v1/health").json()["requests"]
                     ["running"] == 1, "the worker busy")
            # Probes run on the HTTP thread: they answer while the only
            # worker computes.
            for path in ("/v2/health/live", "/v2/health/ready",
                         "/v2/models/spin/ready", "/v2"):
                self.assertEqual(d.get(path).status_code, 200, path)
            self.assertEqual(d.get("/v1/health").json()["requests"]
                             ["running"], 1)
            d.proc.send_signal(signal.SIGTERM)

            def not_ready():
                try:
                    r = requests.get(d.url("/v2/health/ready"), timeout=5)
                except requests.ConnectionError:
                    return True  # the listener is closed
                if r.status_code == 200:
                    return False
                self.assertEqual(r.status_code, 503, r.text)
                self.assertIn("shutting down", r.json()["error"])
                return True
            wait_or_fail(not_ready, "readiness to drop")
            t.join()
            # The request in flight is answered, in the v2 error shape.
            self.assertEqual(res["spin"].status_code, 422, res["spin"].text)
            self.assertIn("--max-compute-seconds", res["spin"].json()["error"])
            d.stop()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()


if __name__ == "__main__":
    unittest.main()
