"""The real-code localization/repair evaluation set (issue 16 section 5): fetching package
snapshots from their registries, rebuilding each case's faulty tree, running its reproducer,
and reading the traces back.

Used by scripts/bench/localize-eval, scripts/bench/fix-eval, scripts/bench/localize-real-capture
and scripts/bench/localize-large. Only the Python standard library; registries are reached only
through their own clients (cargo, pip, npm, apt-get).

Layout of a case (testdata/localize-real/cases/<id>/):
  case.json     the manifest (see testdata/localize-real/README.md)
  inject.patch  for kind "injected": the patch that puts the fault into the pristine package
  fix.patch     for kind "real-fix": the upstream hunk that fixed it (buggy -> fixed)
  repro/        the reproducer (a small driver calling the package's public API)
  trace.txt     the exact output of the failing reproducer run
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SET_DIR = ROOT / "testdata" / "localize-real"
CASES_DIR = SET_DIR / "cases"
CACHE = Path(os.environ.get("HEALBOT_EVAL_CACHE", ROOT / "target" / "eval-cache"))
NEAR = 5  # a candidate (or a frame) counts when within this many lines of a fix line


class EvalError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd, cwd=None, env=None, timeout=900, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(
        cmd, cwd=cwd, env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, errors="replace",
    )
    if check and p.returncode != 0:
        raise EvalError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout[-3000:]}")
    return p


# ---------------------------------------------------------------------------------------------
# Packages: fetch (registry client) -> verify sha256 -> unpack to a pristine tree


@dataclass(frozen=True)
class Package:
    registry: str  # crates.io | pypi | npm | debian | debian-source
    name: str
    version: str
    sha256: str
    # Inside the unpacked archive, the folder that is the repository (after the top folder of a
    # tarball is stripped; for a .deb, e.g. usr/share/gocode/src/github.com/google/shlex).
    root: str = ""

    @staticmethod
    def of(d: dict) -> "Package":
        return Package(d["registry"], d["name"], d["version"], d.get("sha256", ""), d.get("root", ""))

    @property
    def key(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{self.registry}-{self.name}-{self.version}")
        return safe


def _apt_source_opts() -> list[str]:
    """A private apt configuration with Debian's deb-src entry, so the system's sources stay
    untouched."""
    base = CACHE / "apt-src"
    lists = base / "lists"
    if not (base / "sources.list").exists():
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (base / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (base / "sources.list").write_text(
            "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
            "http://deb.debian.org/debian bookworm main\n"
        )
    opts = [
        "-o", f"Dir::Etc::SourceList={base / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={lists}",
        "-o", f"Dir::Cache={base / 'cache'}",
    ]
    if not any(lists.glob("*Sources*")):
        run(["apt-get", *opts, "update"])
    return opts


def _download(pkg: Package, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    if pkg.registry == "crates.io":
        name = f"{pkg.name}-{pkg.version}.crate"
        cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
        hits = glob.glob(str(cargo_home / "registry" / "cache" / "*" / name))
        if not hits:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "src").mkdir()
                (Path(tmp) / "src" / "lib.rs").write_text("")
                (Path(tmp) / "Cargo.toml").write_text(
                    '[package]\nname = "evalset-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
                    f'[dependencies]\n{pkg.name} = "={pkg.version}"\n[workspace]\n'
                )
                run(["cargo", "fetch", "-q"], cwd=tmp)
            hits = glob.glob(str(cargo_home / "registry" / "cache" / "*" / name))
        if not hits:
            raise EvalError(f"cargo fetch did not leave {name} in the registry cache")
        out = dest / name
        shutil.copyfile(hits[0], out)
        return out
    if pkg.registry == "pypi":
        with tempfile.TemporaryDirectory() as tmp:
            run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                 "-d", tmp, f"{pkg.name}=={pkg.version}"])
            (f,) = list(Path(tmp).iterdir())
            out = dest / f.name
            shutil.move(str(f), out)
            return out
    if pkg.registry == "npm":
        with tempfile.TemporaryDirectory() as tmp:
            run(["npm", "pack", "--silent", f"{pkg.name}@{pkg.version}", "--pack-destination", tmp])
            (f,) = list(Path(tmp).iterdir())
            out = dest / f.name
            shutil.move(str(f), out)
            return out
    if pkg.registry == "debian":
        with tempfile.TemporaryDirectory() as tmp:
            run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=tmp)
            (f,) = list(Path(tmp).glob("*.deb"))
            out = dest / f.name
            shutil.move(str(f), out)
            return out
    if pkg.registry == "debian-source":
        opts = _apt_source_opts()
        with tempfile.TemporaryDirectory() as tmp:
            # The Debian packaging tarball is not needed (and may be missing on the mirror); only
            # the upstream .orig tarball is the repository.
            run(["apt-get", *opts, "source", "--download-only", f"{pkg.name}={pkg.version}"],
                cwd=tmp, check=False)
            origs = [p for p in Path(tmp).glob("*.orig.tar.*") if not p.name.endswith(".asc")]
            if len(origs) != 1:
                raise EvalError(f"apt-get source {pkg.name}={pkg.version} gave no .orig tarball")
            out = dest / origs[0].name
            shutil.move(str(origs[0]), out)
            return out
    raise EvalError(f"unknown registry {pkg.registry!r}")


def fetch(pkg: Package) -> Path:
    """The package's archive in the cache, fetched once and checked against its sha256."""
    dl = CACHE / "dl" / pkg.key
    existing = [p for p in dl.iterdir()] if dl.is_dir() else []
    archive = existing[0] if existing else _download(pkg, dl)
    got = sha256(archive)
    if pkg.sha256 and got != pkg.sha256:
        raise EvalError(f"{pkg.key}: sha256 {got} of {archive.name} is not the recorded {pkg.sha256}")
    return archive


def _unpack_archive(archive: Path, into: Path) -> None:
    name = archive.name
    if name.endswith((".crate", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2")):
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")
    elif name.endswith((".zip", ".whl")):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    elif name.endswith(".deb"):
        run(["dpkg-deb", "-x", str(archive), str(into)])
    else:
        raise EvalError(f"cannot unpack {name}")


def pristine(pkg: Package) -> Path:
    """The unpacked package (read-only by convention), its `root` folder."""
    out = CACHE / "src" / pkg.key
    if not out.is_dir():
        archive = fetch(pkg)
        tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=".unpack-"))
        _unpack_archive(archive, tmp)
        top = tmp
        if not archive.name.endswith(".deb"):
            entries = list(tmp.iterdir())
            if len(entries) == 1 and entries[0].is_dir():
                top = entries[0]
        src = top / pkg.root if pkg.root else top
        if not src.is_dir():
            raise EvalError(f"{pkg.key}: no folder {pkg.root!r} in {archive.name}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), out)
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    dir: Path
    data: dict

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def language(self) -> str:
        return self.data["language"]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def package(self) -> Package:
        return Package.of(self.data["package"])

    @property
    def fixed_package(self) -> Package | None:
        f = self.data.get("fixed_package")
        return Package.of(f) if f else None

    @property
    def trace_path(self) -> Path:
        return self.dir / "trace.txt"

    def save(self) -> None:
        (self.dir / "case.json").write_text(json.dumps(self.data, indent=2, ensure_ascii=False) + "\n")


def load_cases(only: list[str] | None = None) -> list[Case]:
    cases = []
    for f in sorted(CASES_DIR.glob("*/case.json")):
        c = Case(f.parent, json.loads(f.read_text()))
        if c.data.get("id") != f.parent.name:
            raise EvalError(f"{f}: id {c.data.get('id')!r} is not the folder name")
        if only and not any(o in c.id or o == c.language or o == c.kind for o in only):
            continue
        cases.append(c)
    return cases


def _copytree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)


def snapshot(case: Case, fresh: bool = False) -> Path:
    """The faulty repository of the case: the pristine package, with inject.patch applied for an
    injected fault. Rebuilt when the patch changed."""
    out = CACHE / "snap" / case.id
    patch = case.dir / "inject.patch"
    stamp = out.with_name(case.id + ".stamp")
    want = case.package.key + ":" + (sha256(patch) if patch.exists() else "-")
    if not fresh and out.is_dir() and stamp.exists() and stamp.read_text() == want:
        return out
    _copytree(pristine(case.package), out)
    if patch.exists():
        run(["patch", "-p1", "--quiet", "--no-backup-if-mismatch", "-i", str(patch)], cwd=out)
    stamp.write_text(want)
    return out


def fixed_tree(case: Case) -> Path:
    """The repository without the fault: the pristine package for an injected case, the fixed
    release for a real fix."""
    fp = case.fixed_package
    return pristine(fp) if fp else pristine(case.package)


# ---------------------------------------------------------------------------------------------
# Reproducers: one runner per language. Each returns (exit code, combined stdout+stderr).


def _env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUST_BACKTRACE", "PYTHON", "NODE_"))}
    env.update(extra or {})
    return env


def _rust(case: Case, repo: Path, tag: str) -> tuple[int, str]:
    repro = case.dir / "repro"
    drv = CACHE / "drivers" / case.id / tag
    (drv / "src").mkdir(parents=True, exist_ok=True)
    crate = case.package.name
    bin_name = "repro-" + re.sub(r"[^a-z0-9]", "-", case.id.lower())
    if tag not in ("faulty", "clean"):
        # Checks of several trees may run at once: one binary per tree in the shared target dir.
        bin_name += "-" + re.sub(r"[^a-z0-9]", "-", tag.lower())
    features = case.data.get("features", [])
    feat = f", features = {json.dumps(features)}" if features else ""
    nodef = ", default-features = false" if case.data.get("no_default_features") else ""
    (drv / "Cargo.toml").write_text(
        f'[package]\nname = "{bin_name}"\nversion = "0.0.0"\n'
        'edition = "2021"\npublish = false\n'
        f'[dependencies]\n{crate} = {{ path = "{repo}"{feat}{nodef} }}\n[workspace]\n'
    )
    shutil.copyfile(repro / "main.rs", drv / "src" / "main.rs")
    lock = repro / "Cargo.lock"
    if lock.exists():
        shutil.copyfile(lock, drv / "Cargo.lock")
    target = CACHE / "cargo-target"
    # Old releases fail to build under newer lints as path dependencies: cap lints as cargo does
    # for registry dependencies.
    build = run(["cargo", "build", "-q"], cwd=drv,
                env=_env({"CARGO_TARGET_DIR": str(target), "RUSTFLAGS": "--cap-lints=warn"}),
                check=False)
    if build.returncode != 0:
        raise EvalError(f"{case.id}: the reproducer does not build against {repo}:\n{build.stdout[-4000:]}")
    if not lock.exists() and (drv / "Cargo.lock").exists():
        shutil.copyfile(drv / "Cargo.lock", lock)
    exe = target / "debug" / bin_name
    p = run([str(exe)], cwd=drv, env=_env({"RUST_BACKTRACE": "1"}), check=False, timeout=120)
    return p.returncode, p.stdout


def _python(case: Case, repo: Path, tag: str) -> tuple[int, str]:
    src = repo / case.data.get("python_path", "")
    p = run([sys.executable, str(case.dir / "repro" / "repro.py")], cwd=case.dir / "repro",
            env=_env({"PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}), check=False, timeout=120)
    return p.returncode, p.stdout


def _javascript(case: Case, repo: Path, tag: str) -> tuple[int, str]:
    p = run(["node", str(case.dir / "repro" / "repro.js")], cwd=case.dir / "repro",
            env=_env({"EVAL_REPO": str(repo)}), check=False, timeout=120)
    return p.returncode, p.stdout


def _go(case: Case, repo: Path, tag: str) -> tuple[int, str]:
    gopath = CACHE / "gopath" / case.id / tag
    imp = case.data["go_import_path"]
    link = gopath / "src" / imp
    if link.is_symlink() or link.exists():
        link.unlink() if link.is_symlink() else shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(repo, target_is_directory=True)
    for dep in case.data.get("go_deps", []):  # [{"import_path", "package": {...}}]
        d = gopath / "src" / dep["import_path"]
        if not d.exists():
            d.parent.mkdir(parents=True, exist_ok=True)
            d.symlink_to(pristine(Package.of(dep["package"])), target_is_directory=True)
    main_dir = gopath / "src" / "evalrepro"
    main_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(case.dir / "repro" / "main.go", main_dir / "main.go")
    env = _env({"GOPATH": str(gopath), "GO111MODULE": "off", "GOFLAGS": "", "GOCACHE": str(CACHE / "gocache")})
    exe = gopath / "bin" / "evalrepro"
    run(["go", "build", "-o", str(exe), "evalrepro"], cwd=main_dir, env=env)
    p = run([str(exe)], cwd=main_dir, env=env, check=False, timeout=120)
    return p.returncode, p.stdout


def _java(case: Case, repo: Path, tag: str) -> tuple[int, str]:
    classes = CACHE / "java" / case.id / tag
    if classes.exists():
        shutil.rmtree(classes)
    classes.mkdir(parents=True)
    src_root = repo / case.data.get("java_src", "src/main/java")
    sources = [str(p) for p in src_root.rglob("*.java") if "module-info" not in p.name]
    sources.append(str(case.dir / "repro" / "Main.java"))
    cp = ":".join(case.data.get("java_classpath", []))
    argfile = classes / "sources.txt"
    argfile.write_text("\n".join(sources))
    cmd = ["javac", "-nowarn", "-encoding", "UTF-8", "-d", str(classes)]
    if cp:
        cmd += ["-cp", cp]
    run(cmd + [f"@{argfile}"])
    full_cp = str(classes) + (":" + cp if cp else "")
    p = run(["java", "-cp", full_cp, "Main"], cwd=case.dir / "repro", env=_env(), check=False, timeout=120)
    return p.returncode, p.stdout


RUNNERS = {"rust": _rust, "python": _python, "javascript": _javascript, "go": _go, "java": _java}


def reproduce(case: Case, repo: Path, tag: str = "faulty") -> tuple[int, str]:
    return RUNNERS[case.language](case, repo, tag)


def repro_digest(case: Case) -> str:
    """sha256 over the reproducer's files (names and contents), to tell a stale trace."""
    h = hashlib.sha256()
    for f in sorted((case.dir / "repro").rglob("*")):
        if f.is_file():
            h.update(f.relative_to(case.dir).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def validate(case: Case) -> list[str]:
    """What is wrong with a case's manifest (empty when nothing is)."""
    d, problems = case.data, []
    for key in ("id", "kind", "language", "package", "fault", "panic_kind", "fix", "reproducer", "fix_relation"):
        if key not in d:
            problems.append(f"no {key!r}")
    if d.get("kind") not in ("injected", "real-fix"):
        problems.append(f"kind {d.get('kind')!r} is neither injected nor real-fix")
    if d.get("language") not in RUNNERS:
        problems.append(f"language {d.get('language')!r} has no runner")
    pkg = d.get("package", {})
    for key in ("registry", "name", "version", "sha256", "license"):
        if not pkg.get(key):
            problems.append(f"package has no {key!r}")
    if d.get("kind") == "injected" and not (case.dir / "inject.patch").exists():
        problems.append("no inject.patch")
    if d.get("kind") == "real-fix" and not ((case.dir / "fix.patch").exists() and d.get("fixed_package")):
        problems.append("no fix.patch or fixed_package")
    if not case.trace_path.exists():
        problems.append("no trace.txt")
    digest = d.get("reproducer", {}).get("repro_sha256")
    if digest and digest != repro_digest(case):
        problems.append("the reproducer changed after the trace was captured (recapture with --force)")
    return problems


def reproducer_command(case: Case) -> str:
    rel = case.dir.relative_to(ROOT)
    return f"scripts/bench/localize-real-run {rel} <repo>"


# ---------------------------------------------------------------------------------------------
# Traces: frames (file, line) that point into the repository, for the near-frame label


FRAME_RES = {
    "rust": [re.compile(r"panicked at (?:'.*?', )?([^\s:'][^:\n]*\.rs):(\d+):\d+"),
             re.compile(r"^\s+at (.+?\.rs):(\d+)(?::\d+)?\s*$", re.M)],
    "python": [re.compile(r'^\s*File "(.+?)", line (\d+)', re.M)],
    "go": [re.compile(r"^\t(.+?\.go):(\d+)", re.M)],
    "javascript": [re.compile(r"^\s+at (?:.*?\()?(?:file://)?(/[^():]+?\.[cm]?js):(\d+):\d+\)?\s*$", re.M)],
    "java": [re.compile(r"^\s*at ([\w$.]+)\.[\w$<>]+\(([\w$]+\.java):(\d+)\)", re.M)],
}


def repo_files(repo: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in (".git", "target", "node_modules")]
        for f in filenames:
            out.append(os.path.relpath(os.path.join(dirpath, f), repo))
    return out


def _map(path: str, files: list[str]) -> str | None:
    """A trace path mapped onto the repository by its longest matching suffix."""
    path = path.replace("\\", "/")
    best, best_len = None, 0
    for f in files:
        if path == f or path.endswith("/" + f):
            if len(f) > best_len:
                best, best_len = f, len(f)
    return best


def frames(language: str, trace: str, repo: Path) -> list[tuple[str, int]]:
    """The (file, line) of every frame of the trace that maps onto a file of the repository, in
    the trace's order."""
    files = repo_files(repo)
    out = []
    for rx in FRAME_RES[language]:
        for m in rx.finditer(trace):
            if language == "java":
                cls, fname, line = m.group(1), m.group(2), int(m.group(3))
                pkg_path = "/".join(cls.split("$")[0].split(".")[:-1] + [fname])
                # Java frames name the package, not the path: the repository file ending in it.
                hits = [f for f in files if f == pkg_path or f.endswith("/" + pkg_path)]
                rel = min(hits, key=len) if hits else None
            else:
                rel = _map(m.group(1), files)
                line = int(m.group(2))
            if rel:
                out.append((rel, line))
    return out


def near(file: str, line: int, fix: dict) -> bool:
    return file == fix["file"] and any(abs(line - l) <= NEAR for l in fix["lines"])


# ---------------------------------------------------------------------------------------------
# Patches


def unified_diff(old: str, new: str, rel: str) -> str:
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}", n=3))


def changed_lines(patch: str, side: str) -> dict[str, list[int]]:
    """Lines a patch touches. side="new": the added lines in the new file (for a pure deletion,
    the lines around it); side="old": the removed lines in the old file (for a pure insertion,
    the lines around the insertion point)."""
    out: dict[str, list[int]] = {}
    file = None
    old_no = new_no = 0
    pending_gap = False
    for raw in patch.splitlines():
        if raw.startswith("+++ "):
            file = raw[4:].split("\t")[0]
            file = file[2:] if file.startswith(("a/", "b/")) else file
            continue
        if raw.startswith("--- "):
            continue
        m = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", raw)
        if m:
            old_no, new_no = int(m.group(1)), int(m.group(2))
            continue
        if file is None:
            continue
        lines = out.setdefault(file, [])
        if raw.startswith("+"):
            if side == "new":
                lines.append(new_no)
            else:
                pending_gap = True
            new_no += 1
        elif raw.startswith("-"):
            if side == "old":
                lines.append(old_no)
            else:
                pending_gap = True
            old_no += 1
        else:
            if pending_gap:
                # the first unchanged line after a change that has no line of its own on this side
                lines.append(new_no if side == "new" else old_no)
                prev = (new_no if side == "new" else old_no) - 1
                if prev >= 1:
                    lines.append(prev)
                pending_gap = False
            old_no += 1
            new_no += 1
    return {f: sorted(set(l)) for f, l in out.items() if l}


# ---------------------------------------------------------------------------------------------
# Capture: build a case's patch, run its reproducer on the clean and the faulty tree, keep the trace


def apply_edits(tree: Path, edits: list[dict]) -> str:
    """Applies the authoring edits ({file, find, replace}; `find` must occur exactly once) to
    `tree` in place and returns them as a unified diff."""
    patch = []
    by_file: dict[str, tuple[str, str]] = {}
    for e in edits:
        rel = e["file"]
        old, cur = by_file.get(rel, (None, None))
        if old is None:
            old = cur = (tree / rel).read_text()
        n = cur.count(e["find"])
        if n != 1:
            raise EvalError(f"{rel}: the text to replace occurs {n} times, not once: {e['find']!r}")
        cur = cur.replace(e["find"], e["replace"])
        by_file[rel] = (old, cur)
    for rel, (old, cur) in by_file.items():
        (tree / rel).write_text(cur)
        patch.append(unified_diff(old, cur, rel))
    return "".join(patch)


def classify(case: Case, trace: str, repo: Path) -> dict:
    """Where the fix lies relative to the trace: `site` (within NEAR lines of the innermost
    in-repo frame or the panic location), `other-frame` (within NEAR lines of another in-repo
    frame), `away` (not within NEAR lines of any in-repo frame: up the data flow, in a function
    that already returned, or far inside a frame's function)."""
    fix = case.data["fix"]
    fr = frames(case.language, trace, repo)
    innermost = None
    if fr:
        # Rust/Java/JS/Go list the innermost frame first; Python last.
        innermost = fr[-1] if case.language == "python" else fr[0]
    if innermost and near(innermost[0], innermost[1], fix):
        rel = "site"
    elif any(near(f, l, fix) for f, l in fr):
        rel = "other-frame"
    else:
        rel = "away"
    return {"fix_relation": rel, "fix_near_frame": rel != "away",
            "repo_frames": len(fr)}


def capture(case: Case, force: bool = False) -> None:
    d = case.data
    pkg = case.package
    archive = fetch(pkg)
    if not d["package"].get("sha256"):
        d["package"]["sha256"] = sha256(archive)
        d["package"]["archive"] = archive.name
    base = pristine(pkg)
    d["package"]["license_files"] = sorted(
        f for f in os.listdir(base) if re.match(r"(?i)(licen[cs]e|copying|notice)", f))
    if case.kind == "injected":
        patch_file = case.dir / "inject.patch"
        if force or not patch_file.exists():
            tmp = CACHE / "tmp-edit" / case.id
            _copytree(base, tmp)
            patch_file.write_text(apply_edits(tmp, d["inject"]))
            shutil.rmtree(tmp)
        fix_lines = changed_lines(patch_file.read_text(), "new")
    else:
        fp = case.fixed_package
        arch2 = fetch(fp)
        if not d["fixed_package"].get("sha256"):
            d["fixed_package"]["sha256"] = sha256(arch2)
            d["fixed_package"]["archive"] = arch2.name
        fix_lines = changed_lines((case.dir / "fix.patch").read_text(), "old")
    if not fix_lines:
        raise EvalError(f"{case.id}: the patch changes no line")
    # One fix file (the first one the patch names that holds code); all its touched lines.
    file = d.get("fix_file") or next(iter(fix_lines))
    d["fix"] = {"file": file, "lines": fix_lines[file]}
    repo = snapshot(case, fresh=True)
    code, out = reproduce(case, fixed_tree(case), "clean")
    if code != 0:
        raise EvalError(f"{case.id}: the reproducer fails without the fault (exit {code}):\n{out[-3000:]}")
    code, out = reproduce(case, repo, "faulty")
    if code == 0:
        raise EvalError(f"{case.id}: the reproducer passes with the fault:\n{out[-3000:]}")
    if re.search(r"^(SyntaxError|IndentationError|TabError)\b|error\[E\d+\]|: cannot find symbol|"
                 r"^SyntaxError:|syntax error", out, re.M):
        raise EvalError(f"{case.id}: the fault breaks the build or the syntax, not the run:\n{out[-2000:]}")
    case.trace_path.write_text(out)
    d["reproducer"] = {"command": reproducer_command(case), "exit_code_faulty": code,
                       "exit_code_clean": 0, "repro_sha256": repro_digest(case)}
    d.update(classify(case, out, repo))
    case.save()


# ---------------------------------------------------------------------------------------------
# The package's own tests (for the plausible-patch check of scripts/bench/fix-eval)


def run_tests(case: Case, repo: Path, tag: str | None = None) -> int:
    """Runs the case's `tests` command (argv, `{repo}` replaced) in the repository; 0 when they
    pass or when the case has none (said on stdout)."""
    cmd = case.data.get("tests")
    if not cmd:
        print(f"[{case.id}: no own tests of the package are run for this case]")
        return 0
    argv = [a.replace("{repo}", str(repo)) for a in cmd]
    extra = {}
    if case.language == "rust":
        extra["CARGO_TARGET_DIR"] = str(CACHE / "cargo-target-tests")
        extra["RUSTFLAGS"] = "--cap-lints=warn"
    if case.language == "python":
        extra["PYTHONPATH"] = str(repo / case.data.get("python_path", ""))
    if case.language == "go":
        gopath = CACHE / "gopath" / case.id / (tag or "check")
        extra.update({"GOPATH": str(gopath), "GO111MODULE": "off", "GOCACHE": str(CACHE / "gocache")})
    p = run(argv, cwd=repo, env=_env(extra), check=False, timeout=1800)
    sys.stdout.write(p.stdout[-5000:])
    return p.returncode
