"""Access control (issue 13): bearer tokens (admin and read) checked
against the per-route access table, 401/403 with WWW-Authenticate, health
always open, the non-loopback rule, form-encoded bodies and foreign Origins
refused, DNS-rebound Host names refused by a tokenless daemon, and the
start-up checks of token files. Every refused request is checked to have
left the daemon's state as it was."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

import requests

from blockd_testlib import BLOCKD_BIN, Daemon, linear, relu, seq, wait_for

ADMIN = "a" * 8 + "0123456789abcdef0123456789abcdef"
READ = "r" * 8 + "fedcba9876543210fedcba9876543210"
CHALLENGE = 'Bearer realm="blockd"'


def write_token(dirname, name, text, mode=0o600):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def auth(token):
    return {"Authorization": "Bearer " + token}


def json_post(d, path, body, token=None, headers=None):
    h = {"Content-Type": "application/json"}
    if token:
        h.update(auth(token))
    h.update(headers or {})
    return d.session.post(d.url(path), data=json.dumps(body), headers=h,
                          timeout=60)


def start_fail(args, env=None):
    """Runs blockd expecting it to refuse to start; returns (rc, stderr)."""
    tmp = tempfile.mkdtemp(prefix="blockd-auth-")
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        p = subprocess.run([BLOCKD_BIN, "--data-dir", tmp, "--log-level",
                            "warn"] + list(args), capture_output=True,
                           text=True, timeout=60, env=full_env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p.returncode, p.stdout, p.stderr


def _connects(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def model_spec():
    return seq(linear(4, 8), relu(), linear(8, 2))


class Tokens(unittest.TestCase):
    """A daemon with an admin and a read token."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="blockd-tokens-")
        admin = write_token(cls.tmp, "admin", ADMIN + "\n")
        # Surrounding blanks and CRLF are trimmed; later lines ignored.
        read = write_token(cls.tmp, "read", "  " + READ + " \r\nignored\n")
        cls.d = Daemon("--admin-token-file", admin, "--read-token-file", read)
        cls.admin = requests.Session()
        cls.admin.headers.update(auth(ADMIN))
        cls.reader = requests.Session()
        cls.reader.headers.update(auth(READ))
        r = json_post(cls.d, "/v1/models", {"name": "m", "seed": 3,
                                            "block": model_spec()}, ADMIN)
        assert r.status_code == 201, r.text

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def url(self, path):
        return self.d.url(path)

    def test_refused_before_the_body_is_read(self):
        # Headers announcing a large body, and no body: the 401 (and the
        # read token's 403) comes from the headers alone. Were the check
        # made after the upload, blockd would wait for 40 MB that never
        # come and answer nothing until --idle-timeout closes the socket.
        port = int(self.d.base.rsplit(":", 1)[1])
        for token, want in ((None, b" 401 "), (READ, b" 403 ")):
            head = (b"PUT /v1/tensors/big HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\n"
                    b"Content-Length: 40000000\r\n")
            if token:
                head += b"Authorization: Bearer " + token.encode() + b"\r\n"
            s = socket.create_connection(("127.0.0.1", port))
            try:
                s.settimeout(20)  # a bound, far below --idle-timeout's 30 s
                s.sendall(head + b"\r\n")
                reply = s.recv(4096)
            finally:
                s.close()
            self.assertIn(want, reply.split(b"\r\n", 1)[0], reply[:300])
        r = self.admin.get(self.url("/v1/tensors"), timeout=60)
        self.assertNotIn("big", [t["name"] for t in r.json()["tensors"]])

    def snapshot(self):
        """Everything a refused request must leave untouched."""
        g = lambda p: self.admin.get(self.url(p), timeout=60)
        return (g("/v1/models").json(), g("/v1/models/m/state_dict").json(),
                g("/v1/tensors").json(), g("/v1/files").json())

    def assert_401(self, r, invalid):
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        want = CHALLENGE + (', error="invalid_token"' if invalid else "")
        self.assertEqual(r.headers["WWW-Authenticate"], want)
        self.assertEqual(r.json()["error"]["code"], "unauthorized")

    def test_health_is_open(self):
        for h in ({}, auth("wrong-token-wrong-token"), auth(READ)):
            r = requests.get(self.url("/v1/health"), headers=h, timeout=60)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["status"], "ok")
            self.assertNotIn("WWW-Authenticate", r.headers)

    def test_missing_token(self):
        before = self.snapshot()
        for method, path in (("GET", "/v1/models"),
                             ("GET", "/v1/models/m/state_dict"),
                             ("POST", "/v1/models/m/forward"),
                             ("DELETE", "/v1/models/m"),
                             ("POST", "/v1/models/m/init")):
            r = requests.request(method, self.url(path), timeout=60,
                                 data=b"{}", headers={
                                     "Content-Type": "application/json"})
            self.assert_401(r, invalid=False)
        # A scheme other than Bearer is no credential at all.
        r = requests.get(self.url("/v1/models"), timeout=60,
                         headers={"Authorization": "Basic " + ADMIN})
        self.assert_401(r, invalid=False)
        self.assertEqual(self.snapshot(), before)

    def test_wrong_tokens_of_every_length(self):
        # Shorter, equal-length, longer and huge tokens, a prefix of the
        # real one and the real one plus a byte: all go through the same
        # hash-then-compare path and are all refused alike.
        before = self.snapshot()
        wrong = ["", "x", ADMIN[:-1], ADMIN + "x", ADMIN[:-1] + "b",
                 READ[:16], "z" * len(ADMIN), "q" * 8000]
        for tok in wrong:
            for method in ("GET", "PATCH"):
                r = requests.request(
                    method, self.url("/v1/models/m/parameters/0.bias"),
                    headers=dict(auth(tok),
                                 **{"Content-Type": "application/json"}),
                    data=json.dumps({"op": "fill", "value": 0}), timeout=60)
                self.assert_401(r, invalid=True)
        self.assertEqual(self.snapshot(), before)

    def test_scheme_is_case_insensitive(self):
        for scheme in ("bearer", "BEARER", "Bearer  "):
            r = requests.get(self.url("/v1/models"), timeout=60,
                             headers={"Authorization": scheme + " " + READ})
            self.assertEqual(r.status_code, 200, (scheme, r.text))

    def test_read_token_reads_and_forwards(self):
        self.assertEqual([m["name"] for m in self.reader.get(
            self.url("/v1/models"), timeout=60).json()["models"]], ["m"])
        for path in ("/v1/models/m", "/v1/models/m/parameters",
                     "/v1/models/m/parameters/0.weight",
                     "/v1/models/m/state_dict", "/v1/models/m/blocks/0",
                     "/v1/devices", "/v1/tensors", "/v1/files"):
            r = self.reader.get(self.url(path), timeout=60)
            self.assertEqual(r.status_code, 200, (path, r.text))
        x = {"inputs": [[1.0, 2.0, 3.0, 4.0]]}
        r1 = json_post(self.d, "/v1/models/m/forward", x, READ)
        r2 = json_post(self.d, "/v1/models/m/forward", x, ADMIN)
        self.assertEqual(r1.status_code, 200, r1.text)
        self.assertEqual(r1.json(), r2.json())
        self.assertEqual(r1.json()["outputs"]["shape"], [1, 2])

    def test_read_token_cannot_change_anything(self):
        # A tensor and a file exist, so that deleting them could succeed.
        t = {"shape": [2], "dtype": "float32", "data": [1, 2]}
        r = self.admin.put(self.url("/v1/tensors/t"), json=t, timeout=60)
        self.assertIn(r.status_code, (200, 201), r.text)
        r = self.admin.put(self.url("/v1/files/f"), json={"tensors": "t"},
                           timeout=60)
        self.assertIn(r.status_code, (200, 201), r.text)
        before = self.snapshot()
        x = [[1.0, 2.0, 3.0, 4.0]]
        writes = [
            ("POST", "/v1/models", {"name": "n", "block": linear(1, 1)}),
            ("PATCH", "/v1/models/m", {"mode": "eval"}),
            ("DELETE", "/v1/models/m", None),
            ("POST", "/v1/models/m/init", {"method": "zeros"}),
            ("POST", "/v1/models/m/backward",
             {"inputs": x, "loss": {"type": "sum"}}),
            ("POST", "/v1/models/m/zero_grad", {}),
            ("POST", "/v1/models/m/step", {"optimizer": "sgd", "lr": 0.1}),
            ("PUT", "/v1/models/m/parameters/0.bias", [0.0] * 8),
            ("PATCH", "/v1/models/m/parameters/0.bias",
             {"op": "fill", "value": 0}),
            ("PUT", "/v1/models/m/state_dict", {"file": "f"}),
            ("POST", "/v1/models/m/save", {}),
            ("PUT", "/v1/tensors/u", t),
            ("DELETE", "/v1/tensors/t", None),
            ("POST", "/v1/tensors/ops", {"op": "add", "a": "t", "b": "t",
                                         "as": "s"}),
            ("POST", "/v1/tensors/t/to", {"device": "cpu", "as": "z"}),
            ("PUT", "/v1/files/g", {"tensors": "t"}),
            ("DELETE", "/v1/files/f", None),
        ]
        for method, path, body in writes:
            r = self.reader.request(
                method, self.url(path), timeout=60,
                data=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"})
            self.assertEqual(r.status_code, 403, (method, path, r.text))
            self.assertEqual(r.json()["error"]["code"], "forbidden")
            self.assertEqual(r.headers["WWW-Authenticate"],
                             CHALLENGE + ', error="insufficient_scope"')
            self.assertIn("admin token", r.json()["error"]["message"])
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.admin.get(self.url("/v1/models/m"),
                                        timeout=60).json()["mode"], "train")

    def test_admin_token_does_everything(self):
        r = json_post(self.d, "/v1/models", {"name": "adm", "seed": 1,
                                             "block": linear(2, 1)}, ADMIN)
        self.assertEqual(r.status_code, 201, r.text)
        r = json_post(self.d, "/v1/models/adm/init",
                      {"method": "constant", "value": 2.5}, ADMIN)
        self.assertEqual(r.status_code, 200, r.text)
        sd = self.admin.get(self.url("/v1/models/adm/state_dict"),
                            timeout=60).json()
        self.assertEqual(sd["weight"]["data"], [[2.5, 2.5]])
        self.assertEqual(sd["bias"]["data"], [2.5])
        # With a token, curl's form content type is still taken as JSON.
        r = self.admin.post(self.url("/v1/models/adm/init"), timeout=60,
                            data=json.dumps({"method": "zeros"}), headers={
                                "Content-Type":
                                "application/x-www-form-urlencoded"})
        self.assertEqual(r.status_code, 200, r.text)
        sd = self.admin.get(self.url("/v1/models/adm/state_dict"),
                            timeout=60).json()
        self.assertEqual(sd["bias"]["data"], [0.0])
        r = self.admin.delete(self.url("/v1/models/adm"), timeout=60)
        self.assertEqual(r.status_code, 200, r.text)

    def test_foreign_origin_refused_even_with_token(self):
        before = self.snapshot()
        for origin in ("http://evil.example", "null",
                       "http://127.0.0.1:%d" % (self.d.port + 1),
                       "https://127.0.0.1:%d" % self.d.port):
            r = self.admin.delete(self.url("/v1/models/m"), timeout=60,
                                  headers={"Origin": origin})
            self.assertEqual(r.status_code, 403, (origin, r.text))
            self.assertEqual(r.json()["error"]["code"], "forbidden")
            self.assertIn("cross-origin", r.json()["error"]["message"])
        self.assertEqual(self.snapshot(), before)
        # GETs are not refused for their Origin (without CORS headers the
        # page cannot read the reply).
        r = self.admin.get(self.url("/v1/models"), timeout=60,
                           headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status_code, 200, r.text)
        # The daemon's own origin may send writes.
        own = "http://127.0.0.1:%d" % self.d.port
        r = json_post(self.d, "/v1/models/m/forward",
                      {"inputs": [[0.0] * 4]}, READ, {"Origin": own})
        self.assertEqual(r.status_code, 200, r.text)

    def test_optional_routes_follow_the_table(self):
        # Routes other route families add (KServe v2, /metrics): checked
        # here once they exist, so that their access class cannot drift.
        for path in ("/v2/health/live", "/v2/health/ready", "/metrics"):
            r = self.admin.get(self.url(path), timeout=60)
            if r.status_code == 404:
                continue
            r = requests.get(self.url(path), timeout=60)
            self.assertNotIn(r.status_code, (401, 403), (path, r.text))
        r = requests.post(self.url("/v2/models/m/infer"), data=b"{}",
                          headers={"Content-Type": "application/json"},
                          timeout=60)
        if r.status_code != 404:
            # The v2 family's error body is one string (KServe's shape).
            self.assertEqual(r.status_code, 401, r.text)
            self.assertEqual(r.headers["WWW-Authenticate"], CHALLENGE)
            self.assertIsInstance(r.json()["error"], str)
            r = json_post(self.d, "/v2/models/m/infer", {}, READ)
            self.assertNotIn(r.status_code, (401, 403), r.text)


class MetricsAuth(unittest.TestCase):
    def test_metrics_needs_a_token_with_the_flag(self):
        tmp = tempfile.mkdtemp(prefix="blockd-tokens-")
        try:
            admin = write_token(tmp, "admin", ADMIN)
            with Daemon("--admin-token-file", admin, "--metrics-auth") as d:
                r = requests.get(d.url("/metrics"), headers=auth(ADMIN),
                                 timeout=60)
                if r.status_code == 404:
                    self.skipTest("no /metrics route in this build yet")
                self.assertEqual(r.status_code, 200, r.text)
                r = requests.get(d.url("/metrics"), timeout=60)
                self.assertEqual(r.status_code, 401, r.text)
                self.assertEqual(r.headers["WWW-Authenticate"], CHALLENGE)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class ReadOnlyDaemon(unittest.TestCase):
    def test_read_token_alone_makes_a_read_only_daemon(self):
        tmp = tempfile.mkdtemp(prefix="blockd-tokens-")
        try:
            read = write_token(tmp, "read", READ)
            d = Daemon("--read-token-file", read)
            try:
                r = requests.get(d.url("/v1/models"), headers=auth(READ),
                                 timeout=60)
                self.assertEqual(r.json(), {"models": []})
                r = json_post(d, "/v1/models", {"name": "x",
                                                "block": linear(1, 1)}, READ)
                self.assertEqual(r.status_code, 403, r.text)
                self.assertIn("read-only", r.json()["error"]["message"])
                r = json_post(d, "/v1/models", {"name": "x",
                                                "block": linear(1, 1)})
                self.assertEqual(r.status_code, 401, r.text)
                self.assertEqual(requests.get(d.url("/v1/models"),
                                              headers=auth(READ),
                                              timeout=60).json(),
                                 {"models": []})
            finally:
                err = d.stop()
            self.assertIn("no request may change anything", err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class NoToken(unittest.TestCase):
    """The default daemon: loopback, no token."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def models(self):
        return self.d.get("/v1/models").json()["models"]

    def test_form_encoded_body_refused(self):
        body = json.dumps({"name": "form", "block": linear(1, 1)})
        r = self.d.request("POST", "/v1/models", data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status_code, 415, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "unsupported_media_type")
        self.assertIn("application/json", err["message"])
        self.assertEqual(self.models(), [])
        # The same body as JSON, or with no Content-Type at all, works.
        r = self.d.request("POST", "/v1/models", data=body, headers={
            "Content-Type": "application/json"})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.request("DELETE", "/v1/models/form")
        self.assertEqual(r.status_code, 200, r.text)
        r = self.d.request("POST", "/v1/models", data=body)
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual([m["name"] for m in self.models()], ["form"])
        self.d.delete("/v1/models/form")
        # A bearer token means nothing to a daemon without token files:
        # the form body stays refused.
        r = self.d.request("POST", "/v1/models", data=body, headers=dict(
            auth(ADMIN), **{"Content-Type":
                            "application/x-www-form-urlencoded"}))
        self.assertEqual(r.status_code, 415, r.text)
        self.assertEqual(self.models(), [])
        # Decided on the header: an empty form post is refused too.
        r = self.d.request("POST", "/v1/models", data=b"", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status_code, 415, r.text)

    def test_foreign_origin_refused(self):
        spec = {"name": "o", "block": linear(1, 1)}
        r = self.d.post("/v1/models", spec,
                        headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(r.json()["error"]["code"], "forbidden")
        self.assertEqual(self.models(), [])
        # "localhost" and 127.0.0.1 are different origins, as in a
        # browser.
        r = self.d.post("/v1/models", spec, headers={
            "Origin": "http://localhost:%d" % self.d.port})
        self.assertEqual(r.status_code, 403, r.text)
        own = "http://127.0.0.1:%d" % self.d.port
        r = self.d.post("/v1/models", spec, headers={"Origin": own.upper()})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.delete("/v1/models/o", headers={"Origin": own})
        self.assertEqual(r.status_code, 200, r.text)

    def test_rebound_host_refused(self):
        # A page on evil.example whose name DNS now resolves to 127.0.0.1
        # sends its requests with Host: evil.example.
        self.d.post("/v1/models", {"name": "h", "block": linear(1, 1)})
        host = "evil.example:%d" % self.d.port
        for method in ("GET", "DELETE"):
            r = self.d.request(method, "/v1/models/h", headers={"Host": host})
            self.assertEqual(r.status_code, 403, r.text)
            self.assertIn("DNS rebinding", r.json()["error"]["message"])
        self.assertEqual([m["name"] for m in self.models()], ["h"])
        # Health stays open; loopback names are fine.
        r = self.d.request("GET", "/v1/health", headers={"Host": host})
        self.assertEqual(r.status_code, 200, r.text)
        for h in ("localhost", "LOCALHOST.", "app.localhost", "127.0.0.9",
                  "[::1]"):
            r = self.d.request("GET", "/v1/models/h", headers={
                "Host": "%s:%d" % (h, self.d.port)})
            self.assertEqual(r.status_code, 200, (h, r.text))
        self.assertEqual(self.d.delete("/v1/models/h").status_code, 200)

    def test_authorization_ignored_without_token_files(self):
        r = self.d.get("/v1/models", headers=auth("anything-at-all-here"))
        self.assertEqual(r.status_code, 200, r.text)


class AllowOrigin(unittest.TestCase):
    def test_allowed_origins(self):
        # A list given as flags replaces one from the environment (the
        # configuration's precedence); the environment alone is checked
        # below.
        with Daemon("--allow-origin", "HTTPS://Console.Example:8443/",
                    "--allow-origin", "http://a.example",
                    "--allow-origin", "http://b.example:80",
                    env={"BLOCKD_ALLOW_ORIGIN": "http://c.example"}) as d:
            spec = {"name": "c", "block": linear(1, 1)}
            for origin, status in (("https://console.example:8443", 201),
                                   ("https://console.example", 403),
                                   ("http://console.example:8443", 403),
                                   ("http://b.example", 201),
                                   ("http://a.example:80", 201),
                                   ("http://c.example", 403)):
                r = d.post("/v1/models", spec, headers={"Origin": origin})
                self.assertEqual(r.status_code, status, (origin, r.text))
                if status == 201:
                    self.assertEqual(d.delete("/v1/models/c").status_code,
                                     200)
            self.assertEqual(d.get("/v1/models").json(), {"models": []})
        with Daemon(env={"BLOCKD_ALLOW_ORIGIN":
                         "http://a.example,http://b.example:80"}) as d:
            spec = {"name": "c", "block": linear(1, 1)}
            for origin, status in (("http://b.example", 201),
                                   ("http://c.example", 403)):
                r = d.post("/v1/models", spec, headers={"Origin": origin})
                self.assertEqual(r.status_code, status, (origin, r.text))
        for bad in ("console.example", "ftp://x.example", "http://x/path",
                    "http://x:99999", "*"):
            rc, _, err = start_fail(["--listen", "127.0.0.1:0",
                                     "--allow-origin", bad])
            self.assertEqual(rc, 2, (bad, err))
            self.assertIn("--allow-origin", err)


def openapi_access():
    """(METHOD, path template, access) of every operation in
    proto/openapi.yaml, from its x-blockd-access line."""
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "proto",
                            "openapi.yaml")).read()
    src = src[src.index("\npaths:"):src.index("\ncomponents:")]
    ops, path = [], None
    for line in src.split("\n"):
        m = re.match(r"^  (/\S+):$", line)
        if m:
            path = m.group(1)
        m = re.match(r"^    (get|post|put|patch|delete):$", line)
        if m:
            ops.append([m.group(1).upper(), path, None])
        m = re.match(r"^      x-blockd-access: (\w+)$", line)
        if m:
            ops[-1][2] = m.group(1)
    return ops


class OpenApiAccess(unittest.TestCase):
    """proto/openapi.yaml's x-blockd-access of every operation is what the
    daemon enforces: read operations answer the read token (whatever the
    handler then says), admin ones refuse it with 403, and only open ones
    answer without a token."""

    def test_documented_access_is_enforced(self):
        ops = openapi_access()
        self.assertGreaterEqual(len(ops), 30)
        names = {"model": "m", "path": "0.bias", "tensor": "t", "file": "f",
                 "version": "1"}
        tmp = tempfile.mkdtemp(prefix="blockd-tokens-")
        try:
            d = Daemon("--admin-token-file", write_token(tmp, "a", ADMIN),
                       "--read-token-file", write_token(tmp, "r", READ))
            try:
                r = json_post(d, "/v1/models", {"name": "m",
                                                "block": linear(4, 2)}, ADMIN)
                self.assertEqual(r.status_code, 201, r.text)
                before = requests.get(d.url("/v1/models/m/state_dict"),
                                      headers=auth(ADMIN), timeout=60).json()
                for method, tmpl, access in ops:
                    self.assertIn(access, ("open", "read", "admin"),
                                  (method, tmpl))
                    path = re.sub(r"\{(\w+)\}",
                                  lambda m: names[m.group(1)], tmpl)
                    body = None if method in ("GET", "DELETE") else b"{}"
                    h = {"Content-Type": "application/json"}
                    r0 = requests.request(method, d.url(path), data=body,
                                          headers=h, timeout=60)
                    rr = requests.request(method, d.url(path), data=body,
                                          headers=dict(h, **auth(READ)),
                                          timeout=60)
                    what = (method, tmpl, access, r0.status_code,
                            rr.status_code)
                    if access == "open":
                        self.assertEqual(r0.status_code, 200, what)
                    else:
                        self.assertEqual(r0.status_code, 401, what)
                    if access == "admin":
                        self.assertEqual(rr.status_code, 403, what)
                    else:
                        self.assertNotIn(rr.status_code, (401, 403), what)
                self.assertEqual(requests.get(
                    d.url("/v1/models/m/state_dict"), headers=auth(ADMIN),
                    timeout=60).json(), before)
            finally:
                d.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Startup(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="blockd-tokens-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_non_loopback_without_token_refused(self):
        for listen in ("0.0.0.0:0", ":0"):
            rc, out, err = start_fail(["--listen", listen])
            self.assertEqual(rc, 2, err)
            self.assertEqual(out, "")
            self.assertIn("refusing to listen on %s" % listen, err)
            self.assertIn("--insecure-no-auth", err)
            self.assertIn("--admin-token-file", err)
        rc, _, err = start_fail([], env={"BLOCKD_LISTEN": "0.0.0.0:0"})
        self.assertEqual(rc, 2, err)
        self.assertIn("refusing to listen", err)

    def test_insecure_no_auth_starts_with_a_warning(self):
        for args, env in ((["--insecure-no-auth"], {}),
                          ([], {"BLOCKD_INSECURE_NO_AUTH": "1"})):
            d = Daemon("--listen", "0.0.0.0:0", *args, env=env)
            r = d.post("/v1/models", {"name": "i", "block": linear(1, 1)})
            self.assertEqual(r.status_code, 201, r.text)
            # No Host check either: the operator opted out.
            r = d.get("/v1/models/i", headers={"Host": "box.example"})
            self.assertEqual(r.status_code, 200, r.text)
            err = d.stop()
            self.assertIn("with no authentication (--insecure-no-auth)", err)

    def test_non_loopback_with_token_starts(self):
        admin = write_token(self.tmp, "admin", ADMIN)
        d = Daemon("--listen", "0.0.0.0:0", token=ADMIN,
                   env={"BLOCKD_ADMIN_TOKEN_FILE": admin})
        self.assertEqual(d.get("/v1/models").json(), {"models": []})
        r = requests.get(d.url("/v1/models"), timeout=60)
        self.assertEqual(r.status_code, 401)
        err = d.stop()
        self.assertIn("unencrypted", err)
        self.assertNotIn("--insecure-no-auth", err)

    def test_loopback_names(self):
        for host in ("localhost", "127.0.0.2", "[::1]"):
            try:
                d = Daemon("--listen", host + ":0")
            except RuntimeError as e:
                # No IPv6 in this container: the refusal must not be the
                # authentication one.
                self.assertNotIn("refusing", str(e))
                self.assertIn("cannot", str(e))
                continue
            try:
                url = "http://%s:%d/v1/models" % (
                    "127.0.0.1" if host == "localhost" else host, d.port)
                if host == "localhost" and not wait_for(
                        lambda: _connects("127.0.0.1", d.port), 1):
                    url = url.replace("127.0.0.1", "[::1]")
                r = requests.get(url, timeout=60)
                self.assertEqual(r.status_code, 200, r.text)
            finally:
                err = d.stop()
            self.assertNotIn("no authentication", err)

    def test_bad_token_files(self):
        ok = write_token(self.tmp, "ok", ADMIN)
        cases = [
            (os.path.join(self.tmp, "missing"), "cannot open"),
            (write_token(self.tmp, "empty", ""), "holds no token"),
            (write_token(self.tmp, "blank", "  \n" + ADMIN), "holds no token"),
            (write_token(self.tmp, "short", "abc123\n"), "fewer than 16"),
            (write_token(self.tmp, "space", "abcdefgh ijklmnopqrst"),
             "visible ASCII"),
            (write_token(self.tmp, "long", "x" * 5000), "longer than"),
            (self.tmp, "not a regular file"),
        ]
        for path, msg in cases:
            for flag in ("--admin-token-file", "--read-token-file"):
                rc, out, err = start_fail(["--listen", "127.0.0.1:0", flag,
                                           path])
                self.assertEqual(rc, 2, (path, err))
                self.assertIn(flag, err)
                self.assertIn(msg, err)
                self.assertEqual(out, "")
        rc, _, err = start_fail(["--listen", "127.0.0.1:0",
                                 "--admin-token-file", ok,
                                 "--read-token-file", ok])
        self.assertEqual(rc, 2, err)
        self.assertIn("same token", err)
        rc, _, err = start_fail(["--listen", "127.0.0.1:0"], env={
            "BLOCKD_READ_TOKEN_FILE": os.path.join(self.tmp, "missing")})
        self.assertEqual(rc, 2, err)
        self.assertIn("--read-token-file", err)

    def test_world_readable_token_file_warns(self):
        path = write_token(self.tmp, "wr", ADMIN, mode=0o644)
        d = Daemon("--admin-token-file", path, token=ADMIN)
        self.assertEqual(d.get("/v1/models").status_code, 200)
        err = d.stop()
        self.assertIn("accessible to other users (mode 644)", err)
        self.assertIn("chmod 600", err)

    def test_help_lists_the_flags(self):
        out = subprocess.run([BLOCKD_BIN, "--help"], capture_output=True,
                             text=True, timeout=60).stdout
        for flag in ("--admin-token-file", "--read-token-file",
                     "--insecure-no-auth", "--metrics-auth",
                     "--allow-origin", "--tls-cert", "--tls-key",
                     "BLOCKD_ADMIN_TOKEN_FILE", "BLOCKD_TLS_CERT"):
            self.assertIn(flag, out)


if __name__ == "__main__":
    unittest.main()
