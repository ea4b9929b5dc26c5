#!/usr/bin/env python3
"""Derives the log-wrapped variants of the real traces in this directory: the same bytes as
the runtime printed them, wrapped the way the named log pipeline stores them (formats as
documented by Docker's json-file driver, the CRI log format kubelet writes, `kubectl logs
--prefix --timestamps`, journald's short output, docker compose's prefix, a JSON string as
pasted into an issue, and a shipper that joins a multi-line record with spaces).
Run from this directory: python3 make-variants.py"""
import json

TS = "2026-12-03T17:20:38.{:06d}Z"


def lines(name):
    with open(name) as f:
        return f.read().splitlines(keepends=True)


def write(name, text):
    with open(name, "w") as f:
        f.write(text)


def docker(src, dst):
    out = ""
    for i, line in enumerate(lines(src)):
        out += json.dumps({"log": line, "stream": "stderr", "time": TS.format(i)}) + "\n"
    write(dst, out)


def cri(src, dst):
    write(dst, "".join(f"{TS.format(i)} stderr F {l}" for i, l in enumerate(lines(src))))


def kubectl(src, dst, pod):
    write(dst, "".join(f"[pod/{pod}] {TS.format(i)} {l}" for i, l in enumerate(lines(src))))


def journald(src, dst):
    write(dst, "".join(f"Dec 03 17:20:38 node-3 orders[4121]: {l}" for l in lines(src)))


def compose(src, dst):
    write(dst, "".join(f"orders-1  | {l}" for l in lines(src)))


def json_string(src, dst):
    with open(src) as f:
        write(dst, json.dumps(f.read()) + "\n")


def same_line(src, dst):
    # A shipper's multi-line joiner put the message after the location, on its line.
    text = open(src).read()
    head, _, rest = text.partition(":\n")
    write(dst, head + ": " + rest)


docker("rust-slice-debug.txt", "rust-slice-docker.jsonl")
cri("rust-divide-debug.txt", "rust-divide-cri.txt")
kubectl("rust-thread-debug.txt", "rust-thread-kubectl.txt", "api-7d9f8c6b5-x2x9q/api")
json_string("rust-expect-debug.txt", "rust-expect-json-string.txt")
same_line("rust-dep-debug.txt", "rust-dep-same-line.txt")
journald("python-chained-cause.txt", "python-chained-cause-journald.txt")
compose("go-index-all.txt", "go-index-compose.txt")
kubectl("java-caused-by.txt", "java-caused-by-kubectl.txt", "orders-5c8d7/orders")
docker("node-async.txt", "node-async-docker.jsonl")
