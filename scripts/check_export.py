#!/usr/bin/env python3
"""Checks an exported drive against the writer JSON Schemas and the export's routing promises.

Usage: scripts/check_export.py DRIVE SCHEMA_DIR
  DRIVE       the --to folder of `midictl export` (holds midid-index.json)
  SCHEMA_DIR  the folder with mpcpattern.writer.schema.json and progression.writer.schema.json
              (in the steering repository: shared/formats/schema)

Needs `pip install jsonschema`. Prints what it checked; exits 1 if anything fails. The project's
tests check the same rules as code; this is the check against the published schemas.
"""
import collections
import json
import os
import sys

from jsonschema import validators

DRUM_FOLDERS = {"kick": "Kicks", "snare": "Snares", "hat_closed": "Hats", "hat_open": "Hats",
                "crash": "Cymbals", "ride": "Cymbals", "toms": "Toms", "perc": "Percussion"}


def validator(schema_dir, name):
    with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
        schema = json.load(f)
    return validators.validator_for(schema)(schema)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    root, schema_dir = sys.argv[1], sys.argv[2]
    checks = {".mpcpattern": validator(schema_dir, "mpcpattern.writer.schema.json"),
              ".progression": validator(schema_dir, "progression.writer.schema.json")}
    seen = collections.Counter()
    failures = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            ext = os.path.splitext(name)[1]
            if ext not in checks:
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            seen[ext] += 1
            for err in checks[ext].iter_errors(doc):
                failures.append(f"{path}: {err.message[:200]}")
    with open(os.path.join(root, "midid-index.json"), encoding="utf-8") as f:
        index = json.load(f)
    per_folder = collections.Counter()
    drums = chords = 0
    for e in index["files"]:
        per_folder[os.path.dirname(e["mid"])] += 1
        outputs = [e["mid"], *e["patterns"], *([e["progression"]] if e["progression"] else [])]
        failures += [f"listed but missing: {p}" for p in outputs if not os.path.exists(os.path.join(root, p))]
        if e["role"] == "drums" and e["drum"]:
            drums += 1
            want = f"MPC_Documents/SAMPLES/Drums/{DRUM_FOLDERS[e['drum']]}/"
            if not e["mid"].startswith(want):
                failures.append(f"drum file with dominant {e['drum']} outside {want}: {e['mid']}")
        if e["role"] == "chords" and not e["copy_only"]:
            chords += 1
            if not e["progression"]:
                failures.append(f"chord file without a progression: {e['mid']}")
    crowded = [f for f, n in per_folder.items() if n > 1000]
    failures += [f"folder over 1,000 files: {f}" for f in crowded]
    print(f"{seen['.mpcpattern']} .mpcpattern and {seen['.progression']} .progression files validated against the writer schemas")
    print(f"{len(index['files'])} indexed files; {drums} drum files with a dominant part; {chords} chord files; "
          f"largest folder {max(per_folder.values(), default=0)} files")
    for line in failures[:50]:
        print("FAIL", line)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
