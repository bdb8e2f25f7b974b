"""proto/openapi.yaml is the contract: it is a valid OpenAPI 3.1 document
(openapi-spec-validator), it names every route the daemon has
(server/routes.c), GET /openapi.yaml serves exactly its bytes, and
schemathesis, driven by the served document against a live daemon that
holds a model, a tensor and files, finds no 5xx, no status code the
document does not list and no response outside its schema.

The validators come from PyPI, pinned below, into a virtualenv made from
/usr/bin/python3 --system-site-packages under the build dir and kept
between runs (rebuilt when the pins change). Installing them needs PyPI;
a failed install fails the test (CI has PyPI access): the contract is not
skipped silently.

BLOCKD_SCHEMATHESIS_SEED=N reruns the fuzzing with another seed (the
default is fixed so that a failure reproduces); BLOCKD_SCHEMATHESIS_EXAMPLES
changes the examples per operation."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from blockd_testlib import BUILD_DIR, Daemon, linear, relu, seq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOC = os.path.join(ROOT, "proto", "openapi.yaml")
SCHEMA = os.path.join(ROOT, "proto", "block-spec.schema.json")

# Versions that work with Debian 12's Python 3.11. hypothesis is pinned too:
# it generates the requests, and a new release may generate others.
PINS = ["openapi-spec-validator==0.9.0", "schemathesis==4.32.5",
        "hypothesis==6.170.17"]
VENV = os.path.join(os.path.abspath(BUILD_DIR), "openapi-venv")
EXAMPLES = int(os.environ.get("BLOCKD_SCHEMATHESIS_EXAMPLES", "20"))
SEED = int(os.environ.get("BLOCKD_SCHEMATHESIS_SEED", "12"))


def venv_python():
    """The virtualenv's python, made (or remade, when PINS changed) first.
    Raises on any failure: no PyPI is a failure, not a skip."""
    py = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, "blockd-pins.txt")
    want = "\n".join(PINS) + "\n"
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == want:
                return py
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                    VENV], check=True, timeout=300)
    r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check",
                        "-q"] + PINS, capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        raise AssertionError("pip install %s failed (exit %d):\n%s\n%s" %
                             (" ".join(PINS), r.returncode, r.stdout[-3000:],
                              r.stderr[-3000:]))
    with open(stamp, "w") as f:
        f.write(want)
    return py


def route_table():
    """(method, OpenAPI path template) of every route in server/routes.c;
    a "*" segment is matched against any {param} of the document."""
    with open(os.path.join(ROOT, "server", "routes.c")) as f:
        src = f.read()
    return re.findall(r'\{"([A-Z]+)",\s*"(/[^"]*)"', src)


# The daemon the fuzzer talks to holds the documented examples' model
# ("mlp": Linear(20, 256), ReLU, Linear(256, 10)), a tensor and two files,
# so that the {model}, {path}, {tensor} and {file} the fuzzer draws (mostly
# from these names, see CONFIG) reach real objects.
MLP = seq(linear(20, 256), relu(), linear(256, 10))
CONFIG = """
[dictionaries.models]
values = ["mlp", "mlp", "mlp", "nosuch"]
[dictionaries.params]
values = ["0.weight", "0.bias", "2.weight", "2.bias", "2", "0.1", "nosuch"]
[dictionaries.blocks]
values = ["0", "1", "2", "nosuch"]
[dictionaries.tensors]
values = ["x", "x", "y", "nosuch"]
[dictionaries.files]
values = ["ck.safetensors", "t.pt", "nosuch"]

[parameters]
"path.model" = { dictionary = "models", probability = 0.9 }
"path.tensor" = { dictionary = "tensors", probability = 0.9 }
"path.file" = { dictionary = "files", probability = 0.9 }

[[operations]]
include-path-regex = "/parameters/"
parameters = { "path.path" = { dictionary = "params", probability = 0.9 } }

[[operations]]
include-path-regex = "/blocks/"
parameters = { "path.path" = { dictionary = "blocks", probability = 0.9 } }

# Deleting the seeded objects would leave the later operations only 404s
# to test: the deletes aim at objects seeded for them.
[[operations]]
include-method = "DELETE"
parameters = { "path.model" = "gone", "path.tensor" = "gone", "path.file" = "gone" }
"""


# Run in the virtualenv: the document is valid OpenAPI 3.1, and every
# example in it (of a media type, a parameter or a schema) is valid under
# the schema it illustrates.
VALIDATE = r"""
import json, sys
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc, url = read_from_filename(sys.argv[1])
validate(doc, base_uri=url, cls=OpenAPIV31SpecValidator)
with open(sys.argv[2]) as f:
    block_spec = json.load(f)
base = "file:///blockd/proto/openapi.yaml"
registry = Registry().with_resources([
    (base, Resource.from_contents(doc, DRAFT202012)),
    ("file:///blockd/proto/block-spec.schema.json",
     Resource.from_contents(block_spec, DRAFT202012)),
])


def esc(k):
    return str(k).replace("~", "~0").replace("/", "~1")


checked = []
def check(schema_ptr, value, where):
    OAS31Validator({"$ref": base + "#" + schema_ptr},
                   registry=registry).validate(value)
    checked.append(where)


def walk(node, ptr):
    if isinstance(node, dict):
        if "example" in node and "schema" in node:
            check(ptr + "/schema", node["example"], ptr)
        # A list of examples is a schema's (a media type's or a
        # parameter's "examples" is a map of Example Objects).
        if isinstance(node.get("examples"), list):
            for i, ex in enumerate(node["examples"]):
                check(ptr, ex, ptr + "/examples/%d" % i)
        for k, v in node.items():
            walk(v, ptr + "/" + esc(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, ptr + "/%d" % i)


walk(doc, "")
print("valid, %d examples match their schemas" % len(checked))
"""


def seed(d):
    r = d.post("/v1/models", {"name": "mlp", "seed": 1, "device": "cpu",
                              "block": MLP})
    assert r.status_code == 201, r.text
    r = d.put("/v1/tensors/x", {"shape": [2, 20], "data": [[0.5] * 20] * 2})
    assert r.status_code == 201, r.text
    r = d.put("/v1/tensors/y", {"shape": [20, 3], "data": [[0.25] * 3] * 20})
    assert r.status_code == 201, r.text
    r = d.put("/v1/files/ck.safetensors", {"model": "mlp"})
    assert r.status_code == 201, r.text
    r = d.put("/v1/files/t.pt", {"tensors": ["x", "y"], "format": "torch"})
    assert r.status_code == 201, r.text
    # What the deletes remove (once; then they test the 404).
    r = d.post("/v1/models", {"name": "gone", "block": linear(2, 2)})
    assert r.status_code == 201, r.text
    r = d.put("/v1/tensors/gone", [1, 2])
    assert r.status_code == 201, r.text
    r = d.put("/v1/files/gone", {"tensors": "gone"})
    assert r.status_code == 201, r.text


class OpenAPI(unittest.TestCase):
    def test_every_route_is_documented(self):
        import yaml
        with open(DOC) as f:
            doc = yaml.safe_load(f)
        self.assertRegex(doc["openapi"], r"^3\.1\.\d+$")
        documented = set()
        for path, item in doc["paths"].items():
            for method in item:
                if method in ("get", "put", "post", "patch", "delete"):
                    documented.add((method.upper(),
                                    re.sub(r"\{[^}]+\}", "*", path)))
        routes = set(route_table())
        self.assertGreaterEqual(len(routes), 33)

        # A route's "*" is one path segment: the document may list the
        # concrete paths a wildcard route serves (/ui/app.js for /ui/*);
        # a trailing slash reaches the same route (/ui/ is the /ui route,
        # which answers the two differently).
        def covers(route, op):
            pat = "[^/]+".join(re.escape(p) for p in route[1].split("*"))
            return route[0] == op[0] and re.fullmatch(pat + "/?", op[1])
        self.assertEqual(
            sorted(r for r in routes
                   if not any(covers(r, op) for op in documented)), [],
            "routes missing from proto/openapi.yaml")
        self.assertEqual(
            sorted(op for op in documented
                   if not any(covers(r, op) for r in routes)), [],
            "documented operations the daemon lacks")
        # Every /v1 response (each has a body) says what its body is.
        for path, item in doc["paths"].items():
            if not path.startswith("/v1/"):
                continue
            for method, op in item.items():
                if method not in ("get", "put", "post", "patch", "delete"):
                    continue
                for code, resp in op["responses"].items():
                    if "$ref" not in resp:
                        self.assertIn("content", resp, (method, path, code))

    def test_served_document_is_the_built_one(self):
        with Daemon() as d:
            r = d.get("/openapi.yaml")
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.headers["Content-Type"], "application/yaml")
            with open(DOC, "rb") as f:
                self.assertEqual(r.content, f.read())
            r = d.get("/block-spec.schema.json")
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.headers["Content-Type"],
                             "application/schema+json")
            with open(SCHEMA, "rb") as f:
                self.assertEqual(r.content, f.read())
            r = d.post("/openapi.yaml", {})
            self.assertEqual(r.status_code, 405)
            self.assertEqual(r.headers["Allow"], "GET")

    def test_document_is_valid_openapi_3_1(self):
        py = venv_python()
        r = subprocess.run([py, "-c", VALIDATE, DOC, SCHEMA],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-6000:])
        m = re.fullmatch(r"valid, (\d+) examples match their schemas",
                         r.stdout.strip())
        self.assertIsNotNone(m, r.stdout)
        self.assertGreaterEqual(int(m.group(1)), 40)

    def test_schemathesis_against_a_live_daemon(self):
        py = venv_python()
        st = os.path.join(os.path.dirname(py), "schemathesis")
        tmp = tempfile.mkdtemp(prefix="blockd-openapi-")
        try:
            cfg = os.path.join(tmp, "schemathesis.toml")
            with open(cfg, "w") as f:
                f.write(CONFIG)
            with Daemon("--max-body", "1M", "--max-elements", "1000000",
                        "--max-model-bytes", "8M", "--workers", "2") as d:
                seed(d)
                t0 = time.monotonic()
                cmd = [st, "--config-file", cfg, "--no-color", "run",
                       d.url("/openapi.yaml"), "--url", d.base,
                       "--checks", "not_a_server_error,status_code_conformance,"
                       "response_schema_conformance,content_type_conformance",
                       "--phases", "examples,coverage,fuzzing",
                       "--max-examples", str(EXAMPLES), "--seed", str(SEED),
                       "--workers", "1", "--request-timeout", "60",
                       "--generation-database", "none",
                       "--suppress-health-check", "all",
                       "--continue-on-failure"]
                r = subprocess.run(cmd, capture_output=True, text=True,
                                   timeout=900, cwd=tmp)
                dt = time.monotonic() - t0
                out = r.stdout + r.stderr
                print(out[-8000:])
                print("schemathesis: %.1f s" % dt)
                self.assertEqual(r.returncode, 0, out[-12000:])
                m = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
                self.assertIsNotNone(m, out[-3000:])
                # Every operation ran (none skipped as unusable); schemathesis
                # leaves out GET /openapi.yaml, the document it loaded.
                self.assertEqual(len({m.group(1), m.group(2), m.group(3)}), 1,
                                 out[-3000:])
                self.assertGreaterEqual(int(m.group(3)), len(route_table()) - 1)
                m = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed",
                              out)
                self.assertIsNotNone(m, out[-3000:])
                self.assertEqual(m.group(1), m.group(2))
                self.assertGreaterEqual(int(m.group(1)), 10 * len(route_table()))
                # The daemon is still whole: the seeded model answers.
                self.assertEqual(d.get("/v1/models/mlp").status_code, 200)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
