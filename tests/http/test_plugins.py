"""C plugins (engine/blockd_plugin.h): the example MyLinear plugin loaded
into a real daemon with --plugin and with BLOCKD_PLUGINS; its specs
validate, round-trip and report bad fields by path; broken plugins (wrong
ABI version, no entry function, a taken type name, a missing file, the
same plugin twice) stop start-up with a clear message and a non-zero
exit status."""
import os
import subprocess
import tempfile
import unittest

import numpy as np

from blockd_schema import validate_spec
from blockd_testlib import BLOCKD_BIN, BUILD_DIR, Daemon, from_json, tensor_json

MYLINEAR = os.path.join(BUILD_DIR, "libmylinear.so")


def lib(name):
    return os.path.join(BUILD_DIR, "libtest_plugin_%s.so" % name)


def start_fails(*args, env=None):
    """Runs blockd expecting it to refuse to start; returns stderr."""
    with tempfile.TemporaryDirectory() as data:
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.run([BLOCKD_BIN, "--listen", "127.0.0.1:0",
                            "--data-dir", data] + list(args),
                           capture_output=True, text=True, timeout=60,
                           env=full_env)
    assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
    return p.stderr


class Plugins(unittest.TestCase):
    def test_mylinear_loaded(self):
        with Daemon("--plugin", MYLINEAR) as d:
            spec = {"type": "mylinear", "in_units": 3, "units": 2}
            validate_spec(spec)
            r = d.post("/v1/models", {"name": "m", "seed": 1, "block": spec})
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["block"], spec)
            self.assertEqual(r.json()["parameter_count"], 3 * 2 + 2)
            sd = {k: from_json(v) for k, v in
                  d.get("/v1/models/m/state_dict").json().items()}
            self.assertEqual(list(sd), ["weight", "bias"])
            self.assertEqual(sd["weight"].shape, (3, 2))
            x = np.array([[1.0, -2.0, 0.5], [0.1, 0.2, 0.3]], np.float32)
            r = d.post("/v1/models/m/forward", {"inputs": tensor_json(x)})
            self.assertEqual(r.status_code, 200, r.text)
            want = np.maximum(x @ sd["weight"] + sd["bias"], 0)
            np.testing.assert_allclose(from_json(r.json()["outputs"]), want,
                                       rtol=1e-6, atol=1e-7)
            # a bad input and a bad spec name the layer / the path
            r = d.post("/v1/models/m/forward",
                       {"inputs": tensor_json(np.zeros((1, 4), np.float32))})
            self.assertEqual(r.status_code, 422, r.text)
            self.assertIn("mylinear", r.json()["error"]["message"])
            r = d.post("/v1/models", {"name": "bad", "block": {
                "type": "sequential", "layers": [{"type": "mylinear",
                                                  "units": 2}]}})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertTrue(r.json()["error"]["message"].startswith(
                "block.layers[0].in_units: missing"))

    def test_env_var(self):
        with Daemon(env={"BLOCKD_PLUGINS": MYLINEAR}) as d:
            r = d.post("/v1/models", {"name": "m", "block": {
                "type": "mylinear", "in_units": 2, "units": 2}})
            self.assertEqual(r.status_code, 201, r.text)
        with Daemon() as d:  # without the plugin the type is unknown
            r = d.post("/v1/models", {"name": "m", "block": {
                "type": "mylinear", "in_units": 2, "units": 2}})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertIn("unknown block type 'mylinear'",
                          r.json()["error"]["message"])

    def test_broken_plugins_stop_startup(self):
        err = start_fails("--plugin", lib("bad_abi"))
        self.assertIn("ABI version 999", err)
        self.assertIn("libtest_plugin_bad_abi.so", err)
        err = start_fails("--plugin", lib("no_entry"))
        self.assertIn("no 'blockd_plugin' entry function", err)
        err = start_fails("--plugin", lib("taken_name"))
        self.assertIn("block type 'linear' is already registered", err)
        err = start_fails("--plugin", MYLINEAR, "--plugin", MYLINEAR)
        self.assertIn("block type 'mylinear' is already registered", err)
        err = start_fails("--plugin", "/nonexistent/libnothing.so")
        self.assertIn("cannot load", err)
        self.assertIn("/nonexistent/libnothing.so", err)
        err = start_fails(env={"BLOCKD_PLUGINS": lib("bad_abi")})
        self.assertIn("ABI version", err)

    def test_abi_1_plugin_is_refused(self):
        """A plugin built against the cJSON-based ABI 1 is refused at
        start-up with a message that says what to do."""
        err = start_fails("--plugin", lib("old_abi"))
        self.assertIn("libtest_plugin_old_abi.so: built for plugin ABI "
                      "version 1, this blockd speaks ABI version 2; rebuild "
                      "it against blockd_plugin.h", err)


if __name__ == "__main__":
    unittest.main()
