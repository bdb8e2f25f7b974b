"""The HTTP benchmark's own pieces (bench/http_bench.py) work, so a bench
run measures what it claims: the floor server answers its fixed bodies
(JSON, and .npy on Accept) after consuming any request body, on kept-alive
connections, and stops on SIGTERM; the wrk scripts print the JSON report
the runner parses; the FastAPI peer computes the seed MLP as PyTorch does,
in JSON and .npy. The wrk and FastAPI parts skip where those are not
installed (scripts/install-deps.sh --bench)."""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import requests

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BENCH = os.path.join(ROOT, "bench")
FLOOR_BIN = os.path.join(os.environ.get("BLOCKD_BUILD_DIR", "build"),
                         "bench", "floor")
NPY = "application/x-npy"


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def start(cmd, env=None):
    """Start cmd; (process, base URL from its first stdout line)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, start_new_session=True)
    line = p.stdout.readline()
    m = re.search(r"http://([0-9.]+):(\d+)", line)
    if not m:
        p.kill()
        p.wait()
        raise RuntimeError("%s did not start: %r %s" % (cmd[0], line,
                                                        p.stderr.read()))
    return p, "http://%s:%s" % (m.group(1), m.group(2))


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
    rc = p.wait(timeout=60)
    p.stdout.close()
    p.stderr.close()
    return rc


class Floor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="blockd-floor-")
        cls.json_body = b'{"outputs":{"shape":[1,2],"data":[[1,2]]}}'
        cls.npy_body = npy_bytes(np.arange(10, dtype=np.float32))
        cls.jf = os.path.join(cls.tmp, "b.json")
        cls.nf = os.path.join(cls.tmp, "b.npy")
        with open(cls.jf, "wb") as f:
            f.write(cls.json_body)
        with open(cls.nf, "wb") as f:
            f.write(cls.npy_body)
        cls.p, cls.base = start([FLOOR_BIN, "--threads", "2", "--body",
                                 cls.jf, "--npy-body", cls.nf])

    @classmethod
    def tearDownClass(cls):
        stop(cls.p)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_fixed_bodies_on_one_connection(self):
        s = requests.Session()
        big = json.dumps({"inputs": [[0.5] * 20000]})  # ~200 KB, read fully
        for _ in range(3):
            r = s.post(self.base + "/v1/models/mlp/forward", data=big,
                       headers={"Content-Type": "application/json"})
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.content, self.json_body)
            self.assertEqual(r.headers["Content-Type"], "application/json")
            r = s.post(self.base + "/v1/models/mlp/forward",
                       data=npy_bytes(np.zeros((1, 20), np.float32)),
                       headers={"Content-Type": NPY, "Accept": NPY})
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.content, self.npy_body)
            self.assertEqual(r.headers["Content-Type"], NPY)
            r = s.get(self.base + "/v1/health")
            self.assertEqual(r.content, self.json_body)

    def test_bare_floor_answers_a_forward_sized_body(self):
        p, base = start([FLOOR_BIN])
        try:
            r = requests.get(base + "/")
            self.assertEqual(r.status_code, 200)
            out = r.json()["outputs"]
            self.assertEqual(out["shape"], [1, 10])
            self.assertEqual(len(out["data"][0]), 10)
        finally:
            self.assertEqual(stop(p), 0)

    def test_bad_flags_exit_2(self):
        r = subprocess.run([FLOOR_BIN, "--threads", "0"], capture_output=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([FLOOR_BIN, "--memory", "10"], capture_output=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([FLOOR_BIN, "--body", "/nonexistent/x"],
                           capture_output=True)
        self.assertEqual(r.returncode, 1)

    @unittest.skipUnless(shutil.which("wrk"), "wrk is not installed")
    def test_wrk_scripts_report_json(self):
        env = dict(os.environ, BODY_FILE=self.nf)
        for script, extra in (("forward_json.lua", {}),
                              ("forward_npy.lua", env), ("get.lua", {})):
            out = subprocess.run(
                ["wrk", "-t1", "-c2", "-d1s", "-s",
                 os.path.join(BENCH, "wrk", script),
                 self.base + "/v1/models/mlp/forward"],
                capture_output=True, text=True, env=extra or None,
                timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = [l for l in out.stdout.splitlines()
                     if l.startswith("WRK_JSON ")]
            self.assertEqual(len(lines), 1, out.stdout)
            rep = json.loads(lines[0][len("WRK_JSON "):])
            self.assertGreater(rep["requests"], 0)
            self.assertEqual(rep["errors"]["status"], 0)
            self.assertLessEqual(rep["p50_us"], rep["p99_us"])
            self.assertLessEqual(rep["p99_us"], rep["max_us"])


def have_peer_deps():
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
        return True
    except ImportError:
        return False


@unittest.skipUnless(have_peer_deps(), "fastapi/uvicorn are not installed")
class Peer(unittest.TestCase):
    def test_seed_mlp_as_pytorch_json_and_npy(self):
        import torch
        from torch import nn
        tmp = tempfile.mkdtemp(prefix="blockd-peer-")
        env = dict(os.environ, PEER_READY_DIR=tmp)
        p, base = start([sys.executable, "-u",
                         os.path.join(BENCH, "peers", "fastapi_peer.py"),
                         "--workers", "1"], env=env)
        try:
            deadline = time.monotonic() + 300
            # Ready: the worker built its models (a file in tmp) and, with
            # one worker, uvicorn binds the port only after that.
            while True:
                self.assertIsNone(p.poll(), "peer exited")
                self.assertLess(time.monotonic(), deadline, "peer not ready")
                if os.listdir(tmp):
                    try:
                        if requests.get(base + "/v1/health").ok:
                            break
                    except requests.ConnectionError:
                        pass
                time.sleep(0.1)
            # The peer's seed MLP: torch.manual_seed(1), then the layers.
            torch.manual_seed(1)
            ref = nn.Sequential(nn.Linear(20, 256), nn.ReLU(),
                                nn.Linear(256, 10))
            x = np.linspace(-1, 1, 40, dtype=np.float32).reshape(2, 20)
            with torch.no_grad():
                want = ref(torch.from_numpy(x)).numpy()
            url = base + "/v1/models/mlp/forward"
            r = requests.post(url, json={"inputs": x.tolist()})
            self.assertEqual(r.status_code, 200, r.text)
            out = r.json()["outputs"]
            self.assertEqual(out["shape"], [2, 10])
            self.assertEqual(out["dtype"], "float32")
            np.testing.assert_allclose(np.array(out["data"], np.float32),
                                       want, rtol=1e-5, atol=1e-6)
            r = requests.post(url, json={"inputs": {
                "shape": [2, 20], "data": x.reshape(-1).tolist()}})
            np.testing.assert_allclose(
                np.array(r.json()["outputs"]["data"], np.float32), want,
                rtol=1e-5, atol=1e-6)
            r = requests.post(url, data=npy_bytes(x),
                              headers={"Content-Type": NPY, "Accept": NPY})
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.headers["Content-Type"], NPY)
            got = np.load(io.BytesIO(r.content), allow_pickle=False)
            self.assertEqual(got.shape, (2, 10))
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            r = requests.post(base + "/v1/models/nope/forward",
                              json={"inputs": x.tolist()})
            self.assertEqual(r.status_code, 404)
            self.assertEqual(r.json()["error"]["code"], "not_found")
        finally:
            stop(p)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
