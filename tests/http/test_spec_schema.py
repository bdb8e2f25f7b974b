"""proto/block-spec.schema.json against the specs the C unit suite builds:
every JSON spec literal in tests/unit/test_blocks_catalog.c must be valid
under the published schema (the Python suites validate theirs as they
post them), and the schema must reject what the parser rejects."""
import json
import os
import re
import unittest

from blockd_schema import is_valid_spec, validate_spec

UNIT = os.path.join(os.path.dirname(__file__), "..", "unit",
                    "test_blocks_catalog.c")


def c_spec_literals(path):
    """JSON objects written as (possibly split) C string literals."""
    src = open(path).read()
    # adjacent literals separated by whitespace are one string in C
    runs = re.findall(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', src)
    out = []
    for run in runs:
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', run)
        text = "".join(parts).encode().decode("unicode_escape")
        if not text.startswith("{\""):
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if isinstance(obj, dict) and ("type" in obj or "ref" in obj):
            out.append(obj)
    return out


class SpecSchema(unittest.TestCase):
    def test_unit_suite_specs_are_valid(self):
        specs = c_spec_literals(UNIT)
        self.assertGreater(len(specs), 40)
        for s in specs:
            with self.subTest(spec=s):
                validate_spec(s)

    def test_schema_rejects(self):
        bad = [
            {"type": "linear", "in_features": 0, "out_features": 1},
            {"type": "sequential"},
            {"type": "sequential", "layers": [{"ref": "a", "extra": 1}]},
            {"type": "while", "cond": {"reduce": "abs_sum"}, "body":
             {"type": "identity"}},
            {"type": "matmul", "weight": {"shape": [2]}},
            {"type": "dropout", "p": -0.1},
            {"type": "relu", "name": "a.b"},
            {"name": "x"},
            {"type": "sum", "dim": 8},
            {"type": "mean", "dim": 1.5},
            {"type": "sum", "keepdim": 1},
            {"type": "mean", "dim": 0, "axis": 0},
        ]
        for s in bad:
            with self.subTest(spec=s):
                self.assertFalse(is_valid_spec(s))
        # dim null is torch's None, as the parser takes it
        self.assertTrue(is_valid_spec({"type": "sum", "dim": None,
                                       "keepdim": True}))
        # plugin types are open: their fields are the plugin's business
        self.assertTrue(is_valid_spec({"type": "mylinear", "in_units": 2,
                                       "units": 3}))


if __name__ == "__main__":
    unittest.main()
