"""App latency: from the end of a brush stroke to the new image on screen, through the real window.

    python -m benchmarks.bench_app_latency [--model PATH] [--size 256x256] [--strokes 10] [--dtype auto]

Runs the real ``MainWindow`` offscreen in live mode: each stroke is a mouse drag on the canvas; the time is taken
from the mouse release to the window showing the image made from that stroke's labels (the live debounce delay
included, since a person waits for it too). Without ``--model`` it uses the bundled default model, or builds a lite
random-weight generator (ch=16, SPADE hidden 32, z 16) of the landscapes classes when none is bundled. Prints
median / p90 / max and the engine's own ms per frame. Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def lite_model(path: Path) -> Path:
    import torch

    from oasis_core import labels
    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.config import GeneratorConfig
    from oasis_core.nn import Generator

    torch.manual_seed(0)
    ls = labels.landscapes()
    g = Generator(GeneratorConfig(semantic_nc=ls.num_channels, ch=16, spade_hidden=32, z_dim=16))
    g.init_weights()
    return save_checkpoint(path, g, label_space=ls, name="lite landscapes (random weights)", natural_size=(256, 256))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model file (default: bundled default, else a lite random model)")
    ap.add_argument("--size", default="256x256", help="canvas WxH (default 256x256)")
    ap.add_argument("--strokes", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import QPoint, QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app import resources
    from app.selftest import wait_idle, wait_until
    from app.ui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="oasis-bench-"))
    model = Path(args.model) if args.model else resources.default_model()
    if model is None:
        model = lite_model(tmp / "lite.safetensors")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    win = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), restore_layout=False)
    win.resize(1400, 900)
    win.show()
    win.models.load_model(model, device=args.device, dtype=args.dtype)
    if not wait_until(lambda: win.info is not None or bool(win.messages), 600) or win.info is None:
        print("model did not load:", [m.text for m in win.messages])
        return 1
    win.files.new_canvas(h, w)
    wait_idle(win, 600)
    win.set_live(True)
    shown: list[float] = []
    win.session.image_shown.connect(lambda: shown.append(time.perf_counter()))
    c = win.canvas
    win.set_brush_size(max(4, w // 16))
    latencies, frames = [], []
    for i in range(args.strokes):
        win.palette.choose(win.info.real_classes[i % len(win.info.real_classes)].value)
        y0, y1 = h * 0.2, h * 0.8
        x = w * (0.1 + 0.8 * i / max(1, args.strokes - 1))

        def at(px: float, py: float) -> QPoint:
            p = c.to_widget(px, py)
            return QPoint(round(p.x()), round(p.y()))

        QTest.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, y0))
        for k in range(1, 9):
            QTest.mouseMove(c, at(x + 10 * (k % 2), y0 + (y1 - y0) * k / 8))
        n = len(shown)
        QTest.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(x, y1))
        t_release = time.perf_counter()
        revision = win.scene.revision
        ok = wait_until(lambda n=n, r=revision: len(shown) > n and win.session.image_revision == r, 600)
        if not ok:
            print("no image after a stroke")
            return 1
        latencies.append((shown[-1] - t_release) * 1000)
        frames.append(win.generation.last_frame_ms or 0.0)
        wait_idle(win, 600)
    info = win.info
    print(f"model: {info.name} ({Path(info.path).name}) on {info.device}, {info.dtype}; canvas {w}x{h}")
    print(f"live delay (debounce): {win.generation._live_timer.interval()} ms; strokes: {len(latencies)}")
    q = sorted(latencies)
    print(
        f"stroke end -> image shown: median {statistics.median(q):.0f} ms, p90 {q[int(0.9 * (len(q) - 1))]:.0f} ms, "
        f"max {q[-1]:.0f} ms"
    )
    print(f"engine ms per frame: median {statistics.median(frames):.0f} ms")
    win.scene.mark_saved()
    win.close()
    win.shutdown()
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
