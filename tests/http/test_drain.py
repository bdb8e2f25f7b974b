"""SIGTERM under load (issues 12 and 13): a stream of mutating and read
requests from many keep-alive connections runs across the signal. Every
request sent before the daemon stops listening gets an HTTP answer (no
connection reset), the daemon exits 0, and after a restart every
acknowledged mutation is there: each client's parameter holds the last
value it was told was written, each model whose create was acknowledged
exists, and nothing answered 503 shutting_down was applied."""
import http.client
import json
import shutil
import signal
import threading
import time
import unittest

import numpy as np

from blockd_testlib import Daemon, from_json, linear, relu, seq

CLIENTS = 8


class Client(threading.Thread):
    def __init__(self, port, idx):
        super().__init__()
        self.port, self.idx = port, idx
        self.acked_bias = None  # last value a PUT was acknowledged with
        self.created = []       # models whose create was acknowledged
        self.refused_creates = []
        self.resets = []
        self.answers = 0
        self.shutting_down = 0

    def call(self, conn, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return r.status, payload, r.getheader("Connection", "")

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        seqno = 0
        model = "c%d" % self.idx
        while True:
            seqno += 1
            op = seqno % 4
            try:
                if op == 0:
                    val = [float(self.idx * 100000 + seqno)] * 4
                    st, body, close = self.call(
                        conn, "PUT", "/v1/models/%s/parameters/0.bias" % model,
                        val)
                    if st == 200:
                        self.acked_bias = val
                elif op == 1:
                    name = "n%d_%d" % (self.idx, seqno)
                    st, body, close = self.call(
                        conn, "POST", "/v1/models",
                        {"name": name, "seed": 1,
                         "block": seq(linear(2, 2))})
                    if st == 201:
                        self.created.append(name)
                    else:
                        self.refused_creates.append(name)
                elif op == 2:
                    st, body, close = self.call(
                        conn, "POST", "/v1/models/%s/forward" % model,
                        {"inputs": [[0.5] * 4]})
                else:
                    st, body, close = self.call(
                        conn, "GET", "/v1/models/%s/state_dict" % model)
            except ConnectionRefusedError:
                return  # the listener is closed: the drain is under way
            except (ConnectionResetError, BrokenPipeError,
                    http.client.RemoteDisconnected) as e:
                self.resets.append("%s on op %d" % (type(e).__name__, op))
                return
            self.answers += 1
            if st == 503 and b"shutting_down" in body:
                self.shutting_down += 1
            elif st not in (200, 201):
                self.resets.append("unexpected %d: %r" % (st, body[:200]))
                return
            if close.lower() == "close":
                conn.close()  # the next request reconnects (and is refused)


class DrainUnderLoad(unittest.TestCase):
    def test_stream_across_sigterm(self):
        d = Daemon("--workers", "2", keep_data=True)
        try:
            for i in range(CLIENTS):
                r = d.post("/v1/models", {"name": "c%d" % i, "seed": i,
                                          "block": seq(linear(4, 4), relu())})
                self.assertEqual(r.status_code, 201, r.text)
            port = int(d.base.rsplit(":", 1)[1])
            clients = [Client(port, i) for i in range(CLIENTS)]
            for c in clients:
                c.start()
            # Let traffic flow, then signal while it does.
            end = time.monotonic() + 30
            while (sum(c.answers for c in clients) < 400
                   and time.monotonic() < end):
                time.sleep(0.02)
            d.proc.send_signal(signal.SIGTERM)
            for c in clients:
                c.join(timeout=120)
                self.assertFalse(c.is_alive())
            d.stop()  # exit status 0
            resets = [x for c in clients for x in c.resets]
            self.assertEqual(resets, [], "requests without an HTTP answer")
            answered = sum(c.answers for c in clients)
            self.assertGreaterEqual(answered, 400)
            print("drain: %d answers, %d x 503 shutting_down" %
                  (answered, sum(c.shutting_down for c in clients)))

            d2 = Daemon(data_dir=d.data_dir)
            try:
                names = {m["name"] for m in
                         d2.get("/v1/models").json()["models"]}
                for c in clients:
                    for n in c.created:
                        self.assertIn(n, names, "acknowledged create lost")
                    for n in c.refused_creates:
                        self.assertNotIn(n, names, "refused create applied")
                    if c.acked_bias is not None:
                        b = from_json(d2.get(
                            "/v1/models/c%d/parameters/0.bias?field=value"
                            % c.idx).json())
                        np.testing.assert_array_equal(
                            b, np.array(c.acked_bias, np.float32))
            finally:
                d2.stop()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            shutil.rmtree(d.data_dir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
