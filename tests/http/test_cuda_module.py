"""One binary for CPU and GPU hosts (issue 14): the daemon links no CUDA
library; the CUDA backend is libblockd-cuda.so, loaded at start-up when it
is there and accepted (module ABI checked both ways). Without it, or with
a module that is refused, blockd serves CPU-only and says why in the log
and in GET /v1/devices; --device cuda then exits with that reason."""
import os
import subprocess
import unittest

from blockd_testlib import BLOCKD_BIN, BUILD_DIR, Daemon

MODULE = os.path.join(BUILD_DIR, "libblockd-cuda.so")
CUDA_LIBS = ("libcuda.", "libcudart", "libcublas", "libcublasLt")


def ldd(path):
    return subprocess.run(["ldd", path], capture_output=True, text=True,
                          check=True).stdout


def devices(module):
    d = Daemon(env={"BLOCKD_CUDA_MODULE": module})
    try:
        return d.get("/v1/devices").json()
    finally:
        d.stop()


class CudaModule(unittest.TestCase):
    def test_daemon_links_no_cuda(self):
        out = ldd(BLOCKD_BIN)
        for lib in CUDA_LIBS:
            self.assertNotIn(lib, out)

    def test_disabled_and_missing(self):
        j = devices("none")
        self.assertFalse(j["cuda_compiled"])
        self.assertEqual(j["cuda_device_count"], 0)
        self.assertIn("disabled", j["cuda_status"])
        self.assertEqual([x["type"] for x in j["devices"]], ["cpu"])
        j = devices("/nonexistent/libblockd-cuda.so")
        self.assertFalse(j["cuda_compiled"])
        self.assertIn("/nonexistent/libblockd-cuda.so not found",
                      j["cuda_status"])
        p = subprocess.run(
            [BLOCKD_BIN, "--device", "cuda", "--listen", "127.0.0.1:0",
             "--data-dir", os.path.join(BUILD_DIR, "cuda-module-test")],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ,
                     BLOCKD_CUDA_MODULE="/nonexistent/libblockd-cuda.so"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--device: device 'cuda' does not exist", p.stderr)
        self.assertIn("not found", p.stderr)

    def test_refused_modules(self):
        for name, why in (
                ("wrong_abi", "built for module ABI version 101, this "
                              "blockd speaks version 1"),
                ("no_symbol", "exports no blockd_cuda_module"),
                ("refuses", "refused this blockd: fake module refuses "
                            "host ABI 1")):
            with self.subTest(name):
                path = os.path.join(BUILD_DIR, "libfake_cuda_%s.so" % name)
                j = devices(path)
                self.assertFalse(j["cuda_compiled"])
                self.assertIn(why, j["cuda_status"])
                self.assertEqual([x["type"] for x in j["devices"]], ["cpu"])

    @unittest.skipUnless(os.path.exists(MODULE),
                         "built without the CUDA toolkit (no module)")
    def test_real_module(self):
        out = ldd(MODULE)
        self.assertIn("libcublas", out)
        # Named explicitly, it loads even without a driver (and finds no
        # device there).
        j = devices(MODULE)
        self.assertTrue(j["cuda_compiled"], j)
        self.assertIn("libblockd-cuda.so", j["cuda_status"])
        n = j["cuda_device_count"]
        self.assertIn(": %d CUDA device" % n, j["cuda_status"])
        self.assertEqual(len(j["devices"]), 1 + n)

    def test_auto_search_needs_a_driver(self):
        import ctypes
        try:
            ctypes.CDLL("libcuda.so.1")
            driver = True
        except OSError:
            driver = False
        d = Daemon()
        try:
            j = d.get("/v1/devices").json()
        finally:
            d.stop()
        if driver and os.path.exists(MODULE):
            # A GPU host: the module next to the daemon is found.
            self.assertTrue(j["cuda_compiled"], j)
            self.assertIn("libblockd-cuda.so", j["cuda_status"])
        else:
            # A CPU host: nothing CUDA is mapped (no cuBLAS in memory).
            self.assertFalse(j["cuda_compiled"], j)
            if not driver:
                self.assertIn("no GPU driver", j["cuda_status"])


if __name__ == "__main__":
    unittest.main()
