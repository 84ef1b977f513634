"""The real main window driven with mouse and key events (pytest-qt, offscreen), on tiny random-weight models."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from app_helpers import close_window, image_diff, make_tiny_model, open_window, wait_for  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402

from app.selftest import wait_idle  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny.safetensors")


@pytest.fixture
def win(qtbot, tmp_path, tiny_model):
    w = open_window(qtbot, tmp_path, tiny_model, size=(128, 128))
    yield w
    close_window(w)


def pt(win, x, y, pane=0) -> QPoint:
    p = win.canvas.to_widget(x, y, pane)
    return QPoint(round(p.x()), round(p.y()))


def mouse_drag(qtbot, win, points, pane=0, modifier=Qt.KeyboardModifier.NoModifier):
    c = win.canvas
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, modifier, pt(win, *points[0], pane))
    for p in points[1:]:
        qtbot.mouseMove(c, pt(win, *p, pane))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, modifier, pt(win, *points[-1], pane))


def test_a_stroke_paints_the_chosen_class_and_undo_restores_it(qtbot, win):
    before = win.scene.labels.copy()
    water = win.info.value_of("water")
    win.palette.choose(water)
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    win.set_brush_size(10)
    mouse_drag(qtbot, win, [(20, 60), (50, 62), (90, 64)])
    painted = win.scene.labels == water
    assert painted[60:64, 25:85].all(), "the stroke covers the dragged line"
    assert painted.sum() < 128 * 20
    assert win.scene.can_undo
    win.activateWindow()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(win.scene.labels, before)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (win.scene.labels == water).sum() == painted.sum()


def test_painting_in_the_image_pane_edits_the_same_labels(qtbot, win):
    sky = win.info.value_of("rock")
    win.palette.choose(sky)
    win.set_tool("rect")
    mouse_drag(qtbot, win, [(10, 10), (30, 20)], pane=1)
    assert (win.scene.labels[10:21, 10:31] == sky).all()


def test_number_keys_and_search_choose_classes(qtbot, win):
    qtbot.keyClick(win.canvas, Qt.Key.Key_3)
    assert win.canvas.value == win.info.classes[2].value
    win.palette.focus_search()
    qtbot.keyClicks(win.palette.search, "sno")
    assert [win.info.class_of(v).name for v in win.palette.visible_values()] == ["snow"]
    qtbot.keyClick(win.palette.search, Qt.Key.Key_Return)
    assert win.canvas.value == win.info.value_of("snow")
    assert win.palette.recent[:2] == [win.info.value_of("snow"), win.info.classes[2].value]


def test_brush_size_keys_and_fill_tool(qtbot, win):
    win.set_brush_size(20)
    qtbot.keyClick(win.canvas, Qt.Key.Key_BracketRight)
    assert win.canvas.brush_size == pytest.approx(25)
    qtbot.keyClick(win.canvas, Qt.Key.Key_BracketLeft)
    assert win.canvas.brush_size == pytest.approx(20)
    sand = win.info.value_of("sand")
    win.palette.choose(sand)
    qtbot.keyClick(win.canvas, Qt.Key.Key_F)
    assert win.canvas.tool == "fill"
    top = win.scene.labels[0, 0]
    region = (win.scene.labels == top).sum()
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=pt(win, 5, 5))
    assert (win.scene.labels == sand).sum() == region  # the whole connected top region
    win.palette.choose(win.info.value_of("tree"))
    qtbot.keyClick(win.canvas, Qt.Key.Key_I)
    qtbot.mouseClick(win.canvas, Qt.MouseButton.LeftButton, pos=pt(win, 5, 5))
    assert win.canvas.value == sand  # the eyedropper picked it
    assert win.canvas.tool == "brush"  # and hands back to the brush


def test_live_generation_shows_the_image_of_the_latest_labels(qtbot, win):
    win.set_live(True)
    win.set_tool("brush")
    for i, name in enumerate(("water", "tree", "rock", "snow")):
        win.palette.choose(win.info.value_of(name))
        mouse_drag(qtbot, win, [(10 + 20 * i, 30), (20 + 20 * i, 90)])
    assert wait_idle(win, 60)
    assert wait_for(lambda: not win.generation.pending and not win.engine.busy, 30)
    entry = win.scene.current_entry()
    assert np.array_equal(entry.labels, win.scene.labels), "the shown image was made from the final labels"
    assert np.array_equal(win.canvas.image, entry.image)
    # strokes in quick succession are coalesced: fewer generations than strokes
    assert len(win.scene.history) < 1 + 4


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    # five blocks (latent at 1/8 of the image): the generator's reach across a region border is ~40 px
    path = tmp_path_factory.mktemp("local") / "local.safetensors"
    return make_tiny_model(path, seed=1, multipliers=(16, 8, 4, 2, 1))


def test_lasso_reroll_changes_the_image_inside_much_more_than_outside(qtbot, tmp_path, local_model, monkeypatch):
    import app.flows.generation

    monkeypatch.setattr(app.flows.generation, "random_seed", lambda: 11)  # the reroll's new noise vector, fixed
    win = open_window(qtbot, tmp_path, local_model, size=(256, 256))
    try:
        win.generation.set_style_seed(1)
        assert wait_idle(win, 60)
        before = win.canvas.image.copy()
        qtbot.keyClick(win.canvas, Qt.Key.Key_S)
        assert win.canvas.tool == "select"
        lasso = [(140, 140), (240, 140), (240, 240), (140, 240)]
        mouse_drag(qtbot, win, [*lasso, (141, 141)])
        sel = win.scene.selection
        assert sel is not None and 95 * 95 < sel.sum() < 105 * 105
        win.reroll_panel.strength.setValue(100)
        shown = []
        win.session.image_shown.connect(lambda: shown.append(1))
        qtbot.mouseClick(win.reroll_panel.reroll_button, Qt.MouseButton.LeftButton)
        assert wait_for(lambda: bool(shown), 60) and wait_idle(win, 60)
        d = image_diff(before, win.canvas.image)
        inside, outside = d[sel].mean(), d[~sel].mean()
        far = np.ones_like(sel)
        far[140 - 48 :, 140 - 48 :] = False  # beyond the generator's reach from the region
        print(f"reroll: mean |diff| inside {inside:.1f}, outside {outside:.1f}, far outside {d[far].mean():.2f}")
        assert inside > 5 * outside, (inside, outside)
        assert d[far].max() == 0, "noise outside the region is unchanged, so far pixels are identical"
        from app.doc import DEFAULT_FEATHER

        assert len(win.scene.regions) == 1 and win.scene.regions[0].strength == 1.0
        assert win.scene.regions[0].feather == DEFAULT_FEATHER == win.reroll_panel.feather_value  # a soft edge
        # a low strength changes less than a full reroll
        win.generation.undo()
        win.reroll_panel.strength.setValue(15)
        shown.clear()
        win.reroll_selection()
        assert wait_for(lambda: bool(shown), 60) and wait_idle(win, 60)
        subtle = image_diff(before, win.canvas.image)[sel].mean()
        print(f"strength 0.15: inside {subtle:.1f}")
        assert subtle < inside / 2
    finally:
        close_window(win)


def test_switching_tools_drops_a_polygon_begun_with_the_last_one(qtbot, win):
    """A click with the lasso fill starts a polygon (vertex by vertex); switching to the lasso select (S) then
    dragging must select what is dragged around, not close the fill's polygon with a stray first vertex."""
    before = win.scene.labels.copy()
    win.set_tool("lasso")
    mouse_drag(qtbot, win, [(100, 100)])  # a click: a polygon lasso with one vertex
    assert win.canvas._lasso
    qtbot.keyClick(win.canvas, Qt.Key.Key_S)
    assert win.canvas.tool == "select" and not win.canvas._lasso
    mouse_drag(qtbot, win, [(10, 10), (50, 10), (50, 40), (10, 40), (11, 11)])
    sel = win.scene.selection
    assert sel is not None and sel[25, 30] and not sel[100, 100] and 35 * 25 <= sel.sum() <= 42 * 32
    assert np.array_equal(win.scene.labels, before)  # nothing was filled
    win.set_tool("rect")  # the same for a rectangle under way
    qtbot.mousePress(win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt(win, 5, 5))
    win.set_tool("brush")
    assert win.canvas._rect_start is None


def test_save_and_reopen_reproduces_the_same_image_bytes(qtbot, win, tmp_path):
    win.palette.choose(win.info.value_of("mountain"))
    win.set_tool("lasso")
    mouse_drag(qtbot, win, [(0, 80), (40, 30), (80, 60), (127, 20), (127, 80)])
    win.scene.selection = np.zeros(win.scene.shape, bool)
    win.scene.selection[:40, :60] = True
    win.reroll_selection()
    assert wait_idle(win, 60)
    image = win.canvas.image.copy()
    labels = win.scene.labels.copy()
    path = tmp_path / "scene.oasis"
    assert win.files.save_project(path)
    assert not win.scene.dirty and "scene.oasis" in win.windowTitle()
    win.files.new_canvas(64, 64)
    assert wait_idle(win, 60)
    assert win.files.open_project(path)
    assert np.array_equal(win.scene.labels, labels)
    assert win.canvas.image is not None, "the project's saved image is on show at once"
    assert win.canvas.image.tobytes() == image.tobytes()
    shown = []
    win.session.image_shown.connect(lambda: shown.append(1))
    win.generation.generate_now()
    assert wait_for(lambda: bool(shown), 60) and wait_idle(win, 60)
    assert win.canvas.image.tobytes() == image.tobytes()


def test_export_writes_an_indexed_png_with_palette_and_ids(win, tmp_path):
    win.palette.choose(win.info.value_of("water"))
    win.set_tool("rect")
    win.canvas.drag([(5, 5), (40, 30)])
    out = tmp_path / "out" / "map.png"
    out.parent.mkdir()
    assert win.files.export_label_map(out)
    im = Image.open(out)
    assert im.mode == "P"
    assert np.array_equal(np.asarray(im), win.scene.labels)
    pal = np.array(im.getpalette()).reshape(-1, 3)
    for c in win.info.classes:
        assert tuple(pal[c.value]) == c.rgb
    names = out.with_name(f"{out.stem}.labels.txt").read_text().splitlines()
    assert names[0] == f"{win.info.classes[0].value} {win.info.classes[0].name}"
    assert win.files.export_image(tmp_path / "img.jpg") and win.files.export_sheet(tmp_path / "sheet.png")
    assert Image.open(tmp_path / "sheet.png").size[0] > 2 * 128


def test_a_bad_checkpoint_gives_a_dialog_and_keeps_the_document(qtbot, win, tmp_path):
    win.palette.choose(win.info.value_of("water"))
    win.canvas.drag([(10, 10), (60, 60)])
    labels = win.scene.labels.copy()
    scene, info = win.scene, win.info
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 100 + b"not a model")
    win.models.load_model(bad)
    assert wait_for(lambda: bool(win.messages), 30)
    msg = win.messages[-1]
    assert msg.kind == "error" and "broken.safetensors" in msg.text and "kept" in msg.text
    assert any(b.isVisible() and "broken" in b.text() for b in win.open_message_boxes())
    assert win.scene is scene and win.info is info and np.array_equal(win.scene.labels, labels)
    # still usable
    win.generation.generate_now()
    assert wait_idle(win, 60)


def test_a_bad_project_file_gives_a_dialog_and_keeps_the_document(qtbot, win, tmp_path):
    scene = win.scene
    labels = scene.labels.copy()
    bad = tmp_path / "damaged.oasis"
    bad.write_bytes(b"PK\x03\x04 broken zip")
    assert not win.files.open_project(bad)
    msg = win.messages[-1]
    assert msg.kind == "error" and "damaged.oasis" in msg.text
    assert any(b.isVisible() for b in win.open_message_boxes())
    assert win.scene is scene and np.array_equal(win.scene.labels, labels)
    png = tmp_path / "ids.png"
    Image.fromarray(np.full((64, 64), 200, np.uint8)).save(png)
    assert not win.files.open_label_map(png)
    assert "200" in win.messages[-1].text and win.scene is scene


def test_painting_stays_responsive_during_a_large_generation(qtbot, tmp_path, tiny_model):
    win = open_window(qtbot, tmp_path, tiny_model, size=(64, 64))
    try:
        win.set_live(False)
        from app.doc import Scene

        # large: > 0.4 s even on the fast path
        win.session.replace_scene(Scene.blank(2048, 2048, win.info.value_of("grass")))
        win.canvas.fit()
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        t0 = time.perf_counter()
        win.generation.generate_now()
        assert wait_for(lambda: win.engine.busy, 5)
        timer.start()
        last[0] = time.perf_counter()
        water = win.info.value_of("water")
        win.palette.choose(water)
        win.set_tool("brush")
        win.set_brush_size(60)
        painted_while_busy = 0
        for i in range(6):
            mouse_drag(qtbot, win, [(100 + 140 * i, 200), (150 + 140 * i, 700)])
            wait_for(lambda: False, 0.03)
            painted_while_busy += win.engine.busy
        assert wait_for(lambda: not win.engine.busy, 120)
        gen_s = time.perf_counter() - t0
        timer.stop()
        assert painted_while_busy >= 3, "the strokes ran while the model was generating"
        assert (win.scene.labels == water).sum() > 6 * 400 * 50
        worst = max(gaps)
        assert gen_s > 0.4, gen_s
        print(f"generation {gen_s:.2f} s, worst event-loop gap {worst * 1000:.0f} ms, {len(gaps)} ticks")
        assert worst < 0.25, f"the event loop stalled {worst * 1000:.0f} ms during a {gen_s:.1f} s generation"
    finally:
        close_window(win)


def test_closing_with_unsaved_changes_asks(qtbot, tmp_path, tiny_model):
    win = open_window(qtbot, tmp_path, tiny_model)
    try:
        win.canvas.drag([(5, 5), (30, 30)])
        assert win.scene.dirty
        win.answers = ["Cancel"]
        win.close()
        assert win.isVisible() and win.questions and "unsaved" in win.questions[-1][1].lower()
        win.answers = ["Discard"]
        win.close()
        assert not win.isVisible()
        assert win.settings.value("last_model")
    finally:
        win.shutdown()


def test_variants_and_history(qtbot, win):
    stamp = win.generate_variants(3, selection_only=False)
    assert wait_for(lambda: win.generation.variants is not None and win.generation.variants.stamp == stamp, 60)
    assert win.variants_panel.grid.count() == 3
    seeds = win.generation.variants.tag
    first_image = win.canvas.image.copy()
    first_seed = win.scene.style_seed
    qtbot.mouseClick(
        win.variants_panel.grid.viewport(),
        Qt.MouseButton.LeftButton,
        pos=win.variants_panel.grid.visualItemRect(win.variants_panel.grid.item(1)).center(),
    )
    assert win.scene.style_seed == seeds[1]
    assert np.array_equal(win.canvas.image, win.generation.variants.images[1])
    n = len(win.scene.history)
    win.generation.step_history(-1)
    assert win.scene.style_seed == first_seed and win.scene.history_index == n - 2
    assert np.array_equal(win.canvas.image, first_image)
    win.generation.step_history(+1)
    assert win.scene.style_seed == seeds[1]


def test_seed_lock_and_view_modes(qtbot, win):
    win.generation.set_seed_locked(False)
    seed = win.scene.style_seed
    win.canvas.drag([(5, 5), (30, 30)])
    assert win.scene.style_seed != seed, "unlocked: a stroke draws a new style"
    win.generation.undo()
    assert win.scene.style_seed == seed
    win.generation.set_seed_locked(True)
    win.canvas.drag([(5, 5), (30, 30)])
    assert win.scene.style_seed == seed
    for key, mode in ((Qt.Key.Key_2, "blend"), (Qt.Key.Key_3, "split"), (Qt.Key.Key_1, "side")):
        qtbot.keyClick(win.canvas, key, Qt.KeyboardModifier.ControlModifier)
        assert win.canvas.view_mode == mode
    win.set_view_mode("blend")
    win.canvas.opacity = 0.7
    qtbot.keyClick(win.canvas, Qt.Key.Key_T)
    assert win.canvas.opacity == 0.0
    zoom = win.canvas.zoom
    win.canvas.zoom_at(2.0)
    qtbot.keyClick(win.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert win.canvas.zoom == pytest.approx(zoom)


def test_help_lists_every_tool_shortcut(win):
    from app.ui.actions import TOOL_INFO
    from app.ui.dialogs import HelpDialog

    texts = HelpDialog(win).shortcut_texts()
    for _, key, _ in TOOL_INFO.values():
        assert key in texts


def test_self_test_passes_on_a_tiny_model(tmp_path, tiny_model, qapp):
    import json

    from app.selftest import run_self_test

    code = run_self_test(tmp_path / "st", model=str(tiny_model), device="cpu")
    report = json.loads((tmp_path / "st" / "report.json").read_text())
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["passed"] and report["timings_s"]["cold_start_to_first_image"] > 0
    for name in ("generated.png", "rerolled.png", "scene.oasis", "labels.png", "labels.labels.txt", "sheet.png"):
        assert (tmp_path / "st" / name).is_file()


def test_an_official_pth_is_offered_for_conversion_and_a_bad_one_is_explained(win, tmp_path):
    """A .pth is read and checked first (in the worker, no code runs): a file that is no official generator is
    explained without asking anything; a real official layout is matched to its dataset, then the save dialog
    comes, then the conversion."""
    import torch

    from oasis_core.checkpoint import official_generator_layout

    scene, scene_model = win.scene, win.info.model_hash
    fake = tmp_path / "best_EMA.pth"
    fake.write_bytes(b"this is not a torch file")
    asked = []
    win.path_handler = lambda mode, title, suggestion: (
        asked.append((mode, suggestion)) or str(tmp_path / "conv.safetensors")
    )
    win.models.load_model(fake)
    assert wait_for(lambda: bool(win.messages), 30)
    msg = win.messages[-1]
    assert msg.kind == "error" and "best_EMA.pth" in msg.text
    assert asked == [], "nothing is asked about a file that is not an official checkpoint"
    assert win.scene is scene and not (tmp_path / "conv.safetensors").exists()

    layout = official_generator_layout("cityscapes")
    state = {
        k: torch.tensor(0) if k.endswith("num_batches_tracked") else torch.full((1,), 0.01).expand(shape).clone()
        if len(shape) <= 1 else torch.full((1,), 0.01).expand(shape)
        for k, shape in layout.items()
    }  # right keys and shapes; stride-0 views keep the file small
    real = tmp_path / "oasis_cityscapes" / "best_EMA.pth"
    real.parent.mkdir()
    torch.save(state, real)
    chosen = []
    win.choose_official_dataset = lambda path, datasets, guess, d: chosen.append(datasets) or guess
    win.path_handler = lambda mode, title, suggestion: asked.append((mode, suggestion)) or None  # then cancel
    count = len(win.messages)
    win.models.load_model(real)
    assert wait_for(lambda: bool(asked), 60), [m.text for m in win.messages[count:]]
    assert chosen == [["cityscapes"]], "the dataset was recognised from the layout before anything was asked"
    assert asked == [("save", "best_EMA.safetensors")]
    assert wait_idle(win, 60) and win.info.model_hash == scene_model, "cancelled at the save dialog: nothing changes"

def test_opening_a_project_switches_to_the_model_it_was_made_with(qtbot, win, tmp_path, tiny_model):
    first = win.info
    path = tmp_path / "a.oasis"
    win.canvas.drag([(5, 5), (40, 40)])
    win.generation.generate_now()
    assert wait_idle(win, 60)
    assert win.files.save_project(path)
    other = make_tiny_model(tmp_path / "other.safetensors", seed=5, name="other")
    win.models.load_model(other)
    assert wait_for(lambda: win.info.model_hash != first.model_hash, 60)
    assert wait_idle(win, 60)
    assert win.files.open_project(path)
    assert wait_for(lambda: win.info.model_hash == first.model_hash and win.session.project_path == path, 60)
    assert not [m for m in win.messages if m.kind == "error"]
    assert win.recent_menu.actions() and win.recent_menu.actions()[0].text() == "a.oasis"


def test_v_brings_the_variants_tab_to_the_front(qtbot, win):
    """Variants and History share one place: asking for variants (V) shows the Variants tab, not the History."""
    def in_front(panel) -> bool:  # a tabbed dock behind another is not drawn at all
        return not panel.visibleRegion().isEmpty()

    win.history_dock.raise_()
    qtbot.wait(50)
    assert in_front(win.history_panel) and not in_front(win.variants_panel)
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_V)
    assert wait_for(lambda: win.generation.variants is not None, 60)
    qtbot.wait(50)
    assert in_front(win.variants_panel) and not in_front(win.history_panel)


def test_file_dialogs_suggest_names_after_the_project(win, tmp_path):
    suggested = []
    win.path_handler = lambda mode, title, suggestion: suggested.append(suggestion)  # and cancel (None)
    win.files.export_image_dialog()
    win.files.export_label_map_dialog()
    win.files.save_as()
    assert suggested == ["scene.png", "scene-labels.png", "scene.oasis"]
    assert win.files.save_project(tmp_path / "trip.oasis")
    suggested.clear()
    win.files.export_image_dialog()
    win.files.export_sheet_dialog()
    assert suggested == ["trip.png", "trip-sheet.png"]


def test_a_new_untouched_canvas_asks_nothing_before_it_is_replaced(qtbot, win):
    win.files.new_canvas(128, 128)
    assert wait_idle(win, 60) and win.canvas.image is not None  # its first image came at once
    assert not win.scene.dirty and not win.isWindowModified()
    n = len(win.questions)
    assert win.files.confirm_discard() and len(win.questions) == n  # no "Save first?"
    win.set_tool("brush")
    mouse_drag(qtbot, win, [(10, 10), (60, 40)])
    assert win.scene.dirty and win.isWindowModified()
    assert not win.files.confirm_discard() and len(win.questions) == n + 1  # now it asks (and the test cancels)


def test_runtime_choices_show_their_whole_text(win):
    for combo in (win.device_combo, win.dtype_combo):
        widest = max(combo.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
        assert combo.sizeHint().width() > widest, combo.currentText()
        assert combo.view().minimumWidth() >= widest + 40  # the drop-down list too: its entries are not cut


def test_a_stroke_past_the_maps_edge_into_the_image_pane_is_clipped_not_wrapped(qtbot, win):
    """Side by side: a brush drag that leaves the label map on the right and goes on into the image pane paints
    up to the edge and no further (it used to jump to the image pane's coordinates and paint across the map)."""
    win.set_view_mode("side")
    before = win.scene.labels.copy()
    water = win.info.value_of("water")
    win.palette.choose(water)
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    win.set_brush_size(8)
    c = win.canvas
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt(win, 100, 60))
    for x in (110, 120, 126):
        qtbot.mouseMove(c, pt(win, x, 60))
    qtbot.mouseMove(c, pt(win, 10, 60, pane=1))  # into the image pane, left part
    qtbot.mouseMove(c, pt(win, 40, 62, pane=1))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt(win, 40, 62, pane=1))
    painted = (win.scene.labels == water) & (before != water)
    assert painted[58:62, 100:128].all(), "painted up to the right edge"
    assert not painted[:, :90].any(), "nothing painted on the left of the map"


def test_enter_and_escape_in_the_class_search_give_the_keyboard_back_to_the_canvas(qtbot, win):
    from PySide6.QtWidgets import QApplication

    win.activateWindow()
    win.palette.focus_search()
    assert wait_for(lambda: QApplication.focusWidget() is win.palette.search, 5)
    qtbot.keyClicks(win.palette.search, "wat")
    qtbot.keyClick(win.palette.search, Qt.Key.Key_Return)
    assert win.canvas.value == win.info.value_of("water")
    assert wait_for(lambda: QApplication.focusWidget() is win.canvas, 5), QApplication.focusWidget()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_3)  # the next number key picks a class, not typed text
    assert win.canvas.value == win.info.classes[2].value and win.palette.search.text() == ""
    win.palette.focus_search()
    qtbot.keyClicks(win.palette.search, "xyz")
    qtbot.keyClick(win.palette.search, Qt.Key.Key_Escape)
    assert win.palette.search.text() == "" and wait_for(lambda: QApplication.focusWidget() is win.canvas, 5)


def test_switching_to_a_model_with_other_classes_maps_them_by_name_and_asks_about_the_rest(qtbot, win, tmp_path):
    """A label id means another class in another label space: landscapes' sky and tree become CamVid's sky and
    tree, and grass (which CamVid lacks) is asked about; the scene is marked modified."""
    lab = win.info
    sky, grass, tree = lab.value_of("sky"), lab.value_of("grass"), lab.value_of("tree")
    labels = np.full(win.scene.shape, sky, np.uint8)
    labels[64:] = grass
    labels[70:90, 20:40] = tree
    from app.doc import Scene

    win.session.replace_scene(Scene(labels, 7))
    assert wait_idle(win, 60)
    camvid = make_tiny_model(tmp_path / "camvid.safetensors", space="camvid", name="tiny camvid")
    win.answers = ["Use void"]
    win.models.load_model(camvid)
    assert wait_for(lambda: win.info.name == "tiny camvid", 60) and wait_idle(win, 60)
    title, text, buttons = win.questions[-1]
    assert "'grass'" in text and buttons[0] == "Use void"
    cv = win.info
    out = win.scene.labels
    assert (out[:64] == cv.value_of("sky")).all()
    assert (out[70:90, 20:40] == cv.value_of("tree")).all()
    assert (out[100:, 60:] == cv.dont_care_value).all()
    assert win.scene.dirty and win.scene.style_seed == 7

    fill = lab.class_of(lab.default_fill_value()).name
    win.answers = [f"Use {fill}"]  # back to landscapes, which has no "void"
    win.models.load_model(lab.path)
    assert wait_for(lambda: win.info.model_hash == lab.model_hash, 60) and wait_idle(win, 60)
    assert "'void'" in win.questions[-1][1]
    assert (win.scene.labels[:64] == sky).all() and (win.scene.labels[70:90, 20:40] == tree).all()
    assert (win.scene.labels[100:, 60:] == lab.default_fill_value()).all()


def test_the_realism_panel_has_a_legend_and_the_wheel_scrolls_past_its_regions_box(qtbot, win):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication, QLabel

    panel = win.realism_panel
    texts = [lab.text() for lab in panel.legend.findChildren(QLabel)]
    assert "0 looks real" in texts and "1 looks generated" in texts
    bar = panel.legend.bar.pixmap().toImage()
    left, right = bar.pixelColor(2, 6), bar.pixelColor(bar.width() - 3, 6)
    assert left.blue() > left.red() and right.red() > right.blue(), "blue (real) on the left, red (generated) right"
    box = panel.regions
    before = box.value()
    win.canvas.setFocus()
    pos = QPointF(box.width() / 2, box.height() / 2)
    wheel = QWheelEvent(pos, box.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(box, wheel)
    assert box.value() == before, "an unfocused spin box ignores the wheel (the panel scrolls)"
    soft = win.reroll_panel.findChildren(type(panel.strength))  # the sliders of the panel above
    for slider in [panel.strength, panel.opacity, *soft]:
        value = slider.value()
        QApplication.sendEvent(slider, QWheelEvent(pos, slider.mapToGlobal(pos), QPoint(0, 0), QPoint(0, -120),
                               Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                               False))  # fmt: skip
        assert slider.value() == value, slider.toolTip()


def test_the_eraser_paints_the_class_the_user_chose_and_the_choice_is_remembered(qtbot, win):
    assert not win.eraser_combo_action.isVisible()
    qtbot.keyClick(win.canvas, Qt.Key.Key_E)
    assert win.canvas.tool == "eraser" and win.eraser_combo_action.isVisible()
    assert win.canvas.eraser_value == win.info.eraser_value(), "the default: don't care, else the background"
    sand = win.info.value_of("sand")
    win.eraser_combo.setCurrentIndex(win.eraser_combo.findData(sand))
    win.eraser_combo.activated.emit(win.eraser_combo.currentIndex())
    win.set_brush_size(10)
    mouse_drag(qtbot, win, [(20, 20), (60, 22)])
    assert (win.scene.labels[18:23, 25:55] == sand).all(), "the eraser painted the chosen class"
    assert int(win.settings.value(f"eraser/{win.info.label_space_name}")) == sand
    win._fill_eraser_choices(win.info)  # as when the model loads again
    assert win.canvas.eraser_value == sand
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    assert not win.eraser_combo_action.isVisible()


def test_captions_have_enough_contrast_in_both_themes(qtbot, win):
    """Secondary text (captions, hints, timings) meets WCAG AA (4.5:1) on every qdarkstyle background of each
    theme, and the captions really are drawn in that colour."""
    import qdarkstyle
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QLabel

    from app.ui.theme import CAPTION_COLOUR, contrast_ratio

    for dark, pal in ((True, qdarkstyle.DarkPalette), (False, qdarkstyle.LightPalette)):
        for bg in (pal.COLOR_BACKGROUND_1, pal.COLOR_BACKGROUND_2, pal.COLOR_BACKGROUND_3):
            assert contrast_ratio(CAPTION_COLOUR[dark], bg) >= 4.5, (dark, bg)
        win.apply_theme(dark)
        captions = [lab for lab in win.findChildren(QLabel) if lab.property("caption")]
        assert len(captions) >= 8
        for lab in captions:
            lab.ensurePolished()
            assert lab.palette().color(QPalette.ColorRole.WindowText).name() == CAPTION_COLOUR[dark], lab.text()


def test_the_image_does_not_flash_dark_after_each_stroke(qtbot, win):
    """A stroke makes the image stale until the live frame arrives (a fraction of a second): it is dimmed only if
    no new image has come for a while, so live painting does not flicker; with live generation off it dims."""
    from app.ui.canvas import STALE_DIM_MS

    win.palette.choose(win.info.value_of("water"))
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    dimmed = []
    win.canvas._dim_timer.timeout.connect(lambda: dimmed.append(win.canvas.image_dimmed))
    mouse_drag(qtbot, win, [(10, 10), (40, 12)])
    assert wait_idle(win, 30)
    qtbot.wait(STALE_DIM_MS + 200)
    assert not win.canvas.image_dimmed and not any(dimmed), "the live frame came first: no dimming"
    win.set_live(False)
    mouse_drag(qtbot, win, [(10, 40), (40, 42)])
    assert not win.canvas.image_dimmed, "not at once"
    assert wait_for(lambda: win.canvas.image_dimmed, STALE_DIM_MS / 1000 + 2), "stale for a while: dimmed"
    win.generation.generate_now()
    assert wait_for(lambda: not win.canvas.image_dimmed, 30)


def test_the_class_under_the_mouse_follows_edits_without_a_mouse_move(qtbot, win):
    """The status bar's "x, y · class" is read from the scene: a fill under a still mouse updates it."""
    sky, water = win.info.value_of("sky"), win.info.value_of("water")
    labels = np.full(win.scene.shape, sky, np.uint8)
    from app.doc import Scene

    win.session.replace_scene(Scene(labels, 3))
    qtbot.mouseMove(win.canvas, pt(win, 30.5, 20.5))
    assert wait_for(lambda: win.cursor_label.text() == "30, 20  ·  sky", 5), win.cursor_label.text()
    win.palette.choose(water)
    win.set_tool("rect")
    win.canvas.drag([(20, 10), (40, 30)])  # a rectangle under the mouse, drawn without moving it
    assert (win.scene.labels[20, 30]) == water
    assert win.cursor_label.text() == "30, 20  ·  water"
    win.generation.undo()
    assert win.cursor_label.text() == "30, 20  ·  sky"
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    QApplication.sendEvent(win.canvas, QEvent(QEvent.Type.Leave))  # the mouse leaves the canvas
    assert win.cursor_label.text() == ""
    win.generation.redo()
    assert win.cursor_label.text() == "", "an edit does not name a pixel the mouse has left"
