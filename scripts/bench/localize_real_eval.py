"""`scripts/bench/localize-eval` on the real-code set: runs `healbot localize` on every case's
faulty snapshot with its captured trace and reports top-1/top-5 (a candidate counts when it is
in the fix file and within 5 lines of a fix line) per language, kind and place of the fix, with
the time per case."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evalset  # noqa: E402


def rank_of(cands: list[dict], fix: dict) -> int | None:
    for i, c in enumerate(cands, 1):
        if evalset.near(c.get("file", ""), int(c.get("line", 0)), fix):
            return i
    return None


def table(rows: list[dict], key) -> list[str]:
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = []
    for g in sorted(groups):
        rs = groups[g]
        n = len(rs)
        t1 = sum(1 for r in rs if r["rank"] == 1)
        t5 = sum(1 for r in rs if r["rank"] is not None and r["rank"] <= 5)
        err = sum(1 for r in rs if r["error"])
        out.append(f"  {g:<22} {n:>4}   top-1 {t1:>3} ({100 * t1 / n:5.1f}%)   "
                   f"top-5 {t5:>3} ({100 * t5 / n:5.1f}%)   refused {err}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench/localize-eval")
    ap.add_argument("--bin", default=str(evalset.ROOT / "target" / "release" / "healbot"),
                    help="the healbot binary (default: target/release/healbot)")
    ap.add_argument("--json", help="also write the per-case results to this file")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("only", nargs="*", help="case ids, languages or kinds to run")
    args = ap.parse_args()
    if not Path(args.bin).exists():
        evalset.log(f"no healbot binary at {args.bin}: run `cargo build --release` first")
        return 2
    cases = evalset.load_cases(args.only or None)
    rows, invalid = [], 0
    for case in cases:
        problems = evalset.validate(case)
        if not problems:
            repo = evalset.snapshot(case)
            fix_file = repo / case.data["fix"]["file"]
            n_lines = fix_file.read_text(errors="replace").count("\n") + 1 if fix_file.is_file() else 0
            if not n_lines or max(case.data["fix"]["lines"]) > n_lines:
                problems.append(f"fix location {case.data['fix']} is not in the snapshot")
        if problems:
            invalid += 1
            evalset.log(f"{case.id}: skipped, {'; '.join(problems)}")
            continue
        cmd = [args.bin, "localize", "--repo", str(repo), "--trace", str(case.trace_path),
               "--format", "json", "--top", str(args.top)]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        secs = time.perf_counter() - t0
        cands, error = [], None
        if p.returncode != 0:
            error = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
        else:
            try:
                cands = json.loads(p.stdout)
            except json.JSONDecodeError as e:
                error = f"output is not JSON: {e}"
        rank = rank_of(cands, case.data["fix"])
        rows.append({"id": case.id, "language": case.language, "kind": case.kind,
                     "relation": case.data.get("fix_relation", "?"),
                     "panic_kind": case.data.get("panic_kind", "?"),
                     "rank": rank, "seconds": secs, "error": error,
                     "fix": case.data["fix"], "top": [f"{c['file']}:{c['line']}" for c in cands[:3]]})
        shown = f"rank {rank}" if rank else ("refused: " + error if error else "miss")
        print(f"{case.id:<52} {case.language:<10} {case.kind:<9} {rows[-1]['relation']:<9} "
              f"{shown:<10.60} {secs * 1000:7.0f} ms", flush=True)
    if not rows:
        evalset.log("no valid case")
        return 1
    n = len(rows)
    t1 = sum(1 for r in rows if r["rank"] == 1)
    t5 = sum(1 for r in rows if r["rank"] is not None and r["rank"] <= 5)
    secs = [r["seconds"] for r in rows]
    print()
    print(f"cases {n}: top-1 {t1} ({100 * t1 / n:.1f}%), top-5 {t5} ({100 * t5 / n:.1f}%), "
          f"refused {sum(1 for r in rows if r['error'])}")
    print(f"time per case: median {statistics.median(secs) * 1000:.0f} ms, "
          f"mean {statistics.mean(secs) * 1000:.0f} ms, max {max(secs) * 1000:.0f} ms")
    print("by language:")
    print("\n".join(table(rows, lambda r: r["language"])))
    print("by kind:")
    print("\n".join(table(rows, lambda r: r["kind"])))
    print("by place of the fix (site: within 5 lines of the innermost in-repo frame; other-frame: of another"
          " in-repo frame; away: of none):")
    print("\n".join(table(rows, lambda r: r["relation"])))
    print("by panic/exception kind:")
    print("\n".join(table(rows, lambda r: r["panic_kind"])))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
