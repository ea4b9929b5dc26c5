"""`scripts/bench/fix-eval`: the plausible-patch rate of `healbot fix` on the real-code set
(issue 16 sections 3 and 5).

For each case: a git repository is made from the faulty snapshot (healbot validates candidates in
worktrees of it), `healbot fix --repo R --trace T --check C --format json` runs with the case's
reproducer + own tests as C, and then this script checks the answer itself rather than trusting
it: the returned diff is applied to a fresh copy of the snapshot, must touch only the package's
own files (not its tests), and the reproducer must then pass and the package's own tests (where
the case has any) must still pass. Only then is the patch counted as plausible.

Until `healbot fix` exists in the binary, the script says so and reports no rate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evalset  # noqa: E402

RUN = evalset.ROOT / "scripts" / "bench" / "localize-real-run"


def fix_available(binary: str) -> bool:
    p = subprocess.run([binary, "fix", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode == 0 and "--trace" in p.stdout


def git_repo(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)
    env = {"GIT_AUTHOR_NAME": "eval", "GIT_AUTHOR_EMAIL": "eval@localhost", "GIT_COMMITTER_NAME": "eval",
           "GIT_COMMITTER_EMAIL": "eval@localhost", "PATH": "/usr/bin:/bin"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A", "-f"], ["git", "commit", "-q", "-m", "snapshot"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True, stdout=subprocess.DEVNULL)


def touched_files(diff: str) -> list[str]:
    out = []
    for line in diff.splitlines():
        if line.startswith("+++ ") and not line.startswith("+++ /dev/null"):
            f = line[4:].split("\t")[0]
            out.append(f[2:] if f.startswith(("a/", "b/")) else f)
    return out


def is_test_file(rel: str) -> bool:
    parts = rel.lower().split("/")
    name = parts[-1]
    return (any(p in ("test", "tests", "testdata", "__tests__", "spec") for p in parts[:-1])
            or name.startswith("test_") or name.endswith(("_test.go", "_test.py", "test.java", ".test.js", ".spec.js"))
            or name == "tests.py")


def verify(case: evalset.Case, diff: str) -> tuple[bool, str]:
    """Applies the diff to a fresh snapshot and runs the reproducer and the own tests."""
    files = touched_files(diff)
    if not files:
        return False, "the diff changes no file"
    bad = [f for f in files if is_test_file(f)]
    if bad:
        return False, f"the diff edits tests: {', '.join(bad)}"
    with tempfile.TemporaryDirectory(prefix="fix-eval-") as tmp:
        tree = Path(tmp) / "repo"
        shutil.copytree(evalset.snapshot(case), tree, symlinks=True)
        p = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], input=diff, cwd=tree, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            return False, "the diff does not apply: " + p.stdout.strip()[-300:]
        try:
            code, out = evalset.reproduce(case, tree, "verify")
        except evalset.EvalError as e:
            return False, f"the patched tree does not build: {str(e)[-300:]}"
        if code != 0:
            return False, "the reproducer still fails"
        if case.data.get("tests") and evalset.run_tests(case, tree, "verify") != 0:
            return False, "the package's own tests fail"
    return True, "reproducer passes" + (", own tests pass" if case.data.get("tests") else " (case has no own tests)")


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench/fix-eval")
    ap.add_argument("--bin", default=str(evalset.ROOT / "target" / "release" / "healbot"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per case for healbot fix")
    ap.add_argument("--json", help="also write the per-case results to this file")
    ap.add_argument("only", nargs="*", help="case ids (or parts), languages or kinds")
    args = ap.parse_args()
    if not Path(args.bin).exists():
        evalset.log(f"no healbot binary at {args.bin}: run `cargo build --release` first")
        return 2
    if not fix_available(args.bin):
        print(f"`healbot fix` is not available in {args.bin} (issue 16 section 3 is not merged yet):")
        print("no plausible-patch rate can be measured. Nothing was run.")
        return 2
    rows = []
    for case in evalset.load_cases(args.only or None):
        if not case.trace_path.exists():
            continue
        check = f"python3 {RUN} --check {case.dir} ."
        with tempfile.TemporaryDirectory(prefix="fix-eval-repo-") as tmp:
            repo = Path(tmp) / "repo"
            git_repo(evalset.snapshot(case), repo)
            cmd = [args.bin, "fix", "--repo", str(repo), "--trace", str(case.trace_path), "--check", check,
                   "--format", "json"]
            t0 = time.perf_counter()
            try:
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=args.timeout)
                code, stdout, stderr = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired:
                code, stdout, stderr = -1, "", "timed out"
            secs = time.perf_counter() - t0
        claimed, plausible, why, fix = False, False, "", {}
        if code == 2:
            why = "refused: " + (stderr.strip().splitlines() or ["exit 2"])[-1]
        elif code not in (0, 1):
            why = f"exit {code}: " + (stderr.strip().splitlines() or [""])[-1]
        else:
            try:
                out = json.loads(stdout)
                claimed = bool(out.get("validated"))
                fix = out.get("fix") or {}
                if claimed:
                    plausible, why = verify(case, out.get("diff") or "")
                else:
                    why = "no validated patch"
            except (json.JSONDecodeError, AttributeError) as e:
                why = f"output is not the JSON contract: {e}"
        at_fix = bool(fix) and evalset.near(fix.get("file", ""), int(fix.get("line") or 0), case.data["fix"])
        rows.append({"id": case.id, "language": case.language, "kind": case.kind,
                     "relation": case.data.get("fix_relation"), "claimed": claimed, "plausible": plausible,
                     "patch_at_fix_location": at_fix, "why": why, "seconds": secs,
                     "has_own_tests": bool(case.data.get("tests"))})
        print(f"{case.id:<52} {'PLAUSIBLE' if plausible else ('claimed' if claimed else '-'):<10} "
              f"{secs:6.1f} s  {why[:90]}", flush=True)
    if not rows:
        evalset.log("no case has a trace")
        return 1
    n = len(rows)
    pl = sum(r["plausible"] for r in rows)
    print()
    print(f"cases {n}: plausible {pl} ({100 * pl / n:.1f}%), validated by healbot {sum(r['claimed'] for r in rows)}, "
          f"plausible and at the known fix location {sum(r['plausible'] and r['patch_at_fix_location'] for r in rows)}; "
          f"{sum(r['has_own_tests'] for r in rows)} cases also run the package's own tests")
    print(f"time per case: median {statistics.median(r['seconds'] for r in rows):.1f} s, "
          f"max {max(r['seconds'] for r in rows):.1f} s")
    for key in ("language", "kind", "relation"):
        groups = defaultdict(list)
        for r in rows:
            groups[r[key]].append(r)
        print(f"by {key}:")
        for g in sorted(groups):
            rs = groups[g]
            k = sum(r["plausible"] for r in rs)
            print(f"  {g:<14} {len(rs):>4}   plausible {k:>3} ({100 * k / len(rs):5.1f}%)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
