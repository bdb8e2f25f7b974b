"""Access logs and request ids (issue 12): --log-format json writes one
JSON object per line with the request's fields; text lines keep one
event on one line whatever the path holds; --log-file is reopened on
SIGHUP after logrotate renames it; a client's sane X-Request-Id is kept
and echoed, a hostile one is replaced."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from blockd_testlib import BLOCKD_BIN, Daemon, linear, wait_for


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        return []


class LogTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="blockd-logs-")
        self.log = os.path.join(self.tmp, "blockd.log")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, fmt):
        return Daemon("--log-level", "info", "--log-format", fmt,
                      "--log-file", self.log)

    def json_events(self, path=None):
        return [json.loads(l) for l in read_lines(path or self.log)]

    def access(self, rid, path=None):
        """The access event of request rid, waiting for it to be written
        (the line is written when the request completes)."""
        box = {}

        def found():
            for e in self.json_events(path):
                if e.get("msg") == "access" and e.get("request_id") == rid:
                    box["e"] = e
                    return True
            return False
        self.assertTrue(wait_for(found, timeout=20), rid)
        return box["e"]


class JsonLogs(LogTest):
    def test_json_lines_carry_the_request_fields(self):
        with self.start("json") as d:
            body = json.dumps({"name": "lg", "block": linear(2, 1)})
            r = d.post("/v1/models", data=body,
                       headers={"X-Request-Id": "create-1",
                                "Content-Type": "application/json"})
            self.assertEqual(r.status_code, 201)
            e = self.access("create-1")
            self.assertEqual(e["level"], "info")
            self.assertEqual(e["method"], "POST")
            self.assertEqual(e["route"], "/v1/models")
            self.assertEqual(e["path"], "/v1/models")
            self.assertEqual(e["status"], 201)
            self.assertEqual(e["bytes_in"], len(body))
            self.assertEqual(e["bytes_out"], len(r.content))
            self.assertEqual(e["client"], "127.0.0.1")
            self.assertIsInstance(e["latency_ms"], float)
            self.assertGreaterEqual(e["latency_ms"], 0)
            self.assertRegex(e["ts"],
                             r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertNotIn("aborted", e)

            r = d.post("/v1/models/lg/forward", {"inputs": [[1, 2, 3]]},
                       headers={"X-Request-Id": "bad-shape"})
            self.assertEqual(r.status_code, 422)
            e = self.access("bad-shape")
            self.assertEqual((e["route"], e["path"], e["status"]),
                             ("/v1/models/{m}/forward",
                              "/v1/models/lg/forward", 422))

            # A path holding a newline, a quote and bytes that are not
            # UTF-8 stays one valid JSON line.
            r = d.get("/v1/tensors/a%0Ab%22c%FF",
                      headers={"X-Request-Id": "odd-path"})
            self.assertEqual(r.status_code, 400)
            e = self.access("odd-path")
            self.assertEqual(e["path"], "/v1/tensors/a\nb\"c\ufffd")
        # Every line of the file, the daemon's own messages included, is
        # one JSON object with ts, level and msg.
        lines = read_lines(self.log)
        self.assertGreater(len(lines), 3)
        for line in lines:
            e = json.loads(line)
            self.assertIsInstance(e, dict)
            self.assertEqual(set(e) >= {"ts", "level", "msg"}, True, e)


class ErrorLogs(LogTest):
    def test_error_event_shares_the_request_id(self):
        with Daemon("--log-level", "debug", "--log-format", "json",
                    "--log-file", self.log) as d:
            r = d.get("/v1/models/absent", headers={"X-Request-Id": "e-1"})
            self.assertEqual(r.status_code, 404)
            self.access("e-1")
            errs = [e for e in self.json_events()
                    if e["msg"] == "error" and e.get("request_id") == "e-1"]
            self.assertEqual(len(errs), 1)
            self.assertEqual(errs[0]["level"], "debug")
            self.assertEqual(errs[0]["status"], 404)
            self.assertEqual(errs[0]["code"], "not_found")
            self.assertEqual(errs[0]["message"], r.json()["error"]["message"])
        # At info, a client's mistake leaves only the access line.
        os.remove(self.log)
        with self.start("json") as d:
            d.get("/v1/models/absent", headers={"X-Request-Id": "e-2"})
            self.access("e-2")
            self.assertFalse(any(e["msg"] == "error"
                                 for e in self.json_events()))


class TextLogs(LogTest):
    def test_text_lines_are_key_value_and_one_line_each(self):
        with self.start("text") as d:
            d.get("/v1/health", headers={"X-Request-Id": "txt-1"})
            d.get("/v1/tensors/x%0Ay%20z", headers={"X-Request-Id": "txt-2"})

            def have(rid):
                return any(("request_id=%s " % rid) in l
                           for l in read_lines(self.log))
            self.assertTrue(wait_for(lambda: have("txt-1") and have("txt-2"),
                                     timeout=20))
        lines = read_lines(self.log)
        one = [l for l in lines if "request_id=txt-1 " in l]
        self.assertEqual(len(one), 1)
        self.assertRegex(one[0], r"^\S+Z info access request_id=txt-1 "
                                 r"client=127\.0\.0\.1 method=GET "
                                 r"route=/v1/health path=/v1/health "
                                 r"status=200 latency_ms=\d+\.\d{3} "
                                 r"bytes_in=0 bytes_out=\d+$")
        two = [l for l in lines if "request_id=txt-2 " in l]
        self.assertEqual(len(two), 1)
        self.assertIn(r'path="/v1/tensors/x\x0ay z"', two[0])


class Rotation(LogTest):
    def test_sighup_after_rename_writes_to_a_new_file(self):
        with self.start("json") as d:
            d.get("/v1/health", headers={"X-Request-Id": "before-rotate"})
            self.access("before-rotate")
            rotated = self.log + ".1"
            os.rename(self.log, rotated)
            d.proc.send_signal(signal.SIGHUP)
            # The reopen is logged to the new file once it is in place.
            self.assertTrue(wait_for(
                lambda: any("reopened" in e["msg"]
                            for e in self.json_events()), timeout=20))
            d.get("/v1/health", headers={"X-Request-Id": "after-rotate"})
            self.access("after-rotate")
            old = [e.get("request_id") for e in self.json_events(rotated)]
            self.assertIn("before-rotate", old)
            self.assertNotIn("after-rotate", old)
            new = [e.get("request_id") for e in self.json_events()]
            self.assertNotIn("before-rotate", new)
            # A second rotation works the same way.
            os.rename(self.log, self.log + ".2")
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: os.path.exists(self.log),
                                     timeout=20))
            d.get("/v1/health", headers={"X-Request-Id": "after-second"})
            self.access("after-second")
            self.assertEqual(d.get("/v1/health").status_code, 200)

    def test_log_file_that_cannot_be_opened_is_an_error(self):
        bad = os.path.join(self.tmp, "no", "such", "dir", "x.log")
        p = subprocess.run([BLOCKD_BIN, "--listen", "127.0.0.1:0",
                            "--data-dir", self.tmp, "--log-file", bad],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--log-file", p.stderr)


class RequestIds(LogTest):
    def test_incoming_id_is_kept_and_echoed(self):
        with self.start("json") as d:
            for rid in ("abc-DEF_123.x", "0f8fad5b-d9cb-469f-a165-70867728950e",
                        "a" * 128, "trace:1/2+3=4@x"):
                r = d.get("/v1/health", headers={"X-Request-Id": rid})
                self.assertEqual(r.headers["X-Request-Id"], rid)
                self.assertEqual(self.access(rid)["request_id"], rid)
            # Without one, blockd numbers the request itself.
            r = d.get("/v1/health")
            self.assertTrue(r.headers["X-Request-Id"].isdigit())
            # Errors echo it too.
            r = d.get("/v1/models/nope", headers={"X-Request-Id": "err-1"})
            self.assertEqual(r.status_code, 404)
            self.assertEqual(r.headers["X-Request-Id"], "err-1")

    def test_hostile_id_is_replaced(self):
        with self.start("json") as d:
            hostile = ["evil\x01id", "x" * 10240, "a" * 129, "has space",
                       'quo"te', "semi;colon", "\x7f", "caf\u00e9"]
            for rid in hostile:
                hdr = rid.encode("utf-8").decode("latin-1")
                r = d.get("/v1/health", headers={"X-Request-Id": hdr})
                self.assertEqual(r.status_code, 200)
                echoed = r.headers["X-Request-Id"]
                self.assertTrue(echoed.isdigit(), (rid[:20], echoed[:40]))
                self.access(echoed)
            with open(self.log, encoding="utf-8") as f:
                text = f.read()
            self.assertNotIn("x" * 200, text)
            self.assertNotIn("evil", text)
            self.assertNotIn("\x01", text)


if __name__ == "__main__":
    unittest.main()
