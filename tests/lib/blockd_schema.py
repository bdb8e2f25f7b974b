"""Validation of block specs against proto/block-spec.schema.json (the
published JSON Schema). Every spec a catalog test posts goes through
validate_spec, so the schema and the daemon's parser cannot drift apart
silently. Needs Debian's python3-jsonschema."""
import json
import os

import jsonschema

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "proto",
                           "block-spec.schema.json")

with open(SCHEMA_PATH) as f:
    SCHEMA = json.load(f)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate_spec(spec):
    """Raises jsonschema.ValidationError when spec is not a valid block
    spec."""
    _VALIDATOR.validate(spec)


def is_valid_spec(spec):
    return _VALIDATOR.is_valid(spec)
