"""Where the app's bundled files are (source tree or a PyInstaller bundle), and file identities. No Qt, no torch."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from oasis_core.files import sha256_file

APP_NAME = "OASIS Studio"
ORG_NAME = "OASIS Studio"
DEFAULT_MODEL_STEM = "landscapes"
MODEL_SUFFIX = ".safetensors"
OFFICIAL_SUFFIXES = (".pth", ".pt")


def app_version() -> str:
    """The installed package's version (its metadata travels in the frozen bundle too), else pyproject's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oasis-studio")
    except PackageNotFoundError:  # a source tree that was never installed
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(encoding="utf-8"), re.MULTILINE)
        except OSError:
            found = None
        return found.group(1) if found else "unknown"


def resource_root() -> Path:
    """The folder holding ``resources/``: the PyInstaller bundle when frozen, else the repository root."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    env = os.environ.get("OASIS_STUDIO_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    return resource_root().joinpath("resources", *parts)


def bundled_models() -> list[Path]:
    """The model files shipped in ``resources/models``: the default (landscapes) first, then by name."""
    folder = resource_path("models")
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.glob(f"*{MODEL_SUFFIX}") if p.is_file())
    files.sort(key=lambda p: (DEFAULT_MODEL_STEM not in p.stem.lower(), p.stem.lower()))
    return files


def default_model() -> Path | None:
    models = bundled_models()
    return models[0] if models else None


def recovery_dir() -> Path:
    """Where autosave keeps recovery copies: ``$OASIS_STUDIO_RECOVERY_DIR``, else the per-user data folder
    (``$XDG_DATA_HOME/oasis-studio/recovery`` on Linux, ``%LOCALAPPDATA%`` on Windows, ``~/Library/Application
    Support`` on macOS)."""
    env = os.environ.get("OASIS_STUDIO_RECOVERY_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "oasis-studio" / "recovery"


def is_official_checkpoint(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in OFFICIAL_SUFFIXES


def find_model_by_hash(model_hash: str, candidates: list[Path]) -> Path | None:
    """The first candidate file whose sha256 is ``model_hash`` (to reopen a project with its own model)."""
    if not model_hash:
        return None
    for p in candidates:
        try:
            if p.is_file() and sha256_file(p) == model_hash:
                return p
        except OSError:
            continue
    return None
