"""torch.save / torch.load of the same state_dict as bench_checkpoint.c
(16 x Linear(4096, 4096) by default), with an fsync after the save so it
is comparable with blockd's durable writes. Load includes load_state_dict
into the module (blockd's load copies into the model too). JSON lines.
  bench_checkpoint_torch.py DIR [--layers N] [--dim D] [--reps R]"""
import argparse
import json
import os
import time

import torch
from torch import nn

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--layers", type=int, default=16)
ap.add_argument("--dim", type=int, default=4096)
ap.add_argument("--reps", type=int, default=2)
a = ap.parse_args()
torch.manual_seed(0)
with torch.no_grad():
    net = nn.Sequential(*[nn.Linear(a.dim, a.dim) for _ in range(a.layers)])
sd = net.state_dict()
nbytes = sum(t.numel() * t.element_size() for t in sd.values())
path = os.path.join(a.dir, "torch.pt")
best_s = best_l = 1e30
for _ in range(a.reps):
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        torch.save(sd, f)
        f.flush()
        os.fsync(f.fileno())
    best_s = min(best_s, time.perf_counter() - t0)
    t0 = time.perf_counter()
    net.load_state_dict(torch.load(path))
    best_l = min(best_l, time.perf_counter() - t0)
os.unlink(path)
for case, s in (("torch_save_fsync", best_s), ("torch_load", best_l)):
    print(json.dumps({"case": case, "bytes": nbytes, "seconds": round(s, 4)}))
