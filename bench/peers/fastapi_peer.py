"""fastapi_peer.py - the FastAPI + uvicorn + PyTorch peer of blockd for
bench/http_bench.py: POST /v1/models/{m}/forward in blockd's wire form, for
the two benchmark models, plus GET /v1/health.

  /usr/bin/python3 bench/peers/fastapi_peer.py [--port P] [--workers N]
                                               [--torch-threads T]

Models (built in every worker at start-up, seed 1, eval mode):
  mlp  the seed MLP: Linear(20, 256), ReLU, Linear(256, 10)
  big  Linear(1024, 4096), ReLU, Linear(4096, 4096), ReLU, Linear(4096, 1024)

Wire form, as blockd's:
  request  JSON {"inputs": [[...], ...]} (nested lists) or
           {"inputs": {"shape": [...], "data": [...]}}; or, with
           Content-Type: application/x-npy, the .npy of the inputs
  reply    JSON {"outputs": {"shape": [...], "dtype": "float32",
           "data": [[...]]}}; or, with Accept: application/x-npy, the .npy
           of the outputs

The configuration is the fastest reasonable one for many small requests on
a few cores, chosen so the comparison is against a well-set-up peer:
- uvicorn with `workers` = cores (default): one process per core, so the
  GIL does not serialize requests; uvloop and httptools when installed
  (Debian's python3-uvloop and python3-httptools, the bench dependency
  group), no access log.
- torch threads per worker = cores // workers (1 with the default), so the
  workers do not oversubscribe the cores: batch-1 forwards are far too small
  to gain from intra-op threads, and N workers x N threads only thrash.
- the handler is a plain `async def` that reads the raw body and calls
  json.loads / np.load itself (no pydantic model: validating a list of
  floats through pydantic costs more than the forward), computes inline on
  the event loop under torch.inference_mode() (a batch-1 forward takes
  microseconds; handing it to a thread pool costs more than it saves) and
  returns a prebuilt Response (no jsonable_encoder pass).

Prints "peer listening on http://127.0.0.1:PORT" once the port is chosen;
each worker, once its models exist, creates a file in $PEER_READY_DIR (when
set) so a caller can wait until every worker answers.
"""
import argparse
import io
import json
import os
import socket
import sys

import numpy as np
import torch
from fastapi import FastAPI, Request, Response
from torch import nn

app = FastAPI()
MODELS = {}
JSON_TYPE = "application/json"
NPY_TYPE = "application/x-npy"


def build_models():
    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
    big = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(),
                        nn.Linear(4096, 4096), nn.ReLU(),
                        nn.Linear(4096, 1024))
    return {"mlp": mlp.eval(), "big": big.eval()}


@app.on_event("startup")
def startup():
    threads = int(os.environ.get("PEER_TORCH_THREADS", "1"))
    torch.set_num_threads(threads)
    MODELS.update(build_models())
    ready = os.environ.get("PEER_READY_DIR")
    if ready:
        open(os.path.join(ready, "worker-%d" % os.getpid()), "w").close()


def error(status, code, message):
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type=JSON_TYPE)


@app.get("/v1/health")
async def health():
    return Response('{"status":"ok"}', media_type=JSON_TYPE)


@app.post("/v1/models/{name}/forward")
async def forward(name: str, request: Request):
    model = MODELS.get(name)
    if model is None:
        return error(404, "not_found", "no model '%s'" % name)
    body = await request.body()
    ctype = request.headers.get("content-type", JSON_TYPE)
    try:
        if ctype.startswith(NPY_TYPE):
            x = torch.from_numpy(np.load(io.BytesIO(body), allow_pickle=False))
        else:
            inputs = json.loads(body)["inputs"]
            if isinstance(inputs, dict):
                x = torch.tensor(inputs["data"], dtype=torch.float32)
                x = x.reshape(inputs["shape"])
            else:
                x = torch.tensor(inputs, dtype=torch.float32)
        with torch.inference_mode():
            y = model(x.to(torch.float32))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        return error(400, "invalid_argument", str(e))
    if NPY_TYPE in request.headers.get("accept", ""):
        buf = io.BytesIO()
        np.save(buf, y.numpy())
        return Response(buf.getvalue(), media_type=NPY_TYPE)
    out = {"outputs": {"shape": list(y.shape), "dtype": "float32",
                       "data": y.tolist()}}
    return Response(json.dumps(out, separators=(",", ":")),
                    media_type=JSON_TYPE)


def free_port():
    # uvicorn with several workers binds the port itself in the supervisor;
    # a port the kernel just handed out is free for it in practice.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    cores = os.cpu_count() or 1
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workers", type=int, default=cores)
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="per worker; default cores // workers, at least 1")
    args = ap.parse_args()
    threads = args.torch_threads or max(1, cores // args.workers)
    os.environ["PEER_TORCH_THREADS"] = str(threads)
    port = args.port or free_port()
    kw = {"log_level": "warning", "access_log": False}
    try:
        import uvloop  # noqa: F401
        kw["loop"] = "uvloop"
    except ImportError:
        kw["loop"] = "asyncio"
    try:
        import httptools  # noqa: F401
        kw["http"] = "httptools"
    except ImportError:
        kw["http"] = "h11"
    print("peer listening on http://127.0.0.1:%d (%d workers, %d torch "
          "threads each, loop %s, http %s)" % (port, args.workers, threads,
                                               kw["loop"], kw["http"]),
          flush=True)
    # Workers are started by import string; the spawned processes get this
    # directory on sys.path from the parent.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import uvicorn
    uvicorn.run("fastapi_peer:app", host="127.0.0.1", port=port,
                workers=args.workers, **kw)


if __name__ == "__main__":
    main()
