"""Before the window opens on Linux: are the system libraries Qt's xcb platform needs installed? Without them Qt
aborts with "could not load the Qt platform plugin xcb" and a page of advice; this names the packages instead. No Qt
import here: the check runs before Qt is loaded.

The plugin's own dependencies are read with ``ldd`` (the libraries it would fail to load); ``$OASIS_STUDIO_CHECK_LIBS``
(comma-separated sonames) adds names to require, which is how the check itself is tested.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

EXIT_MISSING_LIBRARIES = 3


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    plugin = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def uses_xcb(env: dict | os._Environ = os.environ) -> bool:
    """Whether Qt will open its window through xcb (X11) here: Linux, not offscreen, not a Wayland session."""
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def package_for(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library: ``libxcb-cursor.so.0`` -> ``libxcb-cursor0``."""
    m = re.fullmatch(r"(.+?)\.so\.(\d+)(?:\..*)?", soname)
    if not m:
        return soname
    base, version = m.group(1).lower(), m.group(2)
    return f"{base}{'-' if base[-1].isdigit() else ''}{version}"


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def missing_libraries(plugin: Path | None = None, extra: list[str] | None = None) -> list[str]:
    """Sonames the xcb plugin (or ``extra``) needs that this system cannot load."""
    missing: list[str] = []
    plugin = plugin if plugin is not None else xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is not None and ldd is not None:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        missing += [line.split()[0] for line in out.splitlines() if "not found" in line]
    if extra is None:
        extra = [s for s in os.environ.get("OASIS_STUDIO_CHECK_LIBS", "").split(",") if s.strip()]
    missing += [s.strip() for s in extra if not _loadable(s.strip())]
    return list(dict.fromkeys(missing))


def check_window_platform() -> str | None:
    """One sentence naming the packages to install when the window cannot open here, else None."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(package_for(s) for s in missing))
    return (
        f"OASIS Studio cannot open its window: Qt's X11 (xcb) platform needs system libraries that are missing "
        f"({', '.join(missing)}); install them with `sudo apt-get install {packages}` (Debian/Ubuntu package names), "
        "or run under Wayland or with QT_QPA_PLATFORM=offscreen."
    )
