"""Training parity on the test device (BLOCKD_TEST_DEVICE) against torch on
the matching device: with BLOCKD_TEST_DEVICE=cuda:0 and a CUDA-enabled torch
(the GPU device check), torch runs on CUDA tensors too; otherwise both run
on the CPU. Matmuls are fp32 on both sides (TF32 off).

- forward, cross-entropy backward and SGD (momentum, weight decay) steps
  give torch's losses and parameters within 1e-5 relative;
- a model moved between devices in the middle of training (parameters,
  gradients and momentum buffers travel) ends where torch ends;
- dropout masks come from the same Philox stream on every device: the same
  seed gives the same train-mode outputs on cpu and on the test device."""
import collections
import unittest

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blockd_testlib import Daemon, from_json, tensor_json, TEST_DEVICE

TORCH_DEV = (TEST_DEVICE if TEST_DEVICE.startswith("cuda") and
             torch.cuda.is_available() else "cpu")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def lin(i, o):
    return {"type": "linear", "in_features": i, "out_features": o}


def seq(*layers):
    return {"type": "sequential", "layers": list(layers)}


SPEC = seq(lin(20, 256), {"type": "relu"}, lin(256, 10))


def torch_mlp():
    return nn.Sequential(nn.Linear(20, 256), nn.ReLU(),
                         nn.Linear(256, 10)).to(TORCH_DEV)


class DeviceParity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def create(self, name, spec, device, seed=4):
        r = self.d.post("/v1/models", {"name": name, "seed": seed,
                                       "device": device, "block": spec})
        self.assertEqual(r.status_code, 201, r.text)

    def state(self, name):
        r = self.d.get("/v1/models/%s/state_dict" % name)
        self.assertEqual(r.status_code, 200, r.text)
        return {k: from_json(v) for k, v in r.json().items()}

    def load_into(self, name, net):
        net.load_state_dict(collections.OrderedDict(
            (k, torch.from_numpy(v).to(TORCH_DEV))
            for k, v in self.state(name).items()))

    def step_both(self, name, net, opt, x, t):
        for path in ("zero_grad",):
            self.assertEqual(self.d.post("/v1/models/%s/%s" % (name, path)).status_code, 200)
        r = self.d.post("/v1/models/%s/backward" % name,
                        {"inputs": tensor_json(x),
                         "loss": {"type": "cross_entropy",
                                  "target": tensor_json(t)}})
        self.assertEqual(r.status_code, 200, r.text)
        r2 = self.d.post("/v1/models/%s/step" % name,
                         {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
                          "weight_decay": 1e-3})
        self.assertEqual(r2.status_code, 200, r2.text)
        opt.zero_grad(set_to_none=True)
        L = F.cross_entropy(net(torch.from_numpy(x).to(TORCH_DEV)),
                            torch.from_numpy(t).to(TORCH_DEV))
        L.backward()
        opt.step()
        self.assertAlmostEqual(r.json()["loss"], float(L),
                               delta=1e-5 * max(1.0, abs(float(L))))

    def compare(self, name, net, what):
        got = self.state(name)
        for k, v in net.state_dict().items():
            want = v.detach().cpu().numpy()
            np.testing.assert_allclose(got[k], want, rtol=1e-5,
                                       atol=1e-6 * (1 + np.abs(want).max()),
                                       err_msg="%s: %s" % (what, k))

    def test_train_on_device(self):
        self.create("tr", SPEC, TEST_DEVICE)
        net = torch_mlp()
        self.load_into("tr", net)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9,
                              weight_decay=1e-3)
        rng = np.random.default_rng(5)
        for _ in range(3):
            x = rng.standard_normal((32, 20)).astype(np.float32)
            t = rng.integers(0, 10, 32).astype(np.int64)
            self.step_both("tr", net, opt, x, t)
        self.compare("tr", net, "3 steps on %s vs torch on %s" % (TEST_DEVICE, TORCH_DEV))
        x = rng.standard_normal((5, 20)).astype(np.float32)
        r = self.d.post("/v1/models/tr/forward", {"inputs": tensor_json(x)})
        self.assertEqual(r.status_code, 200, r.text)
        with torch.no_grad():
            want = net(torch.from_numpy(x).to(TORCH_DEV)).cpu().numpy()
        np.testing.assert_allclose(from_json(r.json()["outputs"]), want,
                                   rtol=1e-5, atol=1e-6)

    def test_move_mid_training(self):
        self.create("mv", SPEC, "cpu", seed=8)
        net = torch_mlp()
        self.load_into("mv", net)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9,
                              weight_decay=1e-3)
        rng = np.random.default_rng(6)
        for dev in (TEST_DEVICE, "cpu", TEST_DEVICE):
            x = rng.standard_normal((16, 20)).astype(np.float32)
            t = rng.integers(0, 10, 16).astype(np.int64)
            self.step_both("mv", net, opt, x, t)
            before = self.state("mv")
            r = self.d.patch("/v1/models/mv", {"device": dev})
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["device"], dev)
            after = self.state("mv")
            for k in before:  # moves are bit-exact
                np.testing.assert_array_equal(after[k], before[k], err_msg=k)
        self.compare("mv", net, "3 steps with moves")

    def test_dropout_masks_match_across_devices(self):
        spec = seq(lin(20, 64), {"type": "dropout", "p": 0.5}, lin(64, 8))
        self.create("dcpu", spec, "cpu", seed=12)
        self.create("ddev", spec, TEST_DEVICE, seed=12)
        x = np.random.default_rng(7).standard_normal((64, 20)).astype(np.float32)
        outs = []
        for name in ("dcpu", "ddev"):
            r = self.d.post("/v1/models/%s/forward" % name, {"inputs": tensor_json(x)})
            self.assertEqual(r.status_code, 200, r.text)
            outs.append(from_json(r.json()["outputs"]))
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
        # and dropout really was active: eval mode gives other outputs
        self.d.patch("/v1/models/dcpu", {"mode": "eval"})
        r = self.d.post("/v1/models/dcpu/forward", {"inputs": tensor_json(x)})
        self.assertGreater(np.abs(from_json(r.json()["outputs"]) - outs[0]).max(), 1e-3)


if __name__ == "__main__":
    unittest.main()
