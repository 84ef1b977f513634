"""From a photo, in the real window (pytest-qt, offscreen): import a CamVid photo, edit its segmentation, restyle,
undo; clean-up slider; confidence and realism overlays; reroll of the least realistic regions; bad files; large
photos in the worker; cancel; save and reopen as a project. The model is a real CamVid-label-space model file with
random weights."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from app_helpers import close_window, image_diff, make_tiny_model, open_window, wait_for  # noqa: E402
from photo_helpers import bomb_png, large_photo, make_photo_model, val_pairs  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton  # noqa: E402

from app.doc import cleanup_parameters  # noqa: E402
from app.selftest import wait_idle  # noqa: E402
from oasis_core.segmentation import cleanup_labels, connected_regions, worst_regions  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.data]


@pytest.fixture(scope="module")
def camvid_model(tmp_path_factory):
    return make_photo_model(tmp_path_factory.mktemp("models") / "camvid.safetensors", "camvid")


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    """A CamVid frame where ../shared is beside the project, else a street-like photo drawn here (the flows under
    test do not depend on what the photo shows: the model's weights are random)."""
    try:
        return val_pairs("camvid", 1)[0][0]
    except pytest.skip.Exception:
        return synthetic_photo(tmp_path_factory.mktemp("photo") / "street.png")


@pytest.fixture
def win(qtbot, tmp_path, camvid_model):
    w = open_window(qtbot, tmp_path, camvid_model)
    yield w
    close_window(w)


def synthetic_photo(path, height: int = 360, width: int = 480):
    """Sky over buildings over a road, with texture: a 360x480 RGB photo like a CamVid frame."""
    from PIL import Image

    rng = np.random.default_rng(0)
    img = np.zeros((height, width, 3), np.float32)
    img[:] = (200, 215, 235)
    for x0 in range(0, width, 80):
        top = int(rng.integers(40, 140))
        img[top : height * 2 // 3, x0 : x0 + 70] = rng.integers(60, 180, 3)
    img[height * 2 // 3 :] = (90, 90, 95)
    img += rng.normal(0, 8, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def import_photo(win, path, timeout_s: float = 120):
    assert win.photo.import_photo(path), [m.text for m in win.messages]
    assert wait_for(lambda: not win.photo.importing, timeout_s), [m.text for m in win.messages]
    assert wait_idle(win, 60)
    assert win.scene.photo is not None, [m.text for m in win.messages]
    return win.scene


def click(qtbot, win, x: float, y: float, pane: int = 0) -> None:
    p = win.canvas.to_widget(x + 0.5, y + 0.5, pane)
    qtbot.mouseClick(
        win.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(round(p.x()), round(p.y()))
    )


def noise_of(syn, recipe) -> np.ndarray:
    """The noise field a recipe describes, built the way the engine builds it."""
    z = syn.sample_noise(recipe.height, recipe.width, recipe.style_seed)
    for r in recipe.regions:
        z = syn.reroll(z, np.array(r.mask, copy=True), r.seed, r.strength)
    return np.asarray(z)


def pane_pixels(win, pane: int) -> np.ndarray:
    """What the canvas shows of one pane (side-by-side view), as an RGB array."""
    img = win.canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    arr = arr.reshape(img.height(), img.width(), 3)
    dpr = img.devicePixelRatio()
    h, w = win.scene.shape
    p0 = win.canvas.to_widget(0, 0, pane)
    p1 = win.canvas.to_widget(w, h, pane)
    y0, x0 = round(p0.y() * dpr) + 2, round(p0.x() * dpr) + 2
    y1, x1 = round(p1.y() * dpr) - 2, round(p1.x() * dpr) - 2
    return arr[y0:y1, x0:x1].copy()


# --------------------------------------------------------------------------------------------- import and edit
def test_import_a_photo_edit_one_region_restyle_and_undo(qtbot, win, photo_path) -> None:
    win.path_handler = lambda mode, title, suggestion: str(photo_path)
    win.answers = ["Discard"]
    win.act_import_photo.trigger()
    assert wait_for(lambda: not win.photo.importing, 120) and wait_idle(win, 60)
    scene = win.scene
    assert scene.photo is not None and scene.photo.source == photo_path.name
    assert scene.shape == win.info.photo_canvas_size(360, 480) == (192, 256)
    assert scene.photo.photo.shape == (192, 256, 3) and scene.photo.source_size == (360, 480)
    assert win.canvas.has_reference and win.photo_panel.isVisible()
    assert win.canvas.image is not None and win.canvas.image.shape[:2] == scene.shape
    imported = scene.labels.copy()
    assert np.array_equal(imported, scene.photo.labels)

    # edit one region: fill the largest region with another class
    regions = connected_regions(imported)
    ids = regions.ids()
    biggest = int(np.argmax(regions.sizes))
    mask = ids == biggest
    ys, xs = np.nonzero(mask)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    old = int(imported[y, x])
    new = win.info.value_of("car") if old != win.info.value_of("car") else win.info.value_of("road")
    win.palette.choose(new)
    win.set_tool("fill")
    click(qtbot, win, x, y)
    assert (scene.labels[mask] == new).all()
    assert np.array_equal(scene.labels[~mask], imported[~mask]), "only the chosen region changed"
    assert wait_idle(win, 60)

    # restyle: a new style seed, a new image from the edited map
    edited_image, seed = win.canvas.image.copy(), scene.style_seed
    qtbot.mouseClick(win.photo_panel.restyle_button, Qt.MouseButton.LeftButton)
    assert wait_idle(win, 60)
    assert scene.style_seed != seed
    assert image_diff(win.canvas.image, edited_image).mean() > 1.0
    assert (scene.labels[mask] == new).all()

    # undo: the restyle, then the edit
    win.activateWindow()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert scene.style_seed == seed and (scene.labels[mask] == new).all()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(scene.labels, imported)
    assert wait_idle(win, 60)
    assert scene.photo is not None and win.canvas.has_reference, "the photo stays as the reference layer"


def test_cleanup_slider_cleans_the_segmentation_and_keeps_edits(qtbot, win, photo_path) -> None:
    scene = import_photo(win, photo_path)
    photo = scene.photo
    # a user edit smaller than any clean-up minimum: a 3x3 sign in the sky
    sign = win.info.value_of("sign_symbol")
    win.palette.choose(sign)
    win.set_tool("rect")
    win.canvas.drag([(10, 10), (12, 12)])
    assert (scene.labels[10:13, 10:13] == sign).all()
    edited = scene.labels.copy()

    win.photo_panel.cleanup.setValue(60)
    assert wait_for(lambda: photo.cleanup == 60, 60)
    assert wait_idle(win, 60)
    min_region, min_confidence = cleanup_parameters(60, scene.shape)
    expected = cleanup_labels(photo.labels, photo.confidence, min_region, min_confidence)
    assert np.array_equal(photo.applied, expected)
    assert (scene.labels[10:13, 10:13] == sign).all(), "the user's edit survives the clean-up"
    outside = np.ones(scene.shape, bool)
    outside[10:13, 10:13] = False
    assert np.array_equal(scene.labels[outside], expected[outside])
    assert connected_regions(expected).sizes.min() >= min_region
    assert scene.undo_name == "Clean-up 60%"
    assert f"under {min_region} px" in win.photo_panel.details.text()

    win.generation.undo()
    assert np.array_equal(scene.labels, edited)
    win.photo_panel.cleanup.setValue(0)  # back to the raw segmentation, the edit still kept
    assert wait_for(lambda: photo.cleanup == 0, 60)
    assert np.array_equal(scene.labels, edited)


def test_confidence_overlay_and_photo_opacity_change_the_labels_pane(qtbot, win, photo_path) -> None:
    scene = import_photo(win, photo_path)
    assert scene.photo.confidence.min() < 0.8, "the random model is unsure somewhere"
    win.photo_panel.opacity.setValue(0)
    plain = pane_pixels(win, 0)
    win.photo_panel.confidence.setChecked(True)
    assert win.canvas.shows_confidence
    striped = pane_pixels(win, 0)
    assert image_diff(striped, plain).mean() > 1.0
    win.photo_panel.confidence.setChecked(False)
    assert not win.canvas.shows_confidence
    assert np.array_equal(pane_pixels(win, 0), plain)
    win.photo_panel.opacity.setValue(100)
    assert image_diff(pane_pixels(win, 0), plain).mean() > 5.0, "the photo covers the labels"


# --------------------------------------------------------------------------------------------- realism
def test_realism_overlay_toggles(qtbot, win, photo_path) -> None:
    import_photo(win, photo_path)
    before = pane_pixels(win, 1)
    win.activateWindow()
    qtbot.keyClick(win.canvas, Qt.Key.Key_H)
    assert wait_for(lambda: win.canvas.realism is not None, 60)
    assert win.act_realism.isChecked() and win.realism_panel.overlay.isChecked()
    fake = win.canvas.realism
    assert fake.shape == win.scene.shape and fake.min() >= 0 and fake.max() <= 1
    assert "Mean fake probability" in win.realism_panel.score.text()
    heat = pane_pixels(win, 1)
    assert image_diff(heat, before).mean() > 1.0, "the heat map is drawn over the image"
    win.realism_panel.opacity.setValue(0)
    assert np.array_equal(pane_pixels(win, 1), before)
    win.realism_panel.opacity.setValue(60)
    qtbot.keyClick(win.canvas, Qt.Key.Key_H)
    assert win.canvas.realism is None and not win.realism_panel.overlay.isChecked()
    assert np.array_equal(pane_pixels(win, 1), before)
    win.realism_panel.overlay.setChecked(True)  # the checkbox toggles it too (cached map, same image)
    assert win.canvas.realism is not None and win.act_realism.isChecked()
    win.realism_panel.overlay.setChecked(False)
    win.files.new_canvas(128, 128)  # another scene: the old score is not shown for it
    assert "Mean fake probability" not in win.realism_panel.score.text()


def test_reroll_least_realistic_changes_only_those_regions_noise(qtbot, win, photo_path) -> None:
    scene = import_photo(win, photo_path)
    syn = win.engine.synthesizer
    image, labels = win.canvas.image.copy(), scene.labels.copy()
    before = scene.noise_recipe()
    win.realism_panel.regions.setValue(3)
    win.realism_panel.strength.setValue(80)
    qtbot.mouseClick(win.realism_panel.reroll_button, Qt.MouseButton.LeftButton)
    assert wait_for(lambda: len(scene.regions) == len(before.regions) + 3, 60), [m.text for m in win.messages]
    assert wait_idle(win, 60)
    assert scene.undo_name == "Reroll least realistic"

    # the chosen regions are the three least realistic label regions of the image that was shown
    h, w = scene.shape
    expected = worst_regions(syn.realism(image), labels, 3, max(16, h * w // 400))
    masks = win.photo.last_worst_masks
    assert len(masks) == 3 and all(np.array_equal(a, b) for a, b in zip(masks, expected))
    new = scene.regions[len(before.regions) :]
    assert all(np.array_equal(r.mask, m) and r.strength == pytest.approx(0.8) for r, m in zip(new, masks))

    z0, z1 = noise_of(syn, before), noise_of(syn, scene.noise_recipe())
    union = np.logical_or.reduce(masks)
    assert np.array_equal(z1[:, ~union], z0[:, ~union]), "outside the regions the noise is bit-identical"
    for m in masks:
        assert not np.array_equal(z1[:, m], z0[:, m]), "inside every chosen region the noise changed"
    # the image changed where the noise did (nearly every pixel of the regions), and far more there than elsewhere
    # (the generator's receptive field carries a little of it outside); the weights are random, so no size is asked
    change = image_diff(win.canvas.image, image)
    assert (change[union] > 0).mean() > 0.75
    assert change[union].mean() > 8 * change[~union].mean()

    win.generation.undo()
    assert scene.noise_recipe().key() == before.key()


# --------------------------------------------------------------------------------------------- bad files, size
def test_unreadable_and_bomb_images_give_a_clear_dialog(qtbot, win, tmp_path) -> None:
    scene = win.scene
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    cases = [
        (broken, "not a readable image"),
        (bomb_png(tmp_path / "bomb.png", 30000, 30000), "decompression bomb"),
        (bomb_png(tmp_path / "wide.png", 12000, 12000), "too large to decode safely"),
        (tmp_path / "missing.jpg", "no such file"),
    ]
    for path, fragment in cases:
        count = len(win.messages)
        win.photo.import_photo(path)  # refused from the file header at once (0), or by the worker
        assert wait_for(lambda: not win.photo.importing, 30)
        QApplication.processEvents()
        new = win.messages[count:]
        assert len(new) == 1 and new[0].kind == "error" and new[0].title == "Cannot import photo", new
        assert path.name in new[0].text and fragment in new[0].text, new[0].text
        assert new[0].text.endswith("The open scene is kept.")
        assert win.scene is scene and win.open_message_boxes()
    assert win.photo.progress is None


def test_a_24_megapixel_photo_is_segmented_in_the_worker_with_progress(qtbot, win, photo_path, tmp_path) -> None:
    big = large_photo(tmp_path / "camera.jpg", photo_path)
    progress: list[tuple[int, int]] = []
    win.engine.progress.connect(lambda channel, done, total: progress.append((done, total)))
    assert win.photo.import_photo(big)
    assert win.photo.progress is not None and win.photo.progress.isVisible()
    ticks = 0
    while win.photo.importing:  # the window keeps handling events while the worker reads and segments
        QApplication.processEvents()
        time.sleep(0.005)
        ticks += 1
        assert ticks < 24_000, "the import finishes within two minutes"
    assert win.scene.photo is not None, [m.text for m in win.messages]
    assert ticks > 20
    h, w = win.info.photo_canvas_size(4000, 6000)  # the model's area at the photo's 3:2 aspect
    assert win.scene.shape == (h, w) and abs(w / h - 1.5) < 0.2
    assert win.scene.photo.source_size == (4000, 6000) and win.scene.photo.photo.shape == (h, w, 3)
    # every step reported (a modal progress dialog handles events inside setValue, so they may interleave)
    total = progress[0][1]
    assert total >= 5 and sorted(d for d, _ in progress) == list(range(total + 1))
    assert win.photo.progress is None


def test_cancelling_an_import_keeps_the_scene(qtbot, win, photo_path, tmp_path) -> None:
    big = large_photo(tmp_path / "camera.jpg", photo_path, (2000, 3000))
    scene, labels = win.scene, win.scene.labels.copy()
    assert win.photo.import_photo(big)
    cancel = win.photo.progress.findChild(QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    assert not win.photo.importing and win.photo.progress is None
    assert wait_idle(win, 60)
    assert win.scene is scene and np.array_equal(scene.labels, labels)
    assert not [m for m in win.messages if m.kind == "error"]


def test_a_model_without_discriminator_cannot_import_photos(qtbot, tmp_path, photo_path) -> None:
    model = make_tiny_model(tmp_path / "g_only.safetensors", "landscapes", with_discriminator=False)
    w = open_window(qtbot, tmp_path, model)
    try:
        assert not w.act_import_photo.isEnabled() and not w.realism_panel.isEnabled()
        assert w.photo.import_photo(photo_path) == 0
        assert "has no discriminator" in w.messages[-1].text and w.scene.photo is None
        assert w.reroll_least_realistic() == 0
    finally:
        close_window(w)


# --------------------------------------------------------------------------------------------- project files
def test_a_saved_photo_project_reopens_with_its_reference_layer(qtbot, win, photo_path, tmp_path, camvid_model) -> None:
    scene = import_photo(win, photo_path)
    photo = scene.photo
    win.photo_panel.cleanup.setValue(40)
    assert wait_for(lambda: photo.cleanup == 40, 60) and wait_idle(win, 60)
    assert photo.applied is not None
    path = tmp_path / "photo.oasis"
    assert win.files.save_project(path) and not scene.dirty

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = open_window(qtbot, fresh_dir, camvid_model)
    try:
        plain = fresh_dir / "plain.oasis"
        assert fresh.scene.photo is None and fresh.files.save_project(plain)
        fresh.photo_panel.confidence.setChecked(True)
        assert not fresh.canvas.has_reference and not fresh.photo_panel.isVisible()

        assert fresh.files.open_project(path), [m.text for m in fresh.messages]
        assert wait_idle(fresh, 60)
        opened = fresh.scene.photo
        assert opened is not None and opened.source == photo_path.name and opened.source_size == (360, 480)
        assert np.array_equal(opened.photo, photo.photo) and np.array_equal(opened.labels, photo.labels)
        assert np.array_equal(opened.applied, photo.applied) and opened.cleanup == 40
        assert np.abs(opened.confidence - photo.confidence).max() <= 0.5 / 65535 + 1e-7
        assert np.array_equal(fresh.scene.labels, scene.labels)
        assert fresh.canvas.has_reference and fresh.canvas.shows_confidence
        assert fresh.photo_panel.isVisible() and fresh.photo_panel.cleanup.value() == 40
        assert photo_path.name in fresh.photo_panel.source.text()
        assert not fresh.scene.dirty, "opening the project does not start a clean-up"
        assert not [m for m in fresh.messages if m.kind == "error"]

        # a project without a photo takes the reference layer away again
        assert fresh.files.open_project(plain) and wait_idle(fresh, 60)
        assert fresh.scene.photo is None
        assert not fresh.canvas.has_reference and not fresh.canvas.shows_confidence
        assert not fresh.photo_panel.isVisible()
    finally:
        close_window(fresh)


def test_switching_to_a_model_with_other_classes_segments_the_photo_again_and_keeps_the_strokes(
    qtbot, win, photo_path, tmp_path
) -> None:
    """A photo scene on a CamVid model, with two strokes (tree or sky, which landscapes has; car or another class
    it lacks), then a landscapes model: the photo stays, the new model's discriminator segments it again (one undo
    step), the strokes are kept (the second one's class asked about; the segmentation's own classes are not), and
    the clean-up uses the new maps."""
    from oasis_core.synthesizer import Synthesizer

    scene = import_photo(win, photo_path)
    photo = scene.photo.photo.copy()
    cv = win.info

    def absent(names, rows, cols):  # a class that the segmentation has nowhere under the stroke
        return next(cv.value_of(n) for n in names if not (scene.labels[rows, cols] == cv.value_of(n)).any())

    known = absent(["tree", "sky"], slice(10, 20), slice(10, 20))  # classes landscapes has too
    lacking = absent(["car", "pedestrian", "bicyclist"], slice(100, 110), slice(40, 50))  # classes it lacks
    win.set_tool("rect")
    win.palette.choose(known)
    win.canvas.drag([(10, 10), (19, 19)])
    win.palette.choose(lacking)
    win.canvas.drag([(40, 100), (49, 109)])  # x, y: rows 100-109, columns 40-49
    assert wait_idle(win, 60)

    landscapes = make_photo_model(tmp_path / "landscapes.safetensors", "landscapes", seed=1)
    ls = Synthesizer.load(landscapes, "cpu", "fp32")
    asked_before = len(win.questions)
    answer = win.ask_handler
    win.ask_handler = lambda title, text, buttons: win.questions.append((title, text, buttons)) or buttons[0]
    win.models.load_model(landscapes)
    assert wait_for(lambda: win.info.label_space_name == "landscapes", 60)
    win.ask_handler = answer
    assert wait_for(lambda: not win.photo.importing, 120) and wait_idle(win, 60)
    info = win.info
    new = win.scene
    assert new.photo is not None and not new.photo.stale, [m.text for m in win.messages]
    asked = win.questions[asked_before:]
    lacking_name = cv.class_of(lacking).name
    assert len(asked) == 1 and f"'{lacking_name}'" in asked[0][1] and "'road'" not in asked[0][1], asked
    fill = asked[0][2][0].removeprefix("Use ")
    want = ls.segment(photo, flip=True).labels
    assert np.array_equal(new.photo.photo, photo) and np.array_equal(new.photo.labels, want)
    strokes = np.zeros(new.shape, bool)
    strokes[10:20, 10:20] = strokes[100:110, 40:50] = True
    assert np.array_equal(new.labels[~strokes], want[~strokes]), "outside the strokes: the new segmentation"
    known_new = info.value_of(cv.class_of(known).name)
    assert (new.labels[10:20, 10:20] == known_new).all(), "the first stroke, mapped by name"
    assert (new.labels[100:110, 40:50] == info.value_of(fill)).all(), "the second stroke, as the user answered"
    assert new.undo_name == f"Segment photo for {info.name}"
    assert win.canvas.has_reference

    new.photo.cleanup = 0
    win.photo_panel.cleanup.setValue(40)  # the clean-up works on the new model's segmentation
    assert wait_for(lambda: new.photo.cleanup == 40, 60) and wait_idle(win, 60)
    assert new.photo.applied is not None and set(np.unique(new.photo.applied)) <= set(np.unique(want))
    assert (new.labels[10:20, 10:20] == known_new).all(), "the stroke survives the clean-up"
