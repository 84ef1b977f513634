"""Build the one-folder OASIS Studio app with PyInstaller: ``dist/oasis-studio/`` (``make package`` runs this).

    python packaging/build.py            # build if an input changed since the last build, then print the sizes
    python packaging/build.py --force    # rebuild anyway (--clean also empties PyInstaller's cache)
    python packaging/build.py --sizes    # only print the size of the existing bundle and its largest parts

The inputs (app/, oasis_core/, resources/, packaging/, pyproject.toml, LICENSE, the versions of the bundled
libraries and of PyInstaller, the build options) are fingerprinted into ``build/oasis-studio.build.json``; a build
whose fingerprint matches is reused, here and by ``tests/test_packaging.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "oasis_studio.spec"
NAME = "oasis-studio"
DIST = ROOT / "dist"
BUNDLE = DIST / NAME
WORK = ROOT / "build" / "pyinstaller"
STAMP = ROOT / "build" / f"{NAME}.build.json"
INPUTS = ("app", "oasis_core", "resources", "packaging", "pyproject.toml", "LICENSE")
LIBRARIES = ("pyinstaller", "pyinstaller-hooks-contrib", "oasis-studio", "torch", "numpy", "pillow",
             "PySide6-Essentials", "shiboken6", "safetensors", "QDarkStyle", "QtPy", "tqdm")  # fmt: skip
BIG_FILE = 16 * 2**20  # files above this are fingerprinted by size and mtime instead of content


def executable(bundle: Path = BUNDLE) -> Path:
    return bundle / (f"{NAME}.exe" if sys.platform == "win32" else NAME)


def spec_args(console: bool = False, no_strip: bool = False) -> list[str]:
    return [*(["--console"] if console else []), *(["--no-strip"] if no_strip else [])]


def fingerprint(args: list[str]) -> str:
    """A hash of everything that goes into the bundle (file contents, library versions, build options)."""
    h = hashlib.sha256()
    h.update(f"{sys.version}|{platform.platform()}|{args}".encode())
    for lib in LIBRARIES:
        try:
            h.update(f"{lib}={metadata.version(lib)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib}=absent;".encode())
    files: list[Path] = []
    for name in INPUTS:
        p = ROOT / name
        files.extend(sorted(p.rglob("*")) if p.is_dir() else [p])
    for p in files:
        if not p.is_file() or "__pycache__" in p.parts or p.suffix == ".pyc":
            continue
        st = p.stat()
        h.update(p.relative_to(ROOT).as_posix().encode() + b"\0")
        if st.st_size > BIG_FILE:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def is_fresh(args: list[str] | None = None) -> bool:
    """Whether dist/oasis-studio was built from exactly the current inputs."""
    if not (STAMP.is_file() and executable().is_file()):
        return False
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return False
    return stamp.get("fingerprint") == fingerprint(spec_args() if args is None else args)


def build(args: list[str], clean: bool = False) -> float:
    """Run PyInstaller on the spec; returns the seconds it took."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit("PyInstaller is not installed: pip install -e '.[package]' (make package does this)") from None
    cmd = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN"]
    cmd += ["--distpath", str(DIST), "--workpath", str(WORK), *(["--clean"] if clean else [])]
    if args:
        cmd += ["--", *args]
    print("+", " ".join(cmd), flush=True)
    STAMP.unlink(missing_ok=True)
    t = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)  # not the repository root: no stale oasis_studio.egg-info on sys.path
    subprocess.run(cmd, cwd=WORK, check=True)
    return time.perf_counter() - t


def sizes(bundle: Path = BUNDLE) -> tuple[int, int, list[tuple[int, str]], dict[str, int]]:
    """Total bytes, file count, the files by size (largest first) and the bytes per part (top-level package)."""
    files: list[tuple[int, str]] = []
    parts: dict[str, int] = {}
    for dirpath, _, names in os.walk(bundle):
        for n in names:
            p = Path(dirpath) / n
            if p.is_symlink():
                continue
            size = p.stat().st_size
            rel = p.relative_to(bundle).as_posix()
            files.append((size, rel))
            inner = rel.split("/")
            if inner[0] == "_internal":  # PyInstaller 6's contents folder (sys._MEIPASS)
                inner = inner[1:]
            dirs = inner[:-1]
            if not dirs:
                key = "(loose files: libpython, shared libraries, base_library.zip)" if rel != inner[0] else rel
            elif dirs[0].endswith(".dist-info"):
                key = "*.dist-info (package metadata)"
            else:
                key = "/".join(dirs[:2]) + "/"
            parts[key] = parts.get(key, 0) + size
    files.sort(reverse=True)
    return sum(s for s, _ in files), len(files), files, parts


def report(bundle: Path = BUNDLE, top: int = 15) -> dict:
    total, count, files, parts = sizes(bundle)
    mib = 2**20
    where = bundle.relative_to(ROOT) if bundle.is_relative_to(ROOT) else bundle
    print(f"\n{where}: {total / mib:.1f} MiB in {count} files")
    print(f"\nlargest parts ({top}):")
    for key, size in sorted(parts.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {size / mib:8.1f} MiB  {key}")
    print(f"\nlargest files ({top}):")
    for size, rel in files[:top]:
        print(f"  {size / mib:8.1f} MiB  {rel}")
    return {"total_bytes": total, "files": count, "largest": [[rel, size] for size, rel in files[:top]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    p.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first (implies --force)")
    p.add_argument("--sizes", action="store_true", help="only print the sizes of the existing bundle")
    p.add_argument("--console", action="store_true", help="Windows/macOS: keep a console window (stdout)")
    p.add_argument("--no-strip", action="store_true", help="Linux: keep the symbol tables of torch's libraries")
    args = p.parse_args(argv)
    if args.sizes:
        if not executable().is_file():
            raise SystemExit(f"no bundle at {BUNDLE}: run python packaging/build.py")
        report()
        return 0
    sargs = spec_args(args.console, args.no_strip)
    if not (args.force or args.clean) and is_fresh(sargs):
        stamp = json.loads(STAMP.read_text())
        print(f"{BUNDLE.relative_to(ROOT)} is up to date (built in {stamp['build_seconds']:.0f} s; --force rebuilds)")
        report()
        return 0
    seconds = build(sargs, clean=args.clean)
    info = report()
    print(f"\nbuilt in {seconds:.0f} s; run it: {executable().relative_to(ROOT)} (or --self-test DIR, --version)")
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(
        json.dumps(
            {"fingerprint": fingerprint(sargs), "build_seconds": round(seconds, 1), "spec_args": sargs, **info},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
