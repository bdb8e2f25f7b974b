"""TLS (issue 13): --tls-cert/--tls-key serve HTTPS through
libmicrohttpd's GnuTLS support. The test makes a throwaway self-signed
certificate with the openssl command, talks HTTPS with requests (verifying
against that certificate), checks that plain HTTP to the port gets no
reply, that tokens and the Origin rule work over HTTPS, and that every
misconfiguration (one file only, unreadable, not PEM, a key of another
certificate, an encrypted key) stops the daemon at start with exit 2 and
a message naming the flag."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import requests

from blockd_testlib import BLOCKD_BIN, Daemon, linear

TOKEN = "t0k3n-" + "0123456789abcdef" * 2


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   capture_output=True, timeout=120)


def make_cert(dirname, stem, cn="localhost"):
    """A self-signed certificate for 127.0.0.1 and localhost (EC P-256:
    quick to make)."""
    key = os.path.join(dirname, stem + "-key.pem")
    cert = os.path.join(dirname, stem + "-cert.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", cert, "-days", "2", "-subj", "/CN=" + cn, "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost")
    os.chmod(key, 0o600)
    return cert, key


def start_fail(args):
    tmp = tempfile.mkdtemp(prefix="blockd-tls-")
    try:
        p = subprocess.run([BLOCKD_BIN, "--data-dir", tmp, "--listen",
                            "127.0.0.1:0"] + list(args),
                           capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p.returncode, p.stdout, p.stderr


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is "
                     "missing (scripts/install-deps.sh installs it)")
class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="blockd-tls-")
        cls.cert, cls.key = make_cert(cls.tmp, "a")
        cls.cert2, cls.key2 = make_cert(cls.tmp, "b", cn="other")
        tok = os.path.join(cls.tmp, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(tok, 0o600)
        try:
            cls.d = Daemon("--tls-cert", cls.cert, "--tls-key", cls.key,
                           "--admin-token-file", tok, token=TOKEN,
                           verify=cls.cert)
        except RuntimeError as e:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            if "built without TLS" in str(e):
                raise unittest.SkipTest("libmicrohttpd has no TLS support")
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_startup_line_says_https(self):
        self.assertEqual(self.d.scheme, "https")
        self.assertTrue(self.d.base.startswith("https://127.0.0.1:"))

    def test_https_round_trip(self):
        r = self.d.get("/v1/health")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["status"], "ok")
        r = self.d.post("/v1/models", {"name": "tls", "seed": 1,
                                       "block": linear(3, 2)})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.post("/v1/models/tls/init",
                        {"method": "constant", "value": 0.5})
        self.assertEqual(r.status_code, 200, r.text)
        r = self.d.post("/v1/models/tls/forward",
                        {"inputs": [[1.0, 2.0, 3.0]]})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"]["data"], [[3.5, 3.5]])
        # A body larger than one TLS record (16 KiB) arrives whole.
        x = [[float(i % 7) for i in range(3)] for _ in range(2000)]
        r = self.d.post("/v1/models/tls/forward", {"inputs": x})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["outputs"]["shape"], [2000, 2])
        self.assertEqual(self.d.delete("/v1/models/tls").status_code, 200)

    def test_tokens_over_https(self):
        r = requests.get(self.d.url("/v1/models"), verify=self.cert,
                         timeout=60)
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.headers["WWW-Authenticate"],
                         'Bearer realm="blockd"')
        r = requests.get(self.d.url("/v1/health"), verify=self.cert,
                         timeout=60)
        self.assertEqual(r.status_code, 200, r.text)

    def test_origin_scheme_is_https(self):
        own = "https://127.0.0.1:%d" % self.d.port
        r = self.d.post("/v1/models", {"name": "o", "block": linear(1, 1)},
                        headers={"Origin": own})
        self.assertEqual(r.status_code, 201, r.text)
        r = self.d.delete("/v1/models/o", headers={
            "Origin": "http://127.0.0.1:%d" % self.d.port})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(self.d.delete("/v1/models/o").status_code, 200)

    def test_plain_http_gets_no_reply(self):
        with self.assertRaises(requests.exceptions.ConnectionError):
            requests.get("http://127.0.0.1:%d/v1/health" % self.d.port,
                         timeout=30)
        # And the daemon keeps serving HTTPS afterwards.
        self.assertEqual(self.d.get("/v1/health").status_code, 200)

    def test_certificate_is_checked_by_the_client(self):
        # The default trust store does not know the throwaway certificate,
        # and another certificate is not this one: the client refuses.
        with self.assertRaises(requests.exceptions.SSLError):
            requests.get(self.d.url("/v1/health"), timeout=30)
        with self.assertRaises(requests.exceptions.SSLError):
            requests.get(self.d.url("/v1/health"), verify=self.cert2,
                         timeout=30)

    def test_misconfigurations_refused_at_start(self):
        enc = os.path.join(self.tmp, "enc-key.pem")
        openssl("pkey", "-in", self.key, "-aes256", "-passout",
                "pass:secret", "-out", enc)
        junk = os.path.join(self.tmp, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        empty = os.path.join(self.tmp, "empty.pem")
        open(empty, "w").close()
        missing = os.path.join(self.tmp, "missing.pem")
        cases = [
            (["--tls-cert", self.cert], "--tls-cert needs --tls-key"),
            (["--tls-key", self.key], "--tls-key needs --tls-cert"),
            (["--tls-cert", missing, "--tls-key", self.key],
             "--tls-cert %s: cannot open" % missing),
            (["--tls-cert", self.cert, "--tls-key", missing],
             "--tls-key %s: cannot open" % missing),
            (["--tls-cert", empty, "--tls-key", self.key], "empty"),
            (["--tls-cert", junk, "--tls-key", self.key],
             "no PEM certificate"),
            (["--tls-cert", self.cert, "--tls-key", junk],
             "no usable PEM private key"),
            (["--tls-cert", self.key, "--tls-key", self.key],
             "no PEM certificate"),
            (["--tls-cert", self.cert, "--tls-key", self.key2],
             "does not match"),
            (["--tls-cert", self.cert, "--tls-key", enc], "passphrase"),
        ]
        for args, msg in cases:
            rc, out, err = start_fail(args)
            self.assertEqual(rc, 2, (args, err))
            self.assertIn(msg, err, args)
            self.assertEqual(out, "", args)

    def test_environment_variables(self):
        env = {"BLOCKD_TLS_CERT": self.cert, "BLOCKD_TLS_KEY": self.key}
        d = Daemon(env=env, verify=self.cert)
        try:
            self.assertEqual(d.scheme, "https")
            r = d.post("/v1/models", {"name": "e", "block": linear(1, 1)})
            self.assertEqual(r.status_code, 201, r.text)
            self.assertEqual(json.loads(d.get("/v1/models").text)["models"]
                             [0]["name"], "e")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
