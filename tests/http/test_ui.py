"""The web console's files (GET /ui/, GET /ui/<file>): every file of
server/ui/ is served byte for byte from the binary with its Content-Type,
the CSP, caching headers and ETag revalidation, while compute workers are
busy; /ui redirects, unknown files and other methods are the usual JSON
errors. The console itself is exercised in a browser by
tests/browser/test_console.py."""
import hashlib
import os
import threading
import unittest

import requests

from blockd_testlib import Daemon

UI_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "server", "ui")
TYPES = {".html": "text/html; charset=utf-8",
         ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml"}


class UiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def get(self, path, **kw):
        return requests.get(self.d.url(path), timeout=60,
                            allow_redirects=False, **kw)

    def test_every_file_byte_for_byte(self):
        names = sorted(os.listdir(UI_DIR))
        self.assertIn("index.html", names)
        self.assertIn("app.js", names)
        for name in names:
            with open(os.path.join(UI_DIR, name), "rb") as f:
                want = f.read()
            r = self.get("/ui/" + name)
            self.assertEqual(r.status_code, 200, name)
            self.assertEqual(r.content, want, name)
            self.assertEqual(r.headers["Content-Type"],
                             TYPES[os.path.splitext(name)[1]], name)
            self.assertEqual(r.headers["Content-Security-Policy"].split(";")[0],
                             "default-src 'self'")
            self.assertEqual(r.headers["Cache-Control"], "no-cache")
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            # the ETag is the first 20 hex digits of the bytes' SHA-256
            self.assertEqual(r.headers["ETag"],
                             '"%s"' % hashlib.sha256(want).hexdigest()[:20])

    def test_every_file_is_documented(self):
        # proto/openapi.yaml lists the console's files one by one (each
        # open to everyone: x-blockd-access open)
        src = open(os.path.join(os.path.dirname(__file__), "..", "..",
                                "proto", "openapi.yaml")).read()
        for name in os.listdir(UI_DIR):
            i = src.find("\n  /ui/%s:\n" % name)
            self.assertGreater(i, 0, name)
            self.assertTrue(src[i:].split("\n", 3)[3].startswith(
                "      x-blockd-access: open"), name)

    def test_index(self):
        r = self.get("/ui/")
        with open(os.path.join(UI_DIR, "index.html"), "rb") as f:
            self.assertEqual(r.content, f.read())
        self.assertEqual(r.headers["Content-Type"], "text/html; charset=utf-8")
        # no inline script: the CSP would refuse it
        self.assertNotIn(b"<script>", r.content)
        r = self.get("/ui")
        self.assertEqual(r.status_code, 308)
        self.assertEqual(r.headers["Location"], "/ui/")

    def test_revalidation(self):
        r = self.get("/ui/app.js")
        etag = r.headers["ETag"]
        r2 = self.get("/ui/app.js", headers={"If-None-Match": etag})
        self.assertEqual(r2.status_code, 304)
        self.assertEqual(r2.content, b"")
        self.assertEqual(r2.headers["ETag"], etag)
        for inm in ('"other", ' + etag, "W/" + etag, "*"):
            self.assertEqual(self.get("/ui/app.js", headers={
                "If-None-Match": inm}).status_code, 304, inm)
        for inm in ('"other"', etag[:-2] + '"', etag + "x"):
            r3 = self.get("/ui/app.js", headers={"If-None-Match": inm})
            self.assertEqual(r3.status_code, 200, inm)
            self.assertEqual(r3.content, r.content)

    def test_errors(self):
        for path in ("/ui/nope.js", "/ui/app.js/", "/ui/a/b", "/ui/..%2fREADME.md",
                     "/ui/%2e%2e"):
            r = self.get(path)
            self.assertEqual(r.status_code, 404, path)
            self.assertEqual(r.json()["error"]["code"], "not_found", path)
        r = requests.post(self.d.url("/ui/app.js"), timeout=60)
        self.assertEqual(r.status_code, 405)
        self.assertEqual(r.headers["Allow"], "GET")
        self.assertEqual(r.json()["error"]["code"], "method_not_allowed")

    def test_answers_while_workers_are_busy(self):
        # The routes are inline: the console loads while every compute
        # worker holds a long request. --workers 1 and a forward that runs
        # until it is refused by its compute limit.
        with Daemon("--workers", "1", "--max-compute-seconds", "3") as d:
            r = d.post("/v1/models", {"name": "w", "block": {
                "type": "while", "cond": {"reduce": "abs_sum", "gt": 0},
                "body": {"type": "scale", "value": 1}, "max_iters": 10**9}})
            self.assertEqual(r.status_code, 201, r.text)
            started = threading.Event()

            def spin():
                started.set()
                d.post("/v1/models/w/forward", {"inputs": [[1.0]]})
            t = threading.Thread(target=spin)
            t.start()
            started.wait()
            # poll until the health endpoint reports the worker busy
            for _ in range(2000):
                h = requests.get(d.url("/v1/health"), timeout=60).json()
                if h.get("requests", {}).get("running") == 1:
                    break
            else:
                self.fail("the spinning forward never ran")
            r = requests.get(d.url("/ui/app.js"), timeout=60)
            self.assertEqual(r.status_code, 200)
            h = requests.get(d.url("/v1/health"), timeout=60).json()
            self.assertEqual(h["requests"]["running"], 1)
            t.join()


if __name__ == "__main__":
    unittest.main()
