#!/usr/bin/env python3
"""`helm lint` and `helm template` over Helm's own Go SDK, for machines without a helm binary.

No package registry reachable here ships a helm executable; helm-python-sdk (PyPI) ships Helm's
Go SDK (Helm 4.2.3) compiled into a shared library, and this script drives it the way the helm
CLI does, so the chart tests run the real Helm template engine, linter and values-schema check.
Where a real helm is installed, the same commands work with it:

    helm.py lint CHART [-f VALUES]... [--strict] [--kube-version v1.30.0]
    helm.py template NAME CHART [-f VALUES]... [--namespace NS] [--notes]

`template` prints the manifests as helm does (`---`, `# Source: <template>`, in template order);
`--notes` prints the rendered NOTES.txt instead, which `helm install` shows. Exit 1 on a lint
error (a warning too with --strict), a template that fails, or values the schema refuses.
"""

import argparse
import sys

try:
    import helm_python
    import yaml
except ImportError as e:  # pragma: no cover - a message, not a traceback
    sys.exit(f"helm.py: {e}: install charts/tools/requirements.txt (scripts/test does)")

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def merge(base, override):
    """Helm's merge of values files: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else value
        return out
    return override


def load_values(files):
    values = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        if not isinstance(doc, dict):
            sys.exit(f"helm.py: {path}: a values file must hold a map")
        values = merge(values, doc)
    return values


def lint(args):
    values = load_values(args.values)
    report = helm_python.lint(
        args.chart, values, strict=args.strict, kube_version=args.kube_version
    )
    failed = bool(report.get("errors"))
    for message in report.get("messages", []):
        severity = message.get("severity", 0)
        print(f"[{SEVERITY.get(severity, severity)}] {message.get('path')}: {message.get('error')}")
        if severity >= 3 or (args.strict and severity >= 2):
            failed = True
    for error in report.get("errors", []):
        print(f"Error: {error}")
    linted = report.get("total_charts_linted", 0)
    print(f"{linted} chart(s) linted, {'1 chart(s) failed' if failed else '0 chart(s) failed'}")
    return 1 if failed or linted == 0 else 0


def template(args):
    values = load_values(args.values)
    with helm_python.Chart.load(args.chart) as chart:
        # The schema check helm install/template make before rendering.
        chart.validate_schema(values)
        rendered = chart.render(
            values=values, name=args.name, namespace=args.namespace, is_install=True
        )
    if args.notes:
        notes = [text for path, text in rendered.items() if path.endswith("/templates/NOTES.txt")]
        print("".join(notes), end="")
        return 0
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        # One template may hold several documents; helm prints each with its source.
        for doc in text.split("\n---"):
            if doc.strip() and any(
                line.strip() and not line.lstrip().startswith("#") for line in doc.splitlines()
            ):
                print(f"---\n# Source: {path}\n{doc.strip(chr(10))}")
    return 0


def main():
    parser = argparse.ArgumentParser(prog="helm.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("lint", help="run helm's linter on a chart")
    p.add_argument("chart")
    p.add_argument("-f", "--values", action="append", default=[])
    p.add_argument("--strict", action="store_true")
    p.add_argument("--kube-version")
    p.set_defaults(run=lint)
    p = sub.add_parser("template", help="render a chart's manifests")
    p.add_argument("name")
    p.add_argument("chart")
    p.add_argument("-f", "--values", action="append", default=[])
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--notes", action="store_true", help="print the rendered NOTES.txt")
    p.set_defaults(run=template)
    args = parser.parse_args()
    try:
        return args.run(args)
    except helm_python.HelmError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `helm.py template … | head`
        sys.stderr.close()
        sys.exit(0)
