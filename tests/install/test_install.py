"""cmake --install into a temporary prefix, then the example plugin
(engine/plugins/mylinear.c) built outside the tree against that prefix
only, both ways a user would: a CMake project with find_package(blockd)
(tests/install/plugin_project) and a plain cc command with
`pkg-config --cflags blockd-plugin`. Each plugin is loaded into the
installed daemon (--plugin) and its forward checked against numpy."""
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

SOURCE_DIR = os.environ["BLOCKD_SOURCE_DIR"]
BUILD_DIR = os.environ["BLOCKD_BUILD_DIR"]
CMAKE = os.environ.get("BLOCKD_CMAKE", "cmake")
CC = os.environ.get("BLOCKD_CC", "cc")
PKG_CONFIG = os.environ.get("BLOCKD_PKG_CONFIG", "pkg-config")
EXAMPLE = os.path.join(SOURCE_DIR, "engine", "plugins", "mylinear.c")

TMP = tempfile.mkdtemp(prefix="blockd-install-")
PREFIX = os.path.join(TMP, "prefix")
# The daemon under test is the installed one.
os.environ["BLOCKD_BIN"] = os.path.join(PREFIX, "bin", "blockd")
from blockd_testlib import Daemon, from_json, tensor_json  # noqa: E402


def run(cmd, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=full_env,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (
            " ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p.stdout


def setUpModule():
    run([CMAKE, "--install", BUILD_DIR, "--prefix", PREFIX])


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


class Install(unittest.TestCase):
    def check_plugin(self, so):
        """Loads so into the installed daemon; a mylinear layer's forward
        is relu(x @ weight + bias)."""
        with Daemon("--plugin", so) as d:
            spec = {"type": "mylinear", "in_units": 3, "units": 2}
            r = d.post("/v1/models", {"name": "m", "seed": 3, "block": spec})
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(r.json()["block"], spec)
            sd = {k: from_json(v) for k, v in
                  d.get("/v1/models/m/state_dict").json().items()}
            self.assertEqual(list(sd), ["weight", "bias"])
            x = np.array([[1.0, -2.0, 0.5], [0.1, 0.2, 0.3]], np.float32)
            r = d.post("/v1/models/m/forward", {"inputs": tensor_json(x)})
            self.assertEqual(r.status_code, 200, r.text)
            want = np.maximum(x @ sd["weight"] + sd["bias"], 0)
            np.testing.assert_allclose(from_json(r.json()["outputs"]), want,
                                       rtol=1e-6, atol=1e-7)

    def test_layout(self):
        for rel in ["bin/blockd", "include/blockd/engine/blockd_plugin.h",
                    "share/cmake/blockd/blockdConfig.cmake",
                    "share/cmake/blockd/blockdConfigVersion.cmake",
                    "share/pkgconfig/blockd-plugin.pc"]:
            self.assertTrue(os.path.isfile(os.path.join(PREFIX, rel)), rel)
        self.assertTrue(os.access(os.path.join(PREFIX, "bin/blockd"),
                                  os.X_OK))
        # headers only: nothing from the engine's implementation
        inc = os.path.join(PREFIX, "include", "blockd", "engine")
        self.assertFalse([f for f in os.listdir(inc)
                          if not f.endswith(".h")])

    def test_find_package(self):
        build = os.path.join(TMP, "cmake-build")
        out = run([CMAKE, "-S", os.path.join(SOURCE_DIR, "tests", "install",
                                             "plugin_project"),
                   "-B", build, "-DCMAKE_PREFIX_PATH=" + PREFIX,
                   "-DCMAKE_C_COMPILER=" + CC, "-DPLUGIN_SOURCE=" + EXAMPLE,
                   "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"])
        # the package found is the installed one, not this build tree
        self.assertIn("blockd package: %s/share/cmake/blockd" % PREFIX, out)
        run([CMAKE, "--build", build])
        self.check_plugin(os.path.join(build, "libmylinear.so"))

    def test_pkg_config(self):
        env = {"PKG_CONFIG_PATH": os.path.join(PREFIX, "share", "pkgconfig")}
        cflags = run([PKG_CONFIG, "--cflags", "blockd-plugin"], env).split()
        inc = os.path.realpath(os.path.join(PREFIX, "include", "blockd"))
        self.assertIn(inc, [os.path.realpath(f[2:]) for f in cflags
                            if f.startswith("-I")])
        version = run([PKG_CONFIG, "--modversion", "blockd-plugin"], env)
        self.assertRegex(version.strip(), r"^\d+\.\d+\.\d+$")
        so = os.path.join(TMP, "libmylinear_pc.so")
        run([CC, "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"] + cflags
            + [EXAMPLE, "-o", so])
        self.check_plugin(so)


if __name__ == "__main__":
    unittest.main()
