#!/usr/bin/python3
"""http_bench.py - blockd's HTTP serving benchmarks (issue 11), in one run:
blockd against the HTTP floor (bench/floor.c: libmicrohttpd in blockd's
mode answering a fixed body of the size of blockd's reply) and against a
FastAPI + uvicorn + PyTorch peer (bench/peers/fastapi_peer.py), all on
ephemeral ports on this machine, measured with wrk (bench/wrk/*.lua).

  /usr/bin/python3 bench/http_bench.py BUILD_DIR [--quick]
      [--scenarios a,b,c,d] [--repeat N] [--json-out FILE] [--perf FILE]

Scenarios (each wrk run: -t2, BENCH_HTTP_SECONDS seconds, default 10,
--quick 3):
  a  JSON batch-1 forward of the seed MLP (20-256-10), 32 and 64
     connections: floor, blockd, FastAPI.
  b  the same with .npy bodies (Content-Type and Accept application/x-npy).
  c  mixed load: a client keeps the big MLP (1024-4096-4096-1024) busy with
     batch-256 forwards while wrk measures /v1/health and the seed MLP's
     batch-1 forward at 32 connections (and /v1/health without the load).
  d  dynamic batching: the big MLP at batch 1 from 64 connections, batching
     off, then on (PATCH {"batching": {"max_batch": 64,
     "max_delay_us": 500}}).

--repeat N runs scenarios a and b N times, the three servers taking turns
within each round, and keeps each row's best-throughput run (every run's
requests/s goes in the row's "runs", in order): on a shared machine other
jobs only ever slow a run down, and taking turns spreads a burst of their
load over the servers instead of landing it on one. The ratios are those
of the best runs, followed by each round's own ratio. --perf FILE records
`perf record -g` of blockd during one more run of scenario a at 32
connections (not counted among the measured ones) and prints perf
report's top symbols.

A request the server does not take (a status other than 200 on a probe
before the run, or a PATCH refused) makes its row "n/a: <why>" instead of
failing the run: the serving core lands piece by piece.

Environment: BENCH_HTTP_SECONDS (run length), BENCH_HTTP_THREADS (HTTP
threads of blockd and the floor, default: cores, at least 2),
BENCH_WORKERS (blockd --workers, when blockd has that flag),
BENCH_PEER_WORKERS (uvicorn workers, default cores), BENCH_BATCH_MAX
and BENCH_BATCH_DELAY_US (scenario d's batching, default 64 and 500),
BLOCKD_BENCH_ARGS (more blockd flags, split on spaces).

Prints markdown tables (rows, then ratios against the issue's targets);
--json-out writes every row as JSON. Every server it starts is stopped on
exit, also on Ctrl-C.
"""
import argparse
import http.client
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_DIR = os.path.join(HERE, "wrk")
PY = "/usr/bin/python3"
NPY = "application/x-npy"

SEED_MLP = {"type": "sequential", "layers": [
    {"type": "linear", "in_features": 20, "out_features": 256},
    {"type": "relu"},
    {"type": "linear", "in_features": 256, "out_features": 10}]}
BIG_MLP = {"type": "sequential", "layers": [
    {"type": "linear", "in_features": 1024, "out_features": 4096},
    {"type": "relu"},
    {"type": "linear", "in_features": 4096, "out_features": 4096},
    {"type": "relu"},
    {"type": "linear", "in_features": 4096, "out_features": 1024}]}

# Targets from issue 11, section "Benchmarks".
TARGET_FLOOR = 0.75
TARGET_P99_MS = 3.0
TARGET_PEER = 25.0
TARGET_BATCHING = 10.0


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- processes --------------------------------------------------------

class Server:
    """A child process that prints "... http://127.0.0.1:PORT ..." on its
    first stdout line. It runs in its own process group (uvicorn's workers
    with it), which stop() signals."""

    def __init__(self, name, cmd, tmp, env=None, start_timeout=60):
        self.name = name
        self.errpath = os.path.join(tmp, name + ".stderr")
        self.err = open(self.errpath, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        log("starting %s: %s" % (name, " ".join(cmd)))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.err, env=full_env,
                                     start_new_session=True)
        line = b""
        deadline = time.monotonic() + start_timeout
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                c = os.read(self.proc.stdout.fileno(), 1)
                if not c:
                    break
                line += c
        m = re.search(rb"http://([0-9.]+):(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("%s did not start: %r\n%s" % (
                name, line, self.stderr_tail()))
        self.host, self.port = m.group(1).decode(), int(m.group(2))
        self.banner = line.decode().strip()
        self.base = "http://%s:%d" % (self.host, self.port)
        # Its later output is not read: drain it so a chatty child cannot
        # block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 65536):
                pass
        except OSError:
            pass

    def stderr_tail(self, n=2000):
        self.err.flush()
        with open(self.errpath, errors="replace") as f:
            return f.read()[-n:]

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        else:
            # The leader is gone; workers of its group may not be.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.err.close()


SERVERS = []


def cleanup(*_):
    while SERVERS:
        SERVERS.pop().stop()


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


# ---- HTTP helpers -------------------------------------------------------

def request(srv, method, path, body=None, headers=None, timeout=120):
    """One request on a fresh connection: (status, reply bytes)."""
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def post_json(srv, path, obj, method="POST"):
    return request(srv, method, path, json.dumps(obj).encode(),
                   {"Content-Type": "application/json"})


def why(status, reply):
    try:
        err = json.loads(reply)["error"]
        return "n/a: server answered %d %s" % (status, err.get("code", ""))
    except (ValueError, KeyError, TypeError):
        return "n/a: server answered %d" % status


def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def serving_stats(srv, model):
    """GET /v1/models/{model}'s "serving" counters, or None (an older
    blockd has none)."""
    try:
        st, rep = request(srv, "GET", "/v1/models/" + model)
        return json.loads(rep).get("serving") if st == 200 else None
    except (OSError, ValueError):
        return None


def blockd_help(binary):
    try:
        return subprocess.run([binary, "--help"], capture_output=True,
                              text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


# ---- wrk ----------------------------------------------------------------

class Bench:
    def __init__(self, args, tmp):
        self.seconds = args.seconds
        self.tmp = tmp
        self.rows = []
        self.perf = args.perf
        self.perf_target = None  # (scenario, server, conns) to profile

    def start_perf(self, srv):
        """perf record -g of srv's process, or None where perf is missing
        or not permitted (said on stderr)."""
        if not shutil.which("perf"):
            log("  perf: not installed")
            return None
        p = subprocess.Popen(["perf", "record", "-g", "-q", "-o", self.perf,
                              "-p", str(srv.proc.pid)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        if p.poll() is not None:
            log("  perf record failed (rc %d): %s" % (p.returncode,
                                                     p.stderr.read()[-500:]))
            return None
        return p

    def stop_perf(self, p):
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return
        out = subprocess.run(
            ["perf", "report", "-i", self.perf, "--no-children", "--stdio",
             "--sort", "dso,symbol", "-g", "none", "--percent-limit",
             "0.5"],
            capture_output=True, text=True, timeout=300)
        # Rows of "overhead dso [.] symbol", less the empty call-graph
        # columns -g none leaves at the end.
        top = [re.sub(r"(\s+-)+\s*$", "", l).rstrip()
               for l in out.stdout.splitlines()
               if l.strip() and not l.startswith("#")][:20]
        self.perf_report = "\n".join(top) or (err + out.stderr)[-1000:]

    def wrk(self, srv, path, script, conns, body_file=None):
        """Run wrk; its JSON report, or raises."""
        env = dict(os.environ)
        if body_file:
            env["BODY_FILE"] = body_file
        cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % self.seconds,
               "--timeout", "10s", "-s", os.path.join(WRK_DIR, script),
               srv.base + path]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env,
                             timeout=self.seconds + 60)
        for line in out.stdout.splitlines():
            if line.startswith("WRK_JSON "):
                return json.loads(line[len("WRK_JSON "):])
        raise RuntimeError("wrk printed no report (rc %d): %s %s" % (
            out.returncode, out.stdout[-500:], out.stderr[-500:]))

    def run(self, scenario, label, srv, conns, path, script, body=None,
            headers=None, body_file=None, note=""):
        """Probe once, then run wrk: one row (dict) in self.rows."""
        row = {"scenario": scenario, "server": label, "conns": conns,
               "path": path, "note": note}
        self.rows.append(row)
        if srv is None:
            row["na"] = "n/a: server did not start"
            return row
        method = "GET" if script == "get.lua" else "POST"
        try:
            status, reply = request(srv, method, path, body, headers)
        except OSError as e:
            row["na"] = "n/a: %s" % e
            return row
        if status != 200:
            row["na"] = why(status, reply)
            log("  %s %s %s: %s" % (scenario, label, path, row["na"]))
            return row
        perf = None
        if self.perf and (scenario, label, conns) == self.perf_target:
            perf = self.start_perf(srv)
            self.perf_target = None  # once
        try:
            r = self.wrk(srv, path, script, conns, body_file)
        finally:
            if perf:
                self.stop_perf(perf)
        row.update(r)
        bad = sum(r["errors"].values())
        if r["errors"]["status"]:
            row["note"] = (note + " " if note else "") + \
                "%d non-2xx replies" % r["errors"]["status"]
        elif bad:
            row["note"] = (note + " " if note else "") + \
                "%d socket errors/timeouts" % bad
        log("  %s %-8s c=%-3d %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms %s" % (
            scenario, label, conns, r["rps"], r["p50_us"] / 1e3,
            r["p99_us"] / 1e3, row["note"]))
        return row


# ---- scenarios ------------------------------------------------------------

class Loader(threading.Thread):
    """Scenario c's background client: batch-256 forwards of the big MLP,
    one after another on one keep-alive connection, replies read and
    dropped, until stopped."""

    def __init__(self, srv, body, headers):
        super().__init__(daemon=True)
        self.srv, self.body, self.headers = srv, body, headers
        self.stop_ev = threading.Event()
        self.done = 0
        self.failed = None

    def run(self):
        c = http.client.HTTPConnection(self.srv.host, self.srv.port,
                                       timeout=300)
        try:
            while not self.stop_ev.is_set():
                c.request("POST", "/v1/models/big/forward", body=self.body,
                          headers=self.headers)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    self.failed = "big forward answered %d" % r.status
                    return
                self.done += 1
        except OSError as e:
            self.failed = str(e)
        finally:
            c.close()


def merge_repeats(rows):
    """One row per (scenario, server, conns): the best-throughput run of
    those repeated, with every run's requests/s in "runs"."""
    groups, order = {}, []
    for r in rows:
        k = (r["scenario"], r["server"], r["conns"])
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)
    out = []
    for k in order:
        g = groups[k]
        ok = sorted((r for r in g if "na" not in r), key=lambda r: r["rps"])
        if not ok:
            out.append(g[0])
            continue
        best = dict(ok[-1])
        if len(g) > 1:
            # In the order they ran: round i of one server pairs with
            # round i of another (ratio_table's per-round ratios).
            best["runs"] = [round(r["rps"]) if "na" not in r else None
                            for r in g]
            if len(ok) < len(g):
                best["note"] = (best["note"] + ", " if best["note"] else "") \
                    + "%d of %d runs n/a" % (len(g) - len(ok), len(g))
        out.append(best)
    return out


def fmt_ms(us):
    return "%.2f" % (us / 1e3)


def table(rows):
    out = ["| scenario | server | conns | req/s | p50 ms | p99 ms | "
           "p99.9 ms | note |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "na" in r:
            out.append("| %s | %s | %d | %s | | | | %s |" % (
                r["scenario"], r["server"], r["conns"], r["na"], r["note"]))
        else:
            note = r["note"]
            if "runs" in r:
                note = (note + ", " if note else "") + "runs " + \
                    "/".join("n/a" if x is None else str(x)
                             for x in r["runs"])
            out.append("| %s | %s | %d | %.0f | %s | %s | %s | %s |" % (
                r["scenario"], r["server"], r["conns"], r["rps"],
                fmt_ms(r["p50_us"]), fmt_ms(r["p99_us"]),
                fmt_ms(r["p999_us"]), note))
    return "\n".join(out)


def find(rows, scenario, server, conns):
    for r in rows:
        if (r["scenario"], r["server"], r["conns"]) == (scenario, server,
                                                        conns):
            return r
    return None


def ratio(a, b):
    if not a or not b or "na" in a or "na" in b or not b["rps"]:
        return None
    return a["rps"] / b["rps"]


def round_ratios(a, b):
    """blockd/other per round, where both ran every round: a line like
    " (rounds 0.41/0.38/0.45)", else ""."""
    ra, rb = (a or {}).get("runs"), (b or {}).get("runs")
    if not ra or not rb or len(ra) != len(rb) or None in ra + rb:
        return ""
    return " (rounds %s)" % "/".join("%.2f" % (x / y) for x, y in zip(ra, rb))


def verdict(value, target, higher=True):
    if value is None:
        return "n/a"
    ok = value >= target if higher else value < target
    return "met" if ok else "missed"


def ratio_table(rows):
    out = ["| scenario | conns | blockd/floor req/s | blockd/FastAPI req/s |"
           " blockd p99 ms | targets (>= %.2fx floor, >= %.0fx FastAPI, "
           "p99 < %.0f ms at 32) |" % (TARGET_FLOOR, TARGET_PEER,
                                         TARGET_P99_MS),
           "|---|---:|---:|---:|---:|---|"]
    for sc in ("a-json", "b-npy"):
        for conns in (32, 64):
            bd = find(rows, sc, "blockd", conns)
            if bd is None:
                continue
            fl = find(rows, sc, "floor", conns)
            pe = find(rows, sc, "fastapi", conns)
            rf, rp = ratio(bd, fl), ratio(bd, pe)
            p99 = None if "na" in bd else bd["p99_us"] / 1e3
            checks = ["floor %s" % verdict(rf, TARGET_FLOOR),
                      "FastAPI %s" % verdict(rp, TARGET_PEER)]
            if conns == 32:
                checks.append("p99 %s" % verdict(p99, TARGET_P99_MS, False))
            out.append("| %s | %d | %s | %s | %s | %s |" % (
                sc, conns,
                "n/a" if rf is None else "%.2fx%s" % (rf,
                                                     round_ratios(bd, fl)),
                "n/a" if rp is None else "%.1fx%s" % (rp,
                                                     round_ratios(bd, pe)),
                "n/a" if p99 is None else "%.2f" % p99, ", ".join(checks)))
    off = find(rows, "d-batching", "blockd-off", 64)
    on = find(rows, "d-batching", "blockd-on", 64)
    if off or on:
        rb = ratio(on, off)
        out.append("")
        out.append("dynamic batching (big MLP, batch 1, 64 connections): "
                   "on/off = %s (target >= %.0fx: %s)" % (
                       "n/a" if rb is None else "%.2fx" % rb,
                       TARGET_BATCHING, verdict(rb, TARGET_BATCHING)))
    idle = find(rows, "c-mixed", "blockd-health-idle", 32)
    busy = find(rows, "c-mixed", "blockd-health", 32)
    seed = find(rows, "c-mixed", "blockd-mlp", 32)
    seed_idle = find(rows, "a-json", "blockd", 32)
    if busy or seed:
        def p99(r):
            return "n/a" if not r or "na" in r else "%.2f ms" % (
                r["p99_us"] / 1e3)
        out.append("")
        out.append("mixed load (big MLP busy at batch 256): /v1/health p99 "
                   "%s (idle %s); seed MLP batch-1 p99 %s (idle %s)" % (
                       p99(busy), p99(idle), p99(seed), p99(seed_idle)))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--scenarios", default="a,b,c,d")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json-out")
    ap.add_argument("--perf", metavar="FILE",
                    help="perf record -g blockd during a-json at 32 conns")
    args = ap.parse_args()
    args.seconds = int(os.environ.get("BENCH_HTTP_SECONDS",
                                      "3" if args.quick else "10"))
    scen = set(args.scenarios.split(","))
    if not shutil.which("wrk"):
        sys.exit("http_bench: wrk is not installed (apt-get install wrk, or "
                 "scripts/install-deps.sh --bench)")
    cores = os.cpu_count() or 2
    threads = int(os.environ.get("BENCH_HTTP_THREADS", max(2, cores)))
    blockd_bin = os.path.join(args.build, "blockd")
    floor_bin = os.path.join(args.build, "bench", "floor")
    for b in (blockd_bin, floor_bin):
        if not os.access(b, os.X_OK):
            sys.exit("http_bench: %s is missing (make build)" % b)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    tmp = tempfile.mkdtemp(prefix="blockd-httpbench-")
    try:
        return run_all(args, scen, tmp, cores, threads, blockd_bin,
                       floor_bin)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(args, scen, tmp, cores, threads, blockd_bin, floor_bin):
    bench = Bench(args, tmp)
    # The README's example input: 0.1 .. 1, -0.1 .. -1.
    vals = [round(0.1 * i, 1) for i in range(1, 11)]
    vals += [-v for v in vals]
    x1 = np.array([vals], dtype=np.float32)
    seed_json = json.dumps({"inputs": [vals]},
                           separators=(",", ":")).encode()
    seed_npy = npy_bytes(x1)
    rng = np.random.default_rng(0)
    big1 = rng.standard_normal((1, 1024), dtype=np.float32)
    big256 = rng.standard_normal((256, 1024), dtype=np.float32)
    files = {}
    for name, data in (("seed.json", seed_json), ("seed.npy", seed_npy),
                       ("big1.json", json.dumps({"inputs": big1.tolist()})
                        .encode()),
                       ("big1.npy", npy_bytes(big1))):
        files[name] = os.path.join(tmp, name)
        with open(files[name], "wb") as f:
            f.write(data)
    jh = {"Content-Type": "application/json"}
    nh = {"Content-Type": NPY, "Accept": NPY}

    # blockd: the bench's connections are all from 127.0.0.1, so the
    # per-address limit (default 64) is raised above what wrk opens.
    help_text = blockd_help(blockd_bin)
    cmd = [blockd_bin, "--listen", "127.0.0.1:0", "--data-dir",
           os.path.join(tmp, "data"), "--log-level", "warn",
           "--threads", str(threads), "--max-connections", "1000",
           "--max-connections-per-ip", "512"]
    if "--workers" in help_text and os.environ.get("BENCH_WORKERS"):
        cmd += ["--workers", os.environ["BENCH_WORKERS"]]
    cmd += os.environ.get("BLOCKD_BENCH_ARGS", "").split()
    blockd_cmd = cmd
    blockd = Server("blockd", cmd, tmp)
    SERVERS.append(blockd)
    for name, spec, seed in (("mlp", SEED_MLP, 1), ("big", BIG_MLP, 2)):
        st, rep = post_json(blockd, "/v1/models", {
            "name": name, "seed": seed, "device": "cpu", "block": spec})
        if st != 201:
            raise RuntimeError("creating %s answered %d: %s" % (
                name, st, rep[:300]))

    # The floor answers with blockd's own batch-1 replies (JSON, and .npy
    # when blockd has it; otherwise the .npy numpy writes for a 1 x 10
    # float32 output, which is what a .npy reply holds).
    st, reply = request(blockd, "POST", "/v1/models/mlp/forward", seed_json,
                        jh)
    if st != 200:
        raise RuntimeError("blockd's JSON forward answered %d: %s" % (
            st, reply[:300]))
    st, npy_reply = request(blockd, "POST", "/v1/models/mlp/forward",
                            seed_npy, nh)
    if st != 200 or not npy_reply.startswith(b"\x93NUMPY"):
        npy_reply = npy_bytes(np.zeros((1, 10), dtype=np.float32))
    for name, data in (("floor.json", reply), ("floor.npy", npy_reply)):
        files[name] = os.path.join(tmp, name)
        with open(files[name], "wb") as f:
            f.write(data)
    floor = Server("floor", [floor_bin, "--threads", str(threads),
                             "--body", files["floor.json"], "--npy-body",
                             files["floor.npy"]], tmp)
    SERVERS.append(floor)

    peer = None
    if scen & {"a", "b"}:
        ready = os.path.join(tmp, "peer-ready")
        os.mkdir(ready)
        pworkers = int(os.environ.get("BENCH_PEER_WORKERS", cores))
        try:
            peer = Server("fastapi", [PY, "-u", os.path.join(
                HERE, "peers", "fastapi_peer.py"), "--workers",
                str(pworkers)], tmp, env={"PEER_READY_DIR": ready})
            SERVERS.append(peer)
            deadline = time.monotonic() + 180
            # Every worker has built its models, and the port answers (a
            # single uvicorn worker binds it only after start-up).
            while True:
                if time.monotonic() > deadline or peer.proc.poll() is not None:
                    raise RuntimeError("FastAPI peer workers did not start:\n"
                                       + peer.stderr_tail())
                if len(os.listdir(ready)) >= pworkers:
                    try:
                        if request(peer, "GET", "/v1/health")[0] == 200:
                            break
                    except OSError:
                        pass
                time.sleep(0.2)
        except RuntimeError as e:
            log("FastAPI peer: %s" % e)
            peer = None

    log("blockd: %s" % blockd.banner)
    log("floor:  %s" % floor.banner)
    if peer:
        log("peer:   %s" % peer.banner)
    log("wrk -t2, %d s per run, %d HTTP threads (blockd and floor), "
        "%d cores" % (args.seconds, threads, cores))

    fwd = "/v1/models/mlp/forward"
    for sc, key, script, body, hdr, bfile in (
            ("a-json", "a", "forward_json.lua", seed_json, jh,
             files["seed.json"]),
            ("b-npy", "b", "forward_npy.lua", seed_npy, nh,
             files["seed.npy"])):
        if key not in scen:
            continue
        for _ in range(max(1, args.repeat)):
            for conns in (32, 64):
                for label, srv in (("floor", floor), ("blockd", blockd),
                                   ("fastapi", peer)):
                    bench.run(sc, label, srv, conns, fwd, script, body, hdr,
                              bfile)
        if sc == "a-json" and args.perf:
            # A run of its own: perf's sampling slows blockd down, so the
            # profiled run is not one of the measured ones.
            bench.perf_target = ("a-json-perf", "blockd", 32)
            bench.run("a-json-perf", "blockd", blockd, 32, fwd, script, body,
                      hdr, bfile)
            bench.rows.pop()

    if "c" in scen:
        bench.run("c-mixed", "blockd-health-idle", blockd, 32, "/v1/health",
                  "get.lua")
        # The load's body: .npy when blockd takes it (a JSON batch of 256 x
        # 1024 would mostly measure JSON), else JSON.
        big256_npy = npy_bytes(big256)
        st, _ = request(blockd, "POST", "/v1/models/big/forward",
                        big256_npy, nh)
        if st == 200:
            lbody, lhdr, lnote = big256_npy, nh, "load: .npy"
        else:
            lbody = json.dumps({"inputs": big256.tolist()}).encode()
            lhdr, lnote = jh, "load: JSON"
        loader = Loader(blockd, lbody, lhdr)
        loader.start()
        t0 = time.monotonic()
        # The load is on once its first forward is in flight.
        time.sleep(0.2)
        bench.run("c-mixed", "blockd-health", blockd, 32, "/v1/health",
                  "get.lua", note=lnote)
        bench.run("c-mixed", "blockd-mlp", blockd, 32, fwd,
                  "forward_json.lua", seed_json, jh, files["seed.json"],
                  note=lnote)
        loader.stop_ev.set()
        loader.join(timeout=300)
        rate = loader.done / (time.monotonic() - t0)
        log("  c load: %d big-MLP batch-256 forwards (%.2f/s)%s" % (
            loader.done, rate, "; failed: " + loader.failed
            if loader.failed else ""))
        for r in bench.rows:
            if r["scenario"] == "c-mixed" and r["server"] != \
                    "blockd-health-idle":
                r["note"] = (r["note"] + ", " if r["note"] else "") + \
                    "%.2f big forwards/s%s" % (
                        rate, " (load failed: %s)" % loader.failed
                        if loader.failed else "")

    if "d" in scen:
        st, _ = request(blockd, "POST", "/v1/models/big/forward",
                        npy_bytes(big1), nh)
        if st == 200:
            script, body, hdr, bfile, note = ("forward_npy.lua",
                                              npy_bytes(big1), nh,
                                              files["big1.npy"], ".npy")
        else:
            script, body, hdr, bfile, note = ("forward_json.lua",
                                              open(files["big1.json"],
                                                   "rb").read(), jh,
                                              files["big1.json"], "JSON")
        path = "/v1/models/big/forward"
        # Off explicitly where blockd knows "batching"; off is the default
        # anyway, so a refused PATCH leaves the first run valid.
        post_json(blockd, "/v1/models/big",
                  {"batching": {"max_batch": 1}}, "PATCH")
        bench.run("d-batching", "blockd-off", blockd, 64, path, script, body,
                  hdr, bfile, note)
        mb = int(os.environ.get("BENCH_BATCH_MAX", "64"))
        md = int(os.environ.get("BENCH_BATCH_DELAY_US", "500"))
        st, rep = post_json(blockd, "/v1/models/big", {
            "batching": {"max_batch": mb, "max_delay_us": md}}, "PATCH")
        if st // 100 == 2:
            before = serving_stats(blockd, "big")
            row = bench.run("d-batching", "blockd-on", blockd, 64, path,
                            script, body, hdr, bfile,
                            "%s, max_batch %d, max_delay_us %d" % (note, mb,
                                                                   md))
            after = serving_stats(blockd, "big")
            # What batching achieved during the run: requests per batch
            # from the counters' difference, and the largest batch so far.
            if before and after and "na" not in row:
                n = after.get("inferences", 0) - before.get("inferences", 0)
                b = after.get("batches", 0) - before.get("batches", 0)
                if b > 0:
                    row["note"] += ", mean batch %.1f, max_batch_rows %d" % (
                        n / b, after.get("max_batch_rows", 0))
        else:
            bench.rows.append({"scenario": "d-batching",
                               "server": "blockd-on", "conns": 64,
                               "path": path, "note": note,
                               "na": why(st, rep).replace(
                                   "server answered", "PATCH answered")})

    rows = merge_repeats(bench.rows)
    print()
    print("HTTP benchmark: wrk -t2, %d s per run%s; blockd and floor with %d "
          "HTTP threads; %d cores" % (
              args.seconds, ", best of %d rounds (a, b)" % args.repeat
              if args.repeat > 1 else "", threads, cores))
    print("blockd command: %s" % " ".join(blockd_cmd).replace(tmp, "$TMP"))
    print()
    print(table(rows))
    print()
    print(ratio_table(rows))
    if getattr(bench, "perf_report", None):
        print()
        print("perf record -g of blockd during a-json at 32 connections "
              "(%s), top symbols (self time):" % args.perf)
        print("```")
        print(bench.perf_report)
        print("```")
    if args.json_out:
        with open(args.json_out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
