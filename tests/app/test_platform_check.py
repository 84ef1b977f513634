"""The check before the window opens: missing xcb libraries are named with the packages to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app import platform_check

REPO = Path(__file__).resolve().parents[2]


def test_sonames_map_to_debian_packages():
    assert platform_check.package_for("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert platform_check.package_for("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert platform_check.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert platform_check.package_for("libX11-xcb.so.1") == "libx11-xcb1"
    assert platform_check.package_for("libdbus-1.so.3") == "libdbus-1-3"


def test_which_platforms_are_checked():
    linux = sys.platform.startswith("linux")
    assert platform_check.uses_xcb({"DISPLAY": ":0"}) == linux
    assert not platform_check.uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not platform_check.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"})
    assert platform_check.uses_xcb({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}) == linux


def test_the_app_names_the_missing_library_and_its_package_and_exits_before_qt(tmp_path):
    """``make run`` on a machine without the libraries: pointed at a library name that does not exist, the app
    prints one sentence with the apt-get line and exits 3 (Qt would abort with a page of advice)."""
    if not sys.platform.startswith("linux"):
        return
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":97", OASIS_STUDIO_CHECK_LIBS="libxcb-oasis-missing.so.7", HOME=str(tmp_path))
    p = subprocess.run(
        [sys.executable, "-c", "import sys; from app.main import main; sys.exit(main(['--fresh']))"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == platform_check.EXIT_MISSING_LIBRARIES, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "libxcb-oasis-missing.so.7" in lines[0] and "sudo apt-get install libxcb-oasis-missing7" in lines[0]


def test_the_check_module_imports_no_qt():
    code = "import sys, app.platform_check as c; c.check_window_platform(); print('PySide6' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "False", p.stderr
