#!/usr/bin/env python3
"""Key paths of Rook's CephCluster and CephBlockPool CRD schemas, one per line.

Regenerate (never edit the output by hand):
  git -C <rook checkout> show v1.20.6:deploy/examples/crds.yaml > /tmp/crds.yaml
  python3 tests/data/rook/crd-paths.py /tmp/crds.yaml > tests/data/rook/crd-paths-v1.20.6.txt

A path is `<Kind>.<field>.<field>...`; `[]` stands for an array element and `*` for a map
value or a subtree the schema leaves open (x-kubernetes-preserve-unknown-fields).
"""
import sys

import yaml

KINDS = {"CephCluster", "CephBlockPool"}


def walk(schema, path, out):
    out.add(path)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        out.add(path + ".*")
    for name, sub in (schema.get("properties") or {}).items():
        walk(sub, f"{path}.{name}", out)
    if isinstance(schema.get("additionalProperties"), dict):
        walk(schema["additionalProperties"], path + ".*", out)
    if "items" in schema:
        walk(schema["items"], path + "[]", out)


def main():
    out = set()
    with open(sys.argv[1]) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            kind = doc["spec"]["names"]["kind"]
            if kind not in KINDS:
                continue
            for v in doc["spec"]["versions"]:
                if v["name"] == "v1":
                    walk(v["schema"]["openAPIV3Schema"], kind, out)
    for p in sorted(out):
        print(p)


main()
