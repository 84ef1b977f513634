"""The frozen app (PyInstaller one-folder build in dist/oasis-studio) works like the source version.

Run by ``make package-test`` (``pytest -m packaging``), never by ``make test``. It reuses dist/oasis-studio when
packaging/build.py says it was built from the current inputs, else builds it (several minutes). The executable then
runs with an empty environment (no venv, no PATH, no PYTHONPATH: only ``QT_QPA_PLATFORM=offscreen`` and a scratch
``HOME``) from a folder outside the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_MODEL = "packaging-test.safetensors"  # put into the bundle only while the test runs, when it ships no model
IMAGES = ("generated.png", "rerolled.png", "export.png", "export.jpg", "labels.png", "sheet.png", "window.png")

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3600)]


def _build_module():
    spec = importlib.util.spec_from_file_location("oasis_packaging_build", REPO / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _empty_env(home: Path) -> dict[str, str]:
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(home)}
    if sys.platform == "win32":  # a Windows process cannot start without these two
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", r"C:\Windows")
        env["USERPROFILE"] = str(home)
    return env


@pytest.fixture(scope="module")
def bundle() -> tuple[Path, Path, dict]:
    build = _build_module()
    if build.is_fresh():
        print(f"reusing {build.BUNDLE} (built from the current inputs)")
    else:
        if importlib.util.find_spec("PyInstaller") is None:
            pytest.skip("PyInstaller is not installed and dist/oasis-studio is missing or stale: run make package-test")
        subprocess.run([sys.executable, str(REPO / "packaging" / "build.py")], cwd=REPO, check=True)
        assert build.is_fresh(), "packaging/build.py finished but the bundle does not match the inputs"
    stamp = json.loads(build.STAMP.read_text())
    return build.BUNDLE, build.executable(), stamp


def _contents(bundle_dir: Path) -> Path:
    """The folder that holds the data files (sys._MEIPASS): _internal/ beside the executable."""
    return bundle_dir / "_internal"


def test_frozen_version_comes_from_pyproject(bundle, tmp_path):
    bundle_dir, exe, _ = bundle
    version = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    home = tmp_path / "home"
    home.mkdir()
    out = subprocess.run(
        [str(exe), "--version"], env=_empty_env(home), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"oasis-studio {version}"
    # the version is read from the package metadata bundled by copy_metadata (app.resources has a source fallback)
    assert list(_contents(bundle_dir).glob("oasis_studio-*.dist-info/METADATA")), "oasis-studio metadata not bundled"


def test_bundle_leaves_out_what_the_app_does_not_need(bundle):
    bundle_dir, exe, _ = bundle
    files = [p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file()]
    unwanted = [
        r"torchvision",
        r"tkinter|libtk\d|libtcl\d",
        r"/torch/(test|include|share)/",
        r"/torch/bin/(?!torch_shm_manager)",  # torch needs only its shared-memory manager
        r"\.a$",
        r"Qt6?WebEngine|Qt6?Quick|Qt6?Qml|Qt6?Network|Qt6?3D|Qt6?Multimedia",
        r"_internal/(train|tests|benchmarks)/",
        r"libtorchbind_test|libjitbackend_test",
        r"_internal/sympy/",
    ]
    for pattern in unwanted:
        hits = [f for f in files if re.search(pattern, f)]
        assert not hits, f"{pattern!r} should not be in the bundle: {hits[:5]}"
    dangling = [
        p.relative_to(bundle_dir).as_posix()
        for p in bundle_dir.rglob("*")
        if p.is_symlink() and not p.resolve().exists()
    ]
    assert not dangling, f"links to files left out of the bundle: {dangling[:5]}"
    internal = _contents(bundle_dir)
    assert (internal / "LICENSE").is_file() and (internal / "licenses" / "oasis-studio" / "LICENSE").is_file()
    assert (internal / "licenses" / "PySide6" / "NOTICE.txt").is_file()  # Qt is LGPL: say so, and where it is
    assert list((internal / "licenses" / "torch").glob("LICENSE*"))
    assert (internal / "resources" / "icons" / "oasis-studio.png").is_file()
    assert (internal / "oasis_core" / "data" / "ade20k_names.txt").is_file()
    shipped = sorted(p.name for p in (REPO / "resources" / "models").glob("*.safetensors"))
    bundled = sorted(p.name for p in (internal / "resources" / "models").glob("*.safetensors") if p.name != TEST_MODEL)
    assert bundled == shipped

    # the Python modules inside the executable's archive: no training code, tests, or torch compiler stack
    readers = pytest.importorskip("PyInstaller.archive.readers", reason="PyInstaller lists the frozen modules")
    pyz = readers.CArchiveReader(str(exe)).open_embedded_archive("PYZ.pyz")
    modules = set(pyz.toc)
    assert {"app.main", "app.selftest", "app.engine", "oasis_core.synthesizer", "torch", "qdarkstyle"} <= modules
    for prefix in ("train", "tests", "torchvision", "tkinter", "torch._inductor", "torch._dynamo", "sympy"):
        hits = sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))
        assert not hits, f"{prefix} should not be frozen: {hits[:5]}"


def test_frozen_self_test_in_an_empty_environment(bundle, tmp_path, tiny_model_file, capsys):
    """``env -i QT_QPA_PLATFORM=offscreen HOME=... oasis-studio --self-test DIR`` exits 0; the images exist."""
    from PIL import Image

    bundle_dir, exe, stamp = bundle
    models = _contents(bundle_dir) / "resources" / "models"
    (models / TEST_MODEL).unlink(missing_ok=True)  # a leftover of an interrupted run
    added = None
    created = not models.is_dir()
    if not any(models.glob("*.safetensors")):  # no trained model shipped yet: a small real one, found the same way
        models.mkdir(parents=True, exist_ok=True)
        added = models / TEST_MODEL
        shutil.copyfile(tiny_model_file, added)
    home, out_dir = tmp_path / "home", tmp_path / "self-test"
    home.mkdir()
    lines: list[str] = []
    first_image_wall = None
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "--self-test", str(out_dir)],
            env=_empty_env(home),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if first_image_wall is None and "first image shown" in line:
                first_image_wall = time.perf_counter() - t0
        code = proc.wait(timeout=1800)
        wall = time.perf_counter() - t0
    finally:
        if added is not None:
            added.unlink(missing_ok=True)
            if created:
                models.rmdir()
    log = "\n".join(lines)
    assert code == 0, f"frozen self-test exited {code}:\n{log[-6000:]}"
    report = json.loads((out_dir / "report.json").read_text())
    assert report["passed"] and report["frozen"], log[-4000:]
    model_file = Path(report["model_file"]).resolve()
    assert model_file.is_relative_to(bundle_dir.resolve()), f"the model was not found in the bundle: {model_file}"
    for name in IMAGES:
        path = out_dir / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing from the self-test's output"
        with Image.open(path) as im:
            im.verify()
    assert (out_dir / "scene.oasis").is_file()

    timings = report["timings_s"]
    with capsys.disabled():
        print(
            f"\nfrozen self-test passed in {wall:.1f} s on model {report['model']['name']!r} "
            f"({report['model']['device']}, {report['model']['dtype']}); bundle {stamp['total_bytes'] / 2**20:.0f} MiB"
        )
        print(
            "cold start to the first generated image: "
            f"{timings.get('process_start_to_first_image', float('nan')):.2f} s from process start "
            f"({timings['cold_start_to_first_image']:.2f} s from the app's import; "
            f"{first_image_wall if first_image_wall is not None else float('nan'):.2f} s as seen by this test)"
        )
