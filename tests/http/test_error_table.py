"""The one error table: every wire code in engine/status.h's BD_STATUS_MAP
is the code proto/openapi.yaml publishes, and each code is sent with its
row's HTTP status by a real daemon (413 two ways: payload_too_large for a
body over --max-body, too_large for a resource the request asks for)."""
import json
import os
import re
import unittest

from blockd_testlib import Daemon

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def status_rows():
    """(enum suffix, HTTP status, wire code) of every BD_STATUS_MAP row."""
    src = open(os.path.join(ROOT, "engine", "status.h")).read()
    table = src[src.index("#define BD_STATUS_MAP(XX)"):]
    table = table[:table.index("typedef enum")]
    return [(n, int(h), c) for n, h, c in
            re.findall(r'XX\((\w+),\s*(\d+),\s*"(\w+)"', table)]


def openapi_codes():
    src = open(os.path.join(ROOT, "proto", "openapi.yaml")).read()
    m = re.search(r"description: machine-readable code[^\n]*\n\s*enum: "
                  r"\[([^\]]*)\]", src)
    return [c.strip() for c in m.group(1).split(",")]


class ErrorTable(unittest.TestCase):
    def test_table_shape(self):
        rows = status_rows()
        self.assertGreaterEqual(len(rows), 23)
        self.assertEqual(rows[0], ("OK", 200, "ok"))
        codes = [c for _, _, c in rows]
        self.assertEqual(len(codes), len(set(codes)), "a wire code twice")
        for n, h, c in rows[1:]:
            self.assertTrue(400 <= h < 600, (n, h))
        http = {c: h for _, h, c in rows}
        self.assertEqual(http["method_not_allowed"], 405)
        self.assertEqual(http["unsupported_media_type"], 415)
        self.assertEqual(http["payload_too_large"], 413)
        self.assertEqual(http["too_large"], 413)

    def test_openapi_lists_every_code(self):
        table = sorted(c for _, _, c in status_rows() if c != "ok")
        self.assertEqual(sorted(openapi_codes()), table)

    def test_daemon_sends_each_front_end_code_with_its_status(self):
        http = {c: h for _, h, c in status_rows()}
        with Daemon("--max-body", "1K") as d:
            cases = [
                ("PUT", "/v1/health", None, {}, "method_not_allowed"),
                ("POST", "/v1/models", "{}", {"Content-Type": "text/plain"},
                 "unsupported_media_type"),
                ("POST", "/v1/models", json.dumps({"pad": "x" * 2000}),
                 {"Content-Type": "application/json"}, "payload_too_large"),
                ("POST", "/v1/models", "{", {"Content-Type":
                                             "application/json"},
                 "malformed_json"),
                ("GET", "/v1/models/none", None, {}, "not_found"),
            ]
            for method, path, body, headers, code in cases:
                r = d.session.request(method, d.url(path), data=body,
                                      headers=headers, timeout=60)
                self.assertEqual(r.status_code, http[code], (code, r.text))
                self.assertEqual(r.headers["Content-Type"],
                                 "application/json")
                err = r.json()["error"]
                self.assertEqual(set(err), {"code", "message"})
                self.assertEqual(err["code"], code)
                self.assertTrue(err["message"])
            r = d.session.put(d.url("/v1/health"), timeout=60)
            self.assertEqual(r.headers["Allow"], "GET")


if __name__ == "__main__":
    unittest.main()
