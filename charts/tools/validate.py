#!/usr/bin/env python3
"""Validates rendered manifests (a `helm template` stream) against their schemas, offline.

Kubernetes' own kinds go through kubernetes-validate's strict schemas (an unknown field is an
error, as the API server's strict field validation makes it); ServiceMonitor, PrometheusRule
and HTTPRoute through the validators of the prometheus-operator and Gateway API models
(`validate-crds.mjs`, run with node). A kind neither knows is an error, never a skip.

    validate.py [--kube-version 1.36.0] [FILE]      (stdin without FILE)

Prints one line per object and exits 1 when any object fails.
"""

import argparse
import json
import os
import subprocess
import sys

try:
    import kubernetes_validate
    import yaml
except ImportError as e:  # pragma: no cover - a message, not a traceback
    sys.exit(f"validate.py: {e}: install charts/tools/requirements.txt (scripts/test does)")

HERE = os.path.dirname(os.path.abspath(__file__))
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
}


def tools_dir():
    default = os.path.join(HERE, "..", "..", "target", "tools")
    return os.environ.get("HEALBOT_TOOLS_DIR", default)


def name_of(doc):
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def main():
    parser = argparse.ArgumentParser(prog="validate.py")
    parser.add_argument("--kube-version", default="1.36.0")
    parser.add_argument("file", nargs="?")
    args = parser.parse_args()
    text = open(args.file, encoding="utf-8").read() if args.file else sys.stdin.read()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if not docs:
        print("validate.py: no objects to validate", file=sys.stderr)
        return 1

    failed = 0
    crds = []
    for doc in docs:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            print(f"FAIL {doc!r:.80}: not a Kubernetes object")
            failed += 1
            continue
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            crds.append(doc)
            continue
        try:
            version = kubernetes_validate.validate(doc, args.kube_version, strict=True)
            print(f"ok   {name_of(doc)} (Kubernetes {version}, strict)")
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            print(f"FAIL {name_of(doc)}: {path}: {e.message}")
            failed += 1
        except kubernetes_validate.SchemaNotFoundError as e:
            print(f"FAIL {name_of(doc)}: {e.message}")
            failed += 1

    if crds:
        node_modules = os.path.join(tools_dir(), "node", "node_modules")
        result = subprocess.run(
            ["node", os.path.join(HERE, "validate-crds.mjs"), node_modules],
            input=json.dumps(crds),
            capture_output=True,
            text=True,
        )
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.returncode != 0:
            failed += 1
    print(f"{len(docs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
