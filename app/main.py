"""``oasis-studio``: start the desktop app (or its headless self-test)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from app import resources

_T0 = time.perf_counter()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="oasis-studio",
        description="Paint scenes with semantic classes and turn them into images with OASIS.",
    )
    p.add_argument("file", nargs="?", help="a project (.oasis), a label map (.png) or a model (.safetensors) to open")
    p.add_argument("--model", metavar="PATH", help="model file to load (default: the last one, else the bundled one)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs (default: auto)")
    p.add_argument("--dtype", choices=["auto", "fp32", "bf16", "fp16"], help="precision (default: auto)")
    p.add_argument("--light", action="store_true", help="use the light theme")
    p.add_argument("--dark", action="store_true", help="use the dark theme")
    p.add_argument(
        "--self-test",
        metavar="DIR",
        help="run headless: paint, generate, reroll, save, reopen, export; write images and report.json to DIR",
    )
    p.add_argument("--screenshot", metavar="PATH", help=argparse.SUPPRESS)  # grab the window after the first image
    p.add_argument("--fresh", action="store_true", help="ignore remembered settings (window layout, last model)")
    p.add_argument("--version", action="version", version=f"%(prog)s {resources.app_version()}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from app.selftest import run_self_test

        return run_self_test(Path(args.self_test), model=args.model, device=args.device or "auto", t0=_T0)

    from app.platform_check import EXIT_MISSING_LIBRARIES, check_window_platform

    problem = check_window_platform()
    if problem is not None:
        print(f"oasis-studio: {problem}", file=sys.stderr)
        return EXIT_MISSING_LIBRARIES

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(resources.APP_NAME)
    app.setOrganizationName(resources.ORG_NAME)
    app.setApplicationVersion(resources.app_version())
    app.setDesktopFileName("oasis-studio")  # matches resources/oasis-studio.desktop (taskbar icon on Wayland)
    icon_file = resources.resource_path("icons", "oasis-studio.png")
    if icon_file.is_file():
        app.setWindowIcon(QIcon(str(icon_file)))
    settings = QSettings(resources.ORG_NAME, resources.APP_NAME)
    if args.fresh:
        settings.clear()
    dark = False if args.light else (True if args.dark else None)
    if args.device:
        settings.setValue("device", args.device)
    if args.dtype:
        settings.setValue("dtype", args.dtype)
    win = MainWindow(settings=settings, dark=dark, restore_layout=not args.fresh, recovery_dir=resources.recovery_dir())
    win.show()

    model = args.model
    file = Path(args.file) if args.file else None
    if file is not None and file.suffix.lower() in (resources.MODEL_SUFFIX, *resources.OFFICIAL_SUFFIXES):
        model, file = str(file), None
    if model is None:
        last = settings.value("last_model")
        if last and Path(str(last)).is_file():
            model = str(last)
        else:
            default = resources.default_model()
            model = str(default) if default else None
    if model:
        win.models.load_model(model)
    else:
        win.canvas.placeholder = (
            "No model found. Open a model file with Model ▸ Open model file… (Ctrl+M):\n"
            "an OASIS Studio .safetensors or an official OASIS .pth"
        )
    if file is not None:
        opener = win.files.open_project if file.suffix.lower() == ".oasis" else win.files.open_label_map

        def open_when_ready(*_model) -> None:
            win.session.model_changed.disconnect(open_when_ready)
            opener(file)

        if model:
            win.session.model_changed.connect(open_when_ready)
        else:
            opener(file)

    recovery = win.recovery
    if recovery is not None and not args.screenshot:
        if file is None:
            offered = []

            def offer_once(*_args) -> None:  # after the first model loaded (or failed): its canvas is up
                if not offered:
                    offered.append(True)
                    QTimer.singleShot(0, recovery.offer)

            if model:
                win.session.model_changed.connect(offer_once)
                win.models.load_failed.connect(offer_once)
            else:
                offer_once()
        elif recovery.orphans():
            win.status(
                "Unsaved work from an earlier session that did not close normally is kept: start OASIS Studio "
                "without a file to recover it.",
                15000,
            )

    if args.screenshot:
        shot = Path(args.screenshot)

        def grab() -> None:
            win.grab().save(str(shot))
            print(f"screenshot: {shot}")
            app.quit()

        def after_image() -> None:
            win.session.image_shown.disconnect(after_image)
            QTimer.singleShot(600, grab)

        win.session.image_shown.connect(after_image)
        QTimer.singleShot(60000, grab)
    code = app.exec()
    win.shutdown()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
