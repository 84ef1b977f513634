"""``oasis-studio --self-test DIR``: drive the real window headless and check the whole loop end to end.

It loads the model, paints a scripted scene with the real tools, generates, rerolls a lassoed region, saves a
project, reopens it and checks that the regenerated image is byte-identical, exports the image, label map and sheet,
and writes the images plus ``report.json`` (what passed, what it measured) into DIR. Exit status 0 only if every
check passed. Packaging runs it against the frozen app.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np


class _Checks:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.items.append({"check": name, "ok": bool(ok), "detail": detail})
        print(f"[{'ok' if ok else 'FAIL'}] {name}" + (f": {detail}" if detail else ""), flush=True)
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(i["ok"] for i in self.items)


# ----------------------------------------------------------------------------- drivers (the self-test, tests, benches)
def wait_until(predicate, timeout_s: float = 60.0) -> bool:
    """Process Qt events until ``predicate()`` is true (False on timeout)."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.002)
    return True


def wait_idle(win, timeout_s: float = 60.0) -> bool:
    """Wait until the window's workflows have no generation scheduled, queued or running, and deliver results."""
    from PySide6.QtWidgets import QApplication

    ok = wait_until(lambda: not win.generation.pending and not win.engine.busy, timeout_s)
    QApplication.processEvents()
    return ok


def _process_age_s() -> float | None:
    """Seconds since the OS started this process (Linux /proc), or None where that is not known."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in clock ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _scripted_points(h: int, w: int) -> dict[str, list[tuple[float, float]]]:
    """Shapes in relative coordinates, scaled to the canvas."""

    def s(pts):
        return [(x * w, y * h) for x, y in pts]

    return {
        "mountain": s([(0.0, 0.62), (0.18, 0.30), (0.34, 0.45), (0.52, 0.22), (0.74, 0.48), (1.0, 0.40), (1.0, 0.62)]),
        "water": s([(0.30, 0.72), (0.95, 0.92)]),
        "tree_stroke": s([(0.06, 0.70), (0.10, 0.80), (0.14, 0.74), (0.18, 0.84), (0.22, 0.78)]),
        "cloud_stroke": s([(0.60, 0.10), (0.68, 0.12), (0.76, 0.09), (0.84, 0.12)]),
        "reroll_lasso": s([(0.55, 0.05), (0.98, 0.05), (0.98, 0.35), (0.55, 0.35)]),
    }


def run_self_test(out_dir: Path, model: str | None = None, device: str = "auto", t0: float | None = None) -> int:
    t0 = time.perf_counter() if t0 is None else t0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "app": "oasis-studio",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "timings_s": {},
        "checks": [],
    }
    checks = _Checks()
    code = 1
    try:
        code = _run(out_dir, model, device, t0, report, checks)
    except Exception as exc:  # the report must say what broke
        traceback.print_exc()
        checks.check("self-test ran to the end", False, f"{type(exc).__name__}: {exc}")
        code = 1
    report["checks"] = checks.items
    report["passed"] = checks.ok and code == 0
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"self-test {'PASSED' if report['passed'] else 'FAILED'}; report: {out_dir / 'report.json'}", flush=True)
    return 0 if report["passed"] else 1


def _run(out_dir: Path, model: str | None, device: str, t0: float, report: dict, checks: _Checks) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.doc import label_io
    from app.ui.main_window import MainWindow

    timings = report["timings_s"]
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(resources.APP_NAME)
    settings = QSettings(str(out_dir / "settings.ini"), QSettings.Format.IniFormat)
    settings.clear()
    model_path = Path(model) if model else resources.default_model()
    if model_path is None or not model_path.is_file():
        checks.check("a model to test with", False, f"no model file (looked in {resources.resource_path('models')})")
        return 1
    report["model_file"] = str(model_path)

    win = MainWindow(settings=settings, dark=True, restore_layout=False)
    win.ask_handler = lambda title, text, buttons: "Discard" if "Discard" in buttons else buttons[0]
    win.resize(1400, 860)
    win.show()
    settings.setValue("device", device)
    win.models.device = device
    shown: list[float] = []
    win.session.image_shown.connect(lambda: shown.append(time.perf_counter()))

    win.models.load_model(model_path, device=device, dtype="auto")
    if not checks.check("model loads", wait_until(lambda: win.info is not None or bool(win.messages), 600)):
        return 1
    if win.info is None:
        checks.check("model loads without error", False, win.messages[-1].text if win.messages else "")
        return 1
    info = win.info
    report["model"] = {"name": info.name, "sha256": info.model_hash, "device": info.device, "dtype": info.dtype}
    timings["model_load"] = round((win.models.load_ms or 0) / 1000, 4)
    ok = wait_until(lambda: bool(shown), 600)
    detail = ""
    if ok:
        timings["cold_start_to_first_image"] = round(shown[0] - t0, 4)
        detail = f"cold start to first image {shown[0] - t0:.2f} s after the app's import"
        age = _process_age_s()
        if age is not None:  # includes the interpreter's (or the frozen bootloader's) own start
            from_process = age - (time.perf_counter() - shown[0])
            timings["process_start_to_first_image"] = round(from_process, 4)
            detail += f", {from_process:.2f} s after the process started"
    checks.check("first image shown", ok, detail)
    if not ok:
        return 1
    wait_idle(win, 600)

    scene = win.scene
    assert scene is not None
    h, w = scene.shape
    pts = _scripted_points(h, w)
    real = info.real_classes

    def cls(name: str, fallback: int) -> int:
        v = info.value_of(name)
        return v if v is not None else real[fallback % len(real)].value

    # ---------------------------------------------------------------- paint with the real tools
    t = time.perf_counter()
    win.set_live(False)
    canvas = win.canvas
    before = scene.labels.copy()
    win.palette.choose(cls("mountain", 2))
    win.set_tool("lasso")
    canvas.drag(pts["mountain"])
    win.palette.choose(cls("water", 5))
    win.set_tool("rect")
    canvas.drag(pts["water"])
    win.palette.choose(cls("tree", 8))
    win.set_tool("brush")
    win.set_brush_size(max(3, w // 16))
    canvas.drag(pts["tree_stroke"])
    win.palette.choose(cls("cloud", 1))
    win.set_brush_size(max(3, w // 20))
    canvas.drag(pts["cloud_stroke"])
    win.palette.choose(cls("sand", 7))
    win.set_tool("fill")
    canvas.drag([(w * 0.5, h * 0.99)])
    timings["painting"] = round(time.perf_counter() - t, 4)
    values = set(np.unique(scene.labels).tolist())
    checks.check(
        "scripted painting changed the label map", not np.array_equal(before, scene.labels), f"classes {values}"
    )
    checks.check("painted classes present", cls("water", 5) in values and cls("mountain", 2) in values)
    after_paint = scene.labels.copy()
    win.generation.undo()
    undone = not np.array_equal(after_paint, scene.labels)
    win.generation.redo()
    checks.check("undo and redo restore the label map", undone and np.array_equal(after_paint, scene.labels))

    # ---------------------------------------------------------------- generate
    t = time.perf_counter()
    n = len(shown)
    win.generation.generate_now()
    ok = wait_until(lambda: len(shown) > n, 600) and wait_idle(win, 600)
    timings["generate"] = round(time.perf_counter() - t, 4)
    checks.check("image generated from the painted scene", ok and canvas.image is not None)
    image1 = canvas.image.copy()
    label_io.write_image(out_dir / "generated.png", image1)
    report["frame_ms"] = round(win.generation.last_frame_ms or 0.0, 2)

    # ---------------------------------------------------------------- lasso reroll
    win.set_tool("select")
    canvas.drag(pts["reroll_lasso"])
    sel = scene.selection
    checks.check("lasso selection made", sel is not None and bool(sel.any()))
    win.reroll_panel.strength.setValue(100)
    t = time.perf_counter()
    n = len(shown)
    win.reroll_selection()
    ok = wait_until(lambda: len(shown) > n, 600) and wait_idle(win, 600)
    timings["reroll"] = round(time.perf_counter() - t, 4)
    image2 = canvas.image.copy()
    label_io.write_image(out_dir / "rerolled.png", image2)
    diff = np.abs(image1.astype(np.int16) - image2.astype(np.int16)).mean(-1)
    inside = float(diff[sel].mean())
    outside = float(diff[~sel].mean()) if (~sel).any() else 0.0
    report["reroll_change"] = {"inside": round(inside, 3), "outside": round(outside, 3)}
    # How local the change is depends on the model (an early snapshot shifts global tints); the self-test checks
    # that the app rerolled and regenerated, and reports the locality as a measurement.
    checks.check(
        "reroll regenerates the image with new noise in the region",
        ok and inside > 0.5,
        f"mean |diff| inside {inside:.2f}, outside {outside:.2f}",
    )
    checks.check("the reroll is recorded as a region", len(scene.regions) == 1)

    # ---------------------------------------------------------------- save, reopen, reproduce
    project = out_dir / "scene.oasis"
    t = time.perf_counter()
    checks.check("project saved", win.files.save_project(project) and project.is_file())
    timings["save_project"] = round(time.perf_counter() - t, 4)
    t = time.perf_counter()
    win.files.new_canvas(*info.natural_size)
    wait_idle(win, 600)
    reopened = win.files.open_project(project)
    checks.check(
        "project reopened", reopened and win.scene is not None and np.array_equal(win.scene.labels, after_paint)
    )
    timings["open_project"] = round(time.perf_counter() - t, 4)
    n = len(shown)
    win.generation.generate_now()
    ok = wait_until(lambda: len(shown) > n, 600) and wait_idle(win, 600)
    image3 = canvas.image.copy() if canvas.image is not None else None
    same = ok and image3 is not None and image3.tobytes() == image2.tobytes()
    checks.check("reopened project regenerates identical image bytes", same)
    history = len(win.scene.history) if win.scene else 0
    checks.check("generation history saved and restored", history >= 2, f"{history} entries")

    # ---------------------------------------------------------------- variants
    n_var = 3
    stamp = win.generate_variants(n_var, selection_only=False)
    ok = wait_until(lambda: win.generation.variants is not None and win.generation.variants.stamp == stamp, 600)
    checks.check("variants generated", ok and len(win.generation.variants.images) == n_var)

    # ---------------------------------------------------------------- exports
    ok_img = win.files.export_image(out_dir / "export.png") and win.files.export_image(out_dir / "export.jpg")
    ok_lab = win.files.export_label_map(out_dir / "labels.png")
    ok_sheet = win.files.export_sheet(out_dir / "sheet.png")
    back, warning = label_io.read_label_map(out_dir / "labels.png", info)
    checks.check("image exported as PNG and JPEG", ok_img and (out_dir / "export.jpg").stat().st_size > 0)
    checks.check(
        "label map exported as an indexed PNG that reads back identically",
        ok_lab
        and warning is None
        and np.array_equal(back, win.scene.labels)
        and (out_dir / "labels.labels.txt").is_file(),
    )
    checks.check("side-by-side sheet exported", ok_sheet)
    win.grab().save(str(out_dir / "window.png"))
    errors = [m.text for m in win.messages if m.kind == "error"]
    checks.check("no error messages shown", not errors, "; ".join(errors))

    report["timings_s"]["total"] = round(time.perf_counter() - t0, 4)
    report["threads"] = os.cpu_count()
    win.scene.mark_saved()  # nothing to ask on close
    win.close()
    win.shutdown()
    return 0 if checks.ok else 1
