"""Crash consistency (issue 13, "Proof"): blockd is killed with SIGKILL at
random moments while client threads save models (POST .../save, PUT
.../state_dict), edit parameters, create and delete models and write and
delete files; after each kill it restarts on the same data dir and the
test checks, against its own record of every acknowledged (2xx) request:

- every acknowledged write is there: each model that should exist does,
  with exactly the weights of its last acknowledged save (each tensor set
  to a known pattern, compared element by element), each file with exactly
  the bytes last acknowledged;
- nothing else is: no model or file that no acknowledged request created,
  no deleted one back, no weights other than the saved ones. The single
  request each client had in flight when the daemon died may have landed
  or not (either its old or its new state is accepted for the object it
  touched, nothing else); every other request either was acknowledged or
  was never sent;
- the model list keeps creation order;
- no temporary file (atomic_file.c names them .NAME.tmp.<16 hex>) is left
  anywhere in the data dir once the restarted daemon has swept it, every
  model directory holds exactly spec.json and state.safetensors of a
  listed model, and every file in data-dir/files loads (GET parses it).

Parameter edits (PUT .../parameters/{p}) are in memory until the next save
(README, Persistence): they are tracked as the model's in-memory state,
which a later acknowledged save makes the expected on-disk state.

CRASH_KILLS (default 60) kills; the delays are drawn from a seeded RNG
(CRASH_SEED, default 13; the seed is printed). Small models, so a run takes
about a minute on 2 cores. No assertion depends on timing."""
import http.client
import json
import os
import random
import re
import shutil
import struct
import tempfile
import threading
import time
import unittest

import numpy as np

from blockd_testlib import Daemon, from_json, linear, relu, seq

KILLS = int(os.environ.get("CRASH_KILLS", "60"))
SEED = int(os.environ.get("CRASH_SEED", "13"))
CLIENTS = 2
MODELS_PER_CLIENT = 3
FILES_PER_CLIENT = 2
SPEC = seq(linear(16, 16), relu(), linear(16, 8))
SHAPES = {"0.weight": (16, 16), "0.bias": (16,), "2.weight": (8, 16),
          "2.bias": (8,)}
INIT_SEED = 7
# What atomic_file.c names its temporary files (and older daemons did):
# .NAME.tmp.<16 hex> (.NAME.tmp.<pid>.<n> before).
TEMP_RE = re.compile(r"^\..+\.tmp\.([0-9a-f]{16}|[0-9]+\.[0-9]+)$")


def pattern(version, path):
    """A tensor no other write produces: version and path in every value,
    all exact in float32."""
    shape = SHAPES[path]
    n = int(np.prod(shape))
    k = sorted(SHAPES).index(path)
    return (np.float32(version * 8 + k) +
            np.arange(n, dtype=np.float32) / 64).reshape(shape)


def tensor_body(a):
    return {"shape": list(a.shape), "dtype": "float32",
            "data": a.reshape(-1).tolist()}


def safetensors_bytes(version):
    """A one-tensor safetensors file with version in its values."""
    a = (np.arange(6, dtype=np.float32) + np.float32(version)).astype("<f4")
    header = json.dumps({"x": {"dtype": "F32", "shape": [6],
                               "data_offsets": [0, a.nbytes]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + a.tobytes()


def same_state(a, b):
    return a.keys() == b.keys() and all(
        np.array_equal(a[k], b[k]) for k in a)


class Killed(Exception):
    """The daemon died under this request: it is the one in flight."""


class Client(threading.Thread):
    """Issues mutations on its own models and files (no other client
    touches them, so an acknowledged request's effect is known) until a
    request fails because the daemon died."""

    def __init__(self, idx, world, rnd, port, failures, killed):
        super().__init__(daemon=True)
        self.killed = killed  # set just before the SIGKILL
        self.idx = idx
        self.w = world  # shared expected state, this client's keys only
        self.rnd = rnd
        self.port = port
        self.failures = failures
        self.inflight = None  # (kind, key, candidate states)
        self.acked = 0
        self.acked_by_kind = {}

    def call(self, method, path, body=None, ctype="application/json",
             accept=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        headers = {"Content-Type": ctype} if body is not None else {}
        if accept:
            headers["Accept"] = accept
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            # Only the kill may break a connection: a reset while the
            # daemon runs is a failure.
            if not self.killed.is_set():
                raise AssertionError("%s %s: %r before the kill" %
                                     (method, path, e))
            raise Killed(str(e))
        if not 200 <= r.status < 300:
            raise AssertionError("%s %s -> %d %s" % (method, path, r.status,
                                                     data[:300]))
        return data

    def ack(self, kind):
        self.acked += 1
        self.acked_by_kind[kind] = self.acked_by_kind.get(kind, 0) + 1

    def run(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=120)
        try:
            while True:
                self.step()
        except Killed:
            pass
        except Exception as e:  # a wrong answer: the test fails
            self.failures.append("client %d: %r" % (self.idx, e))
        finally:
            self.conn.close()

    def step(self):
        w, rnd = self.w, self.rnd
        models = ["c%d-m%d" % (self.idx, i) for i in range(MODELS_PER_CLIENT)]
        files = ["c%d-f%d.safetensors" % (self.idx, i)
                 for i in range(FILES_PER_CLIENT)]
        live = [m for m in models if w.disk[m] is not None]
        gone = [m for m in models if w.disk[m] is None]
        op = rnd.choices(["create", "delete", "param", "save", "state",
                          "fput", "fdel"],
                         weights=[12, 6, 25, 20, 15, 14, 8])[0]
        if op == "create" or not live:
            if not gone:
                op = "delete"
            else:
                m = rnd.choice(gone)
                self.inflight = ("create", m, [None, w.init])
                sent = w.tick()
                w.created[m] = (sent, None)
                self.call("POST", "/v1/models",
                          {"name": m, "seed": INIT_SEED, "block": SPEC,
                           "device": "cpu"})
                w.disk[m] = w.mem[m] = dict(w.init)
                w.created[m] = (sent, w.tick())
                self.ack("create")
                return
        if op == "delete":
            m = rnd.choice(live)
            self.inflight = ("delete", m, [w.disk[m], None])
            self.call("DELETE", "/v1/models/" + m)
            w.disk[m] = w.mem[m] = None
            self.ack("delete")
        elif op == "param":
            m = rnd.choice(live)
            p = rnd.choice(sorted(SHAPES))
            v = w.next_version()
            a = pattern(v, p)
            # In memory only: the disk state stays what it was.
            self.inflight = ("param", m, [w.disk[m]])
            self.call("PUT", "/v1/models/%s/parameters/%s" % (m, p),
                      tensor_body(a))
            w.mem[m] = dict(w.mem[m], **{p: a})
            self.ack("param")
        elif op == "save":
            m = rnd.choice(live)
            self.inflight = ("save", m, [w.disk[m], w.mem[m]])
            self.call("POST", "/v1/models/%s/save" % m, {})
            w.disk[m] = w.mem[m]
            self.ack("save")
        elif op == "state":
            m = rnd.choice(live)
            v = w.next_version()
            new = {p: pattern(v, p) for p in SHAPES}
            self.inflight = ("state_dict", m, [w.disk[m], new])
            self.call("PUT", "/v1/models/%s/state_dict" % m,
                      {p: tensor_body(a) for p, a in new.items()})
            w.disk[m] = w.mem[m] = new
            self.ack("state_dict")
        elif op == "fput":
            f = rnd.choice(files)
            data = safetensors_bytes(w.next_version())
            self.inflight = ("file_put", f, [w.files[f], data])
            self.call("PUT", "/v1/files/" + f, data,
                      ctype="application/octet-stream")
            w.files[f] = data
            self.ack("file_put")
        else:
            present = [f for f in files if w.files[f] is not None]
            if not present:
                return
            f = rnd.choice(present)
            self.inflight = ("file_delete", f, [w.files[f], None])
            self.call("DELETE", "/v1/files/" + f)
            w.files[f] = None
            self.ack("file_delete")
        self.inflight = None


class World:
    """The expected state: per model the weights on disk (None: no model)
    and in memory, per file its bytes, and when each model's create was
    sent and acknowledged (ticks of one counter; None: not acknowledged):
    a create acknowledged before another was sent is listed first."""

    def __init__(self, init):
        self.init = init
        self.disk, self.mem, self.files = {}, {}, {}
        self.created = {}
        self._v = 0
        self._t = 0
        self._lock = threading.Lock()
        for c in range(CLIENTS):
            for i in range(MODELS_PER_CLIENT):
                self.disk["c%d-m%d" % (c, i)] = None
                self.mem["c%d-m%d" % (c, i)] = None
            for i in range(FILES_PER_CLIENT):
                self.files["c%d-f%d.safetensors" % (c, i)] = None

    def tick(self):
        with self._lock:
            self._t += 1
            return self._t

    def next_version(self):
        with self._lock:
            self._v += 1
            return self._v


def get_json(d, path):
    r = d.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def model_state(d, m):
    return {k: from_json(v) for k, v in
            get_json(d, "/v1/models/%s/state_dict" % m).items()}


def kill(d):
    d.session.close()
    d.proc.kill()
    d.proc.communicate(timeout=60)


class CrashConsistency(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="blockd-crash-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self):
        return Daemon(data_dir=self.dir, keep_data=True)

    def init_weights(self, d):
        """The weights a model created with INIT_SEED starts with (seeded
        init does not depend on the name): known without asking each
        created model, which a kill may prevent."""
        states = []
        for name in ("probe-a", "probe-b"):
            r = d.post("/v1/models", {"name": name, "seed": INIT_SEED,
                                      "block": SPEC, "device": "cpu"})
            self.assertEqual(r.status_code, 201, r.text)
            states.append(model_state(d, name))
            self.assertEqual(d.delete("/v1/models/" + name).status_code, 200)
        self.assertTrue(same_state(*states), "seeded init depends on name")
        self.assertEqual(sorted(states[0]), sorted(SHAPES))
        return states[0]

    def check_disk(self, d, world, inflight, stats):
        """The restarted daemon against world; resolves each in-flight
        request to the state it left."""
        listed = [m["name"] for m in get_json(d, "/v1/models")["models"]]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertTrue(set(listed) <= set(world.disk),
                        "unknown models listed: %s" % listed)
        for m in world.disk:
            cands = [world.disk[m]]
            if m in inflight:
                cands = inflight[m]
            got = model_state(d, m) if m in listed else None
            match = [c for c in cands
                     if (c is None) == (got is None) and
                     (got is None or same_state(c, got))]
            self.assertTrue(
                match, "model %s after the restart: %s, expected one of %s"
                % (m, "absent" if got is None else "other weights",
                   ["absent" if c is None else "saved weights"
                    for c in cands]))
            if m in inflight and len(cands) > 1:
                stats["inflight_either" if len(match) == len(cands) else
                      "inflight_landed" if match[0] is cands[-1] else
                      "inflight_not_landed"] += 1
            if got is not None:
                stats["models_verified"] += 1
            else:
                stats["absent_verified"] += 1
            world.disk[m] = world.mem[m] = got
        # Creation order survives the restart: a model whose create was
        # acknowledged before another's was sent is listed before it
        # (concurrent creates may be in either order).
        for i, a in enumerate(listed):
            for b in listed[i + 1:]:
                a_sent, _ = world.created[a]
                _, b_acked = world.created[b]
                self.assertFalse(
                    b_acked is not None and b_acked < a_sent,
                    "model list %s: %s was created before %s" %
                    (listed, b, a))
        files = {f["name"] for f in get_json(d, "/v1/files")["files"]}
        self.assertTrue(files <= set(world.files),
                        "unknown files listed: %s" % files)
        for f in world.files:
            cands = inflight.get(f, [world.files[f]])
            got = None
            if f in files:
                r = d.get("/v1/files/" + f,
                          headers={"Accept": "application/octet-stream"})
                self.assertEqual(r.status_code, 200, r.text)
                got = r.content
                # And it loads: GET parses the file.
                self.assertEqual(get_json(d, "/v1/files/" + f)["kind"],
                                 "dict")
            self.assertIn(got, cands, "file %s after the restart" % f)
            if f in inflight and len(cands) > 1:
                stats["inflight_either" if cands[0] == cands[-1] else
                      "inflight_landed" if got == cands[-1] else
                      "inflight_not_landed"] += 1
            stats["files_verified" if got is not None
                  else "absent_verified"] += 1
            world.files[f] = got
        # The data dir itself: no temporary file anywhere, and nothing
        # that is not a listed model or file.
        for root, dirs, names in os.walk(self.dir):
            for n in dirs + names:
                self.assertFalse(TEMP_RE.match(n) or ".tmp." in n,
                                 "temporary file left: %s" %
                                 os.path.join(root, n))
        self.assertEqual(sorted(os.listdir(self.dir)), ["files", "models"])
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "files"))),
                         sorted(files))
        mdir = os.path.join(self.dir, "models")
        self.assertEqual(sorted(os.listdir(mdir)), sorted(listed),
                         "model directories that are no listed model: %s" %
                         {m: sorted(os.listdir(os.path.join(mdir, m)))
                          for m in os.listdir(mdir) if m not in listed})
        for m in listed:
            self.assertEqual(sorted(os.listdir(os.path.join(mdir, m))),
                             ["spec.json", "state.safetensors"], m)

    def test_sigkill_during_writes(self):
        rnd = random.Random(SEED)
        print("crash consistency: %d kills, seed %d" % (KILLS, SEED),
              flush=True)
        d = self.start()
        world = World(self.init_weights(d))
        stats = {k: 0 for k in ("models_verified", "files_verified",
                                "absent_verified", "inflight_landed",
                                "inflight_not_landed", "inflight_either",
                                "kills_mid_request", "temps_left_by_kills",
                                "unfinished_dirs_left_by_kills")}
        acked = {}
        inflight_kinds = {}
        t0 = time.time()
        try:
            for k in range(KILLS):
                failures = []
                killed = threading.Event()
                port = int(d.base.rsplit(":", 1)[1])
                clients = [Client(i, world, random.Random(rnd.random()), port,
                                  failures, killed) for i in range(CLIENTS)]
                for c in clients:
                    c.start()
                # Most kills land while a client waits on a write; a few
                # right after start (restore and sweep).
                time.sleep(rnd.choice([0.0, rnd.uniform(0.0, 0.05)] +
                                      [rnd.uniform(0.02, 0.6)] * 8))
                killed.set()
                kill(d)
                for c in clients:
                    c.join(timeout=120)
                    self.assertFalse(c.is_alive(), "client hung")
                self.assertEqual(failures, [])
                inflight = {}
                for c in clients:
                    for kind, n in c.acked_by_kind.items():
                        acked[kind] = acked.get(kind, 0) + n
                    if c.inflight:
                        op, key, cands = c.inflight
                        inflight[key] = cands
                        inflight_kinds[op] = inflight_kinds.get(op, 0) + 1
                        stats["kills_mid_request"] += 1
                # What the kill left for the restart to clean up.
                for root, dirs, names in os.walk(self.dir):
                    stats["temps_left_by_kills"] += sum(
                        1 for n in names if TEMP_RE.match(n))
                    if os.path.dirname(root) == os.path.join(self.dir,
                                                             "models") and \
                            "spec.json" not in names:
                        stats["unfinished_dirs_left_by_kills"] += 1
                d = self.start()
                self.check_disk(d, world, inflight, stats)
            d.stop()
        except BaseException:
            kill(d)
            raise
        total = sum(acked.values())
        print("crash consistency: %d kills in %.1f s, %d acknowledged "
              "mutations %s, %d requests in flight at a kill %s (landed %d, "
              "not landed %d, %d with old state = new state, the rest had "
              "one possible outcome), verified "
              "after restarts: %d models with their saved weights, %d files "
              "byte for byte, %d absences; the kills left %d temporary "
              "files and %d model directories without spec.json, all "
              "removed by the restarts" %
              (KILLS, time.time() - t0, total, dict(sorted(acked.items())),
               stats["kills_mid_request"],
               dict(sorted(inflight_kinds.items())),
               stats["inflight_landed"],
               stats["inflight_not_landed"], stats["inflight_either"],
               stats["models_verified"],
               stats["files_verified"], stats["absent_verified"],
               stats["temps_left_by_kills"],
               stats["unfinished_dirs_left_by_kills"]),
              flush=True)
        self.assertGreaterEqual(KILLS, 1)
        # Writes of every kind were acknowledged and then checked.
        for kind in ("create", "delete", "param", "save", "state_dict",
                     "file_put", "file_delete"):
            self.assertGreater(acked.get(kind, 0), 0, kind)


if __name__ == "__main__":
    unittest.main()
