"""The seed chapter's PyTorch blocks ("Layers and Modules", "Parameter
Management", "Custom Layers") and the same structures as blockd specs,
shared by the parity and HTTP tests, plus the helpers that copy a blockd
state_dict into a torch module.

The torch classes are the seed's, as written; their parameters are copied
from blockd's state_dict. Tests run under /usr/bin/python3, which sees
python3-torch (see blockd_testlib)."""
import collections

import torch
from torch import nn
from torch.nn import functional as F

from blockd_testlib import from_json, linear, relu, seq


# ---- the seed's classes, verbatim ---------------------------------------

class MLP(nn.Module):
    """The seed's MLP class: children hidden (Linear 20->256) and out."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.out = nn.Linear(256, 10)

    def forward(self, X):
        return self.out(F.relu(self.hidden(X)))


class MySequential(nn.Module):
    def __init__(self, *args):
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X):
        for block in self._modules.values():
            X = block(X)
        return X


class FixedHiddenMLP(nn.Module):
    """The seed's FixedHiddenMLP. Its constant rand_weight is a plain tensor
    attribute (not in torch's state_dict); tests set it from blockd's
    buffer."""

    def __init__(self):
        super().__init__()
        self.rand_weight = torch.rand((20, 20), requires_grad=False)
        self.linear = nn.Linear(20, 20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(torch.mm(X, self.rand_weight) + 1)
        X = self.linear(X)
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(),
                                 nn.Linear(64, 32), nn.ReLU())
        self.linear = nn.Linear(32, 16)

    def forward(self, X):
        return self.linear(self.net(X))


def block1():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                         nn.Linear(8, 4), nn.ReLU())


def block2():
    net = nn.Sequential()
    for i in range(4):
        net.add_module(f'block {i}', block1())
    return net


def shared_net():
    """The seed's tied net: one nn.Linear(8, 8) used at positions 2 and 4."""
    shared = nn.Linear(8, 8)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(),
                         shared, nn.ReLU(), nn.Linear(8, 1))


class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return X - X.mean()


class MyLinear(nn.Module):
    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight.data) + self.bias.data
        return F.relu(linear)


# ---- the same structures as blockd specs ----------------------------------

def fixed_hidden_spec(lin_id="lin", named=True, **kw):
    """FixedHiddenMLP as a spec. The linear layer has id lin_id and is used
    twice (the second time through a ref). With named=True the matmul
    buffer is "rand_weight" and the ref is named "linear", so blockd's keys
    are linear.*, rand_weight.weight; with named=False they keep their
    positions (1.weight, and 4.* for the ref)."""
    rand_weight = {"type": "matmul", "weight": {"shape": [20, 20],
                                                "init": "uniform"}}
    ref = {"ref": lin_id}
    if named:
        rand_weight["name"] = "rand_weight"
        ref["name"] = "linear"
    return seq(linear(20, 20, name="linear", id=lin_id), rand_weight,
               {"type": "add", "value": 1}, relu(), ref,
               {"type": "while", "cond": {"reduce": "abs_sum", "gt": 1},
                "body": {"type": "scale", "value": 0.5}, "max_iters": 1000},
               {"type": "sum"}, **kw)


def nest_mlp_spec(**kw):
    return seq(seq(linear(20, 64), relu(), linear(64, 32), relu(),
                   name="net"),
               linear(32, 16, name="linear"), **kw)


def block1_spec(**kw):
    return seq(linear(4, 8), relu(), linear(8, 4), relu(), **kw)


def block2_spec(**kw):
    return seq(*[block1_spec(name="block %d" % i) for i in range(4)], **kw)


def rgnet_spec():
    """d2l's rgnet: Sequential(block2(), Linear(4, 1)); block2 holds four
    block1() named "block 0".."block 3"."""
    return seq(block2_spec(), linear(4, 1))


def shared_spec():
    """shared_net() as a spec: the layer with id "shared" and a ref to it."""
    return seq(linear(4, 8), relu(), linear(8, 8, id="shared"), relu(),
               {"ref": "shared"}, relu(), linear(8, 1))


# ---- blockd state_dict -> torch -------------------------------------------

def blockd_state_dict(tc, d, name):
    """blockd's state_dict for model `name` as an OrderedDict of numpy
    arrays, in blockd's order; tc is the calling unittest.TestCase."""
    r = d.get("/v1/models/%s/state_dict" % name)
    tc.assertEqual(r.status_code, 200, r.text)
    return collections.OrderedDict(
        (k, from_json(v)) for k, v in r.json().items())


def load_into_torch(tc, d, name, net, skip_buffers=False):
    """Copies blockd's state_dict into net after checking that the keys
    and their order equal torch's (leaving out blockd's buffers and their
    aliases when skip_buffers). Returns blockd's state_dict as torch
    tensors."""
    sd = collections.OrderedDict(
        (k, torch.from_numpy(v))
        for k, v in blockd_state_dict(tc, d, name).items())
    keys = list(sd.keys())
    if skip_buffers:
        p = d.get("/v1/models/%s/parameters" % name).json()
        bufs = set()
        for b in p["buffers"]:
            bufs.add(b["name"])
            bufs.update(b["aliases"])
        keys = [k for k in keys if k not in bufs]
    tc.assertEqual(keys, list(net.state_dict().keys()))
    net.load_state_dict(collections.OrderedDict((k, sd[k]) for k in keys))
    return sd
