#!/usr/bin/env python3
"""Keeps pipeline.schema.json honest (test pipelines.schema).

Usage: check-schema.py SOURCE_DIR

- the schema is a valid Draft 2020-12 schema;
- every pipelines/examples/*.json validates against it;
- every tests/unit/pipelines-bad/*.json that is valid JSON is rejected by it, except the
  files listed in SEMANTIC below, whose faults only the agent's checks can see (a schema
  cannot compare two values) — and those must be accepted, so the list stays exact.
Exits 77 (skipped) when the python3 jsonschema module is missing (Debian: python3-jsonschema).
"""
import glob
import json
import os
import sys

SEMANTIC = {
    "duplicate-stage-name", "duplicate-variant-name", "millicores-min-gt-max",
    "millicores-step-not-dividing", "plan-batch-over-stage-limit", "plan-millicores-off-step",
    "plan-replicas-over-range", "plan-unknown-variant", "plan-wrong-length",
    "profile-model-negative-latency", "tensor-duplicate-name", "tensor-output-variable-not-last", "profile-points-one-core-limit", "replicas-min-gt-max",
    # Python's json keeps the last of duplicate keys; jansson is told to reject them.
    "syntax-duplicate-key",
}


def main():
    try:
        import jsonschema
    except ImportError:
        print("skipped: python3 module jsonschema is not installed (python3-jsonschema)")
        return 77
    src = sys.argv[1]
    with open(os.path.join(src, "pipelines/schema/pipeline.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0

    examples = sorted(glob.glob(os.path.join(src, "pipelines/examples/*.json")))
    for path in examples:
        with open(path) as f:
            errors = list(validator.iter_errors(json.load(f)))
        for e in errors:
            print(f"FAIL {path}: /{'/'.join(map(str, e.path))}: {e.message}")
            failures += 1
    bad = sorted(glob.glob(os.path.join(src, "tests/unit/pipelines-bad/*.json")))
    checked = 0
    for path in bad:
        name = os.path.basename(path)[:-5]
        try:
            with open(path) as f:
                doc = json.load(f)
        except json.JSONDecodeError:
            continue  # syntax errors: nothing for a schema to say
        checked += 1
        rejected = any(True for _ in validator.iter_errors(doc))
        if rejected == (name in SEMANTIC):
            what = "rejected, but listed as semantic" if rejected else "accepted by the schema"
            print(f"FAIL {path}: {what}")
            failures += 1
    if len(examples) < 3 or checked < 30:
        print(f"FAIL: found {len(examples)} examples and {checked} bad files")
        failures += 1
    print(f"{len(examples)} examples valid, {checked} bad files checked, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
