"""Reads scenario files as a YAML 1.1 tool does, and compares with uidlmap's reading.

Usage: yaml_portable.py SCHEMA.json LIST.tsv
LIST.tsv holds one `yaml path<TAB>json path` per line: the JSON is the file as uidlmap's
parser reads it. Each YAML file is read with PyYAML's safe_load and must give the same
data; with the jsonschema module present, that data must also validate against the
schema. Prints one line per problem and `N passed, M failed`; exits 1 on any problem.
"""
import json
import sys

import yaml

try:
    import jsonschema
except ImportError:  # the schema check is skipped, the YAML check still runs
    jsonschema = None


def norm(v):
    """Plain data: mapping keys as text (JSON has no other), numbers compared by value."""
    if isinstance(v, dict):
        return {str(k) if not isinstance(k, bool) else repr(k): norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return repr(v)  # dates, sets, …: never equal to what uidlmap reads


def first_difference(a, b, path="$"):
    if type(a) is bool or type(b) is bool:
        if a is not b and a != b or type(a) is not type(b):
            return path
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length)"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else path


def main():
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    validator = None
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator(schema)
    passed = failed = 0
    for line in open(sys.argv[2], encoding="utf-8"):
        yaml_path, json_path = line.rstrip("\n").split("\t")
        ours = json.load(open(json_path, encoding="utf-8"))
        try:
            theirs = norm(yaml.safe_load(open(yaml_path, encoding="utf-8")))
        except yaml.YAMLError as e:
            print(f"{yaml_path}: a YAML 1.1 reader can't read it: {e}".replace("\n", " "))
            failed += 1
            continue
        d = first_difference(norm(ours), theirs)
        if d:
            print(f"{yaml_path}: a YAML 1.1 reader reads {d} differently")
            failed += 1
            continue
        if validator is not None:
            errors = sorted(validator.iter_errors(ours), key=lambda e: list(e.path))
            if errors:
                e = errors[0]
                where = "$" + "".join(f"[{p!r}]" for p in e.path)
                print(f"{yaml_path}: does not validate against the schema at {where}: {e.message}")
                failed += 1
                continue
        passed += 1
    print(f"{passed} passed, {failed} failed" + ("" if validator else " (no jsonschema module: schema not checked)"))
    sys.exit(1 if failed else 0)


main()
