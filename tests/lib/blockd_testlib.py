"""Helpers for blockd's HTTP integration and PyTorch parity tests.

Daemon() starts a real blockd (BLOCKD_BIN) on an ephemeral loopback port
with a temporary data dir and stops it with SIGTERM, failing the test if it
did not exit cleanly. Tests run under /usr/bin/python3 (Debian's, which sees
python3-torch, python3-numpy and python3-requests).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import requests

BLOCKD_BIN = os.environ.get("BLOCKD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "blockd")
# The same daemon built with the test crash hook (BLOCKD_TEST_HOOKS); only
# the tests that need a hook start it.
BLOCKD_TESTHOOKS_BIN = os.environ.get("BLOCKD_TESTHOOKS_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "blockd-testhooks")
BUILD_DIR = os.environ.get("BLOCKD_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
# Device on which tests place their models: cpu by default; the GPU device
# check sets cuda:0.
TEST_DEVICE = os.environ.get("BLOCKD_TEST_DEVICE", "cpu")


class Daemon:
    def __init__(self, *args, data_dir=None, env=None, keep_data=False,
                 bin=None, token=None, verify=None):
        self.tmp = None
        if data_dir is None:
            self.tmp = tempfile.mkdtemp(prefix="blockd-test-")
            data_dir = self.tmp
        self.data_dir = data_dir
        self.keep_data = keep_data
        full_env = dict(os.environ)
        full_env.update(env or {})
        cmd = [bin or BLOCKD_BIN, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
               "--threads", "4", "--log-level", "warn"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full_env,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"(https?)://(\[[^\]]*\]|[^:/]+):(\d+)", line)
        if not m:
            err = self.proc.stderr.read()
            self.proc.wait(timeout=10)
            raise RuntimeError("blockd did not start: %r %s" % (line, err))
        # https when started with --tls-cert; the test then passes its
        # certificate as verify.
        self.scheme = m.group(1)
        self.port = int(m.group(3))
        self.base = "%s://127.0.0.1:%s" % (self.scheme, self.port)
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = "Bearer " + token
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE
        # override a session's verify, but not a request's.
        self.verify = verify

    def url(self, path):
        return self.base + path

    def request(self, method, path, json_body=None, data=None, headers=None,
                **kw):
        if json_body is not None:
            data = json.dumps(json_body)
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        if self.verify is not None:
            kw.setdefault("verify", self.verify)
        r = self.session.request(method, self.url(path), data=data,
                                 headers=headers, timeout=120, **kw)
        if (method == "POST" and path.split("?")[0] == "/v1/models"
                and r.status_code == 201 and isinstance(json_body, dict)
                and "block" in json_body):
            _check_accepted_spec(json_body["block"], r)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, json_body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def stop(self, expect_clean=True):
        """SIGTERM and wait; returns stderr. Fails on a crash or a sanitizer
        report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("blockd did not exit within 60 s of SIGTERM")
        if not self.keep_data and self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if expect_clean:
            if self.proc.returncode != 0:
                raise AssertionError("blockd exited with %s:\n%s" %
                                     (self.proc.returncode, err[-4000:]))
            if "ERROR: AddressSanitizer" in err or "runtime error:" in err \
                    or "LeakSanitizer" in err \
                    or "WARNING: ThreadSanitizer" in err:
                raise AssertionError("sanitizer report:\n" + err[-6000:])
        return err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _check_accepted_spec(posted, r):
    """Every spec the daemon accepts, and the canonical spec it returns,
    must be valid under the published proto/block-spec.schema.json (issue
    3), so that the schema and the parser cannot drift apart in any
    suite."""
    from blockd_schema import validate_spec  # jsonschema only when needed
    validate_spec(posted)
    canon = r.json().get("block")
    if canon is not None:
        validate_spec(canon)


def linear(i, o, bias=True, **kw):
    d = {"type": "linear", "in_features": i, "out_features": o, "bias": bias}
    d.update(kw)
    return d


def seq(*layers, **kw):
    d = {"type": "sequential", "layers": list(layers)}
    d.update(kw)
    return d


def relu(**kw):
    d = {"type": "relu"}
    d.update(kw)
    return d


def seed_mlp_spec():
    """nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))."""
    return seq(linear(20, 256), relu(), linear(256, 10))


def named_mlp_spec():
    """The seed's MLP class: children hidden (Linear 20->256) and out."""
    return seq(linear(20, 256, name="hidden"), relu(), linear(256, 10, name="out"))


def tensor_json(arr):
    """numpy array -> blockd JSON tensor (flat data)."""
    import numpy as np
    a = np.asarray(arr)
    dtype = {"float32": "float32", "float64": "float64",
             "int64": "int64"}[str(a.dtype)]
    return {"shape": list(a.shape), "dtype": dtype,
            "data": a.reshape(-1).tolist()}


def from_json(t):
    """blockd JSON tensor -> numpy array (float32 unless dtype says)."""
    import numpy as np
    dt = {"float32": np.float32, "float64": np.float64, "int64": np.int64,
          "float16": np.float16, "bfloat16": np.float32}[t["dtype"]]

    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, str):
            return {"NaN": float("nan"), "Infinity": float("inf"),
                    "-Infinity": float("-inf")}[v]
        return v
    return np.array(fix(t["data"]), dtype=dt).reshape(t["shape"])


# A block that computes until --max-compute-seconds (or the request
# deadline) stops it: a worker held busy without timing anything.
FOREVER = {"type": "while", "cond": {"reduce": "abs_sum", "gt": -1},
           "body": {"type": "identity"}, "max_iters": 1000000000}


def add_busy_model(d, name="spin"):
    """Creates model name, linear(2, 2) then FOREVER: every forward of it
    holds a worker until a time limit stops it. Input [[1.0, 2.0]]."""
    r = d.post("/v1/models", {"name": name, "seed": 1,
                              "block": seq(linear(2, 2), FOREVER)})
    assert r.status_code == 201, r.text


def wait_or_fail(pred, what, timeout=60.0, step=0.01):
    """Polls pred until it returns something true (returned) and fails the
    test with "timed out waiting for <what>" after timeout seconds: a
    bound, never a timed assertion."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False
