"""GET /metrics (issue 12): Prometheus text that promtool accepts, request
counters that move by exactly the traffic sent, per route pattern (never
the raw path), histograms whose buckets are cumulative and end in a +Inf
bucket equal to _count, per-model inference counts that go away with the
model."""
import re
import shutil
import subprocess
import unittest

from blockd_testlib import Daemon, linear, wait_for

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Exposition -> ({(name, frozenset(labels)): value}, {name: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "unparsable sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        key = (m.group(1), labels)
        assert key not in samples, "duplicate series: %r" % line
        samples[key] = float(m.group(4))
    return samples, types


def get(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    """Runs `promtool check metrics`; returns its complaints ('' if none)."""
    exe = shutil.which("promtool")
    assert exe, ("promtool not found: install Debian's prometheus package "
                 "(scripts/install-deps.sh)")
    p = subprocess.run([exe, "check", "metrics"], input=text, text=True,
                       capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 and not out:
        out = "promtool exited with %d" % p.returncode
    return out


FWD = "/v1/models/{m}/forward"


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def scrape(self):
        r = self.d.get("/metrics")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Content-Type"].split(";")[0].strip(),
                         "text/plain")
        self.assertIn("version=0.0.4", r.headers["Content-Type"])
        return r.text

    def scrape_until(self, pred):
        """Scrapes until pred(samples) holds (a request's counters move
        when it completes, just after its response is sent)."""
        box = {}

        def ok():
            box["s"], _ = parse(self.scrape())
            return pred(box["s"])
        wait_for(ok, timeout=20)
        return box["s"]

    def test_promtool_accepts_the_exposition(self):
        self.d.post("/v1/models", {"name": "lint", "block": linear(2, 1)})
        self.d.post("/v1/models/lint/forward", {"inputs": [[1, 2]]})
        self.d.get("/no/such/route")
        text = self.scrape()
        self.assertEqual(promtool_check(text), "")
        samples, types = parse(text)
        for name in ("blockd_http_requests_total",
                     "blockd_model_inferences_total",
                     "blockd_model_rejected_requests_total",
                     "process_cpu_seconds_total"):
            self.assertEqual(types.get(name), "counter", name)
        for name in ("blockd_http_request_duration_seconds",
                     "blockd_model_queue_duration_seconds",
                     "blockd_model_compute_duration_seconds",
                     "blockd_model_batch_size"):
            self.assertEqual(types.get(name), "histogram", name)
        for name in ("blockd_models_loaded", "blockd_device_bytes",
                     "blockd_process_resident_memory_bytes",
                     "process_start_time_seconds", "blockd_build_info",
                     "blockd_http_requests_in_flight",
                     "blockd_requests_running", "blockd_requests_waiting"):
            self.assertEqual(types.get(name), "gauge", name)
        # The scrape itself is in flight while it renders.
        self.assertGreaterEqual(get(samples, "blockd_http_requests_in_flight"),
                                1)
        self.assertGreaterEqual(get(samples, "blockd_requests_waiting"), 0)
        self.assertGreater(get(samples, "blockd_process_resident_memory_bytes"),
                           1 << 20)
        self.assertGreater(get(samples, "process_start_time_seconds"), 1.6e9)
        self.assertEqual(get(samples, "blockd_device_bytes", device="cpu") > 0,
                         True)
        version = self.d.get("/v1/health").json().get("version")
        self.assertEqual(get(samples, "blockd_build_info", version=version), 1)
        self.d.delete("/v1/models/lint")

    def test_promtool_rejects_a_broken_exposition(self):
        # The check above means something only if promtool complains about
        # what it should.
        self.assertNotEqual(promtool_check(
            "# HELP x_total a\n# TYPE x_total counter\nx_total{a=\"b} 1\n"), "")
        self.assertNotEqual(promtool_check(
            "# HELP y a\n# TYPE y counter\ny 1\n"), "")

    def test_counters_move_by_the_traffic_sent(self):
        before, _ = parse(self.scrape())
        self.assertEqual(self.d.post("/v1/models", {
            "name": "cnt", "block": linear(3, 2)}).status_code, 201)
        for _ in range(4):
            r = self.d.post("/v1/models/cnt/forward", {"inputs": [[1, 2, 3]]})
            self.assertEqual(r.status_code, 200)
        r = self.d.post("/v1/models/cnt/forward", {"inputs": [[1, 2]]})
        self.assertEqual(r.status_code, 422)
        for _ in range(3):
            self.assertEqual(self.d.get("/v1/health").status_code, 200)
        # Unknown paths and models: the route label is a pattern or
        # "other", never the raw path, and no model series appears.
        for name in ("ghost1", "ghost2"):
            r = self.d.post("/v1/models/%s/forward" % name,
                            {"inputs": [[1, 2, 3]]})
            self.assertEqual(r.status_code, 404)
        self.assertEqual(self.d.get("/v1/nowhere/abc").status_code, 404)
        self.assertEqual(self.d.get("/v1/nowhere/def").status_code, 404)
        self.assertEqual(self.d.delete("/v1/health").status_code, 405)
        r = self.d.session.request("BREW", self.d.url("/v1/health"))
        self.assertEqual(r.status_code, 405)

        def delta(s, name, **labels):
            return get(s, name, **labels) - get(before, name, **labels)
        want = [
            (("blockd_http_requests_total",),
             dict(route="/v1/models", method="POST", status="201"), 1),
            (("blockd_http_requests_total",),
             dict(route=FWD, method="POST", status="200"), 4),
            (("blockd_http_requests_total",),
             dict(route=FWD, method="POST", status="422"), 1),
            (("blockd_http_requests_total",),
             dict(route=FWD, method="POST", status="404"), 2),
            (("blockd_http_requests_total",),
             dict(route="/v1/health", method="GET", status="200"), 3),
            (("blockd_http_requests_total",),
             dict(route="other", method="GET", status="404"), 2),
            (("blockd_http_requests_total",),
             dict(route="/v1/health", method="DELETE", status="405"), 1),
            (("blockd_http_requests_total",),
             dict(route="/v1/health", method="other", status="405"), 1),
            (("blockd_http_request_duration_seconds_count",),
             dict(route=FWD, method="POST"), 7),
            (("blockd_http_request_duration_seconds_count",),
             dict(route="/v1/health", method="GET"), 3),
            (("blockd_model_inferences_total",), dict(model="cnt"), 4),
        ]

        def all_moved(s):
            return all(delta(s, n[0], **l) == v for n, l, v in want)
        after = self.scrape_until(all_moved)
        for n, l, v in want:
            self.assertEqual(delta(after, n[0], **l), v, (n[0], l))
        text = self.scrape()
        for raw in ("ghost1", "ghost2", "/v1/nowhere", "BREW"):
            self.assertNotIn(raw, text)
        s, _ = parse(text)
        self.assertGreaterEqual(get(s, "blockd_models_loaded"), 1)

        # Deleting the model drops its series.
        self.assertIn(self.d.delete("/v1/models/cnt").status_code, (200, 204))
        self.scrape_until(lambda s: (
            "blockd_model_inferences_total", frozenset({("model", "cnt")}))
            not in s)

    def test_histogram_invariants(self):
        self.d.post("/v1/models", {"name": "h", "block": linear(2, 2)})
        for _ in range(5):
            self.d.post("/v1/models/h/forward", {"inputs": [[1, 2]]})
        self.d.get("/v1/models/h")
        samples, types = parse(self.scrape())
        groups = {}
        for (name, labels), v in samples.items():
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if types.get(base) != "histogram":
                continue
            rest = frozenset(kv for kv in labels if kv[0] != "le")
            g = groups.setdefault((base, rest), {"buckets": []})
            if name.endswith("_bucket"):
                le = dict(labels)["le"]
                g["buckets"].append((float("inf") if le == "+Inf"
                                     else float(le), v))
            else:
                g[name.rsplit("_", 1)[1]] = v
        self.assertTrue(any(b == "blockd_http_request_duration_seconds" and
                            ("route", FWD) in l for b, l in groups))
        for (base, labels), g in groups.items():
            bs = sorted(g["buckets"])
            self.assertTrue(bs, (base, labels))
            self.assertEqual(bs[-1][0], float("inf"), (base, labels))
            counts = [v for _, v in bs]
            self.assertEqual(counts, sorted(counts), (base, labels))
            self.assertEqual(bs[-1][1], g["count"], (base, labels))
            self.assertGreaterEqual(g["sum"], 0)
            self.assertGreater(g["count"], 0)
        fwd = groups[("blockd_http_request_duration_seconds",
                      frozenset({("route", FWD), ("method", "POST")}))]
        total = sum(v for (n, l), v in samples.items()
                    if n == "blockd_http_requests_total" and
                    ("route", FWD) in l and ("method", "POST") in l)
        self.assertEqual(fwd["count"], total)
        self.d.delete("/v1/models/h")


if __name__ == "__main__":
    unittest.main()
