"""Project files (.oasis) and label map files, without Qt."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from photo_helpers import bomb_png
from PIL import Image

from app.doc import HistoryEntry, PhotoReference, RerollRegion, Scene, label_io, tools
from app.doc.model_info import ClassInfo, LabelMapError, ModelInfo
from app.doc.project_file import ProjectError, load_project, save_project
from oasis_core.labels import LabelSpace


def info(n: int = 6, big: bool = False) -> ModelInfo:
    """A model of ``n`` classes 0..n-1 (0 is don't care, 255 an alias of it), with a class 300 when ``big``."""
    classes = [ClassInfo(i, f"class{i}", (40 * i % 256, 255 - 30 * i, 90)) for i in range(n)]
    if big:
        classes.append(ClassInfo(300, "far", (1, 2, 3)))
    space = LabelSpace(
        "test",
        tuple(c.name for c in classes),
        tuple(c.rgb for c in classes),
        tuple(c.value for c in classes),
        dont_care=0,
        aliases=((255, 0),),
    )
    return ModelInfo("test", "ab" * 32, space)


def painted_scene() -> Scene:
    s = Scene.blank(64, 96, 1)
    tools.paint_stroke(s, [(10, 10), (80, 40)], 9, 2)
    tools.fill_rect(s, (50, 50), (90, 60), 3)
    s.set_style_seed(1234)
    s.add_history(
        HistoryEntry(s.labels.copy(), s.style_seed, s.regions, ms=12.5, thumbnail=np.ones((8, 12, 3), np.uint8))
    )
    s.add_region(RerollRegion.make(tools.select_rect(s.shape, (0, 0), (30, 20)), 77, 0.6))
    s.add_region(RerollRegion.make(tools.select_rect(s.shape, (40, 30), (60, 50)), 78, 1.0, feather=24))
    tools.fill_rect(s, (0, 0), (5, 5), 4)
    s.add_history(HistoryEntry(s.labels.copy(), s.style_seed, s.regions, ms=8.0, kind="variant"))
    return s


# --------------------------------------------------------------------- project round trip
def test_project_soft_border_of_rerolls_is_optional_and_checked(tmp_path):
    """Files from before soft borders (no "feather") open with hard edges, files from before the smooth ramp (no
    "ramp") with 4 equal steps; a soft border out of range or an unknown ramp is refused."""
    s = painted_scene()
    path = tmp_path / "p.oasis"
    save_project(path, s, model_hash="ab" * 32, model_name="tiny")

    def edited(name: str, fn) -> object:
        def edit(d: dict) -> None:
            for r in d["regions"]:
                fn(r)

        return _rewrite(path, tmp_path / name, change={"scene.json": _json_edit(edit)})

    old = load_project(edited("old.oasis", lambda r: r.pop("feather"))).scene
    assert [r.feather for r in old.regions] == [0, 0]
    # files from before the smooth ramp keep their 4 equal steps (and so their images); a ramp is checked
    assert [r.ramp for r in load_project(path).scene.regions] == ["smooth", "smooth"]
    steps = load_project(edited("steps.oasis", lambda r: r.pop("ramp"))).scene
    assert [(r.feather, r.ramp) for r in steps.regions] == [(0, "smooth"), (24, "steps")]  # a hard edge: no ramp
    assert steps.noise_recipe().key() != load_project(path).scene.noise_recipe().key()
    with pytest.raises(ProjectError, match="unknown soft border ramp 'wavy'"):
        load_project(edited("wavy.oasis", lambda r: r.update(ramp="wavy")))
    with pytest.raises(ProjectError, match="ramp"):
        load_project(edited("num.oasis", lambda r: r.update(ramp=3)))
    with pytest.raises(ProjectError, match="soft border"):
        load_project(edited("bad.oasis", lambda r: r.update(feather=10_000)))
    with pytest.raises(ProjectError, match="feather"):
        load_project(edited("type.oasis", lambda r: r.update(feather="wide")))


def test_project_history_longer_than_the_cap_is_cut_on_load(tmp_path):
    """A project whose history exceeds the app's cap (an edited file, an older version) opens with the newest
    MAX_HISTORY entries, or the window that holds the current entry; the history list never grows past the cap."""
    from app.doc import MAX_HISTORY

    s = painted_scene()
    path = tmp_path / "p.oasis"
    save_project(path, s, model_hash="ab" * 32, model_name="tiny")
    n = MAX_HISTORY + 40

    def long_history(index: int):
        def edit(d: dict) -> None:
            template = d["history"][1]
            d["history"] = [dict(template, style_seed=i, thumbnail=None) for i in range(n)]
            d["history_index"] = index

        return _rewrite(path, tmp_path / f"long{index}.oasis", change={"scene.json": _json_edit(edit)})

    t = load_project(long_history(n - 1)).scene
    assert len(t.history) == MAX_HISTORY and t.history_index == MAX_HISTORY - 1
    assert [h.style_seed for h in t.history] == list(range(40, n))
    t = load_project(long_history(3)).scene  # the current entry is an old one: it is kept
    assert len(t.history) == MAX_HISTORY and t.history[t.history_index].style_seed == 3
    t = load_project(long_history(-1)).scene
    assert len(t.history) == MAX_HISTORY and t.history_index == -1


def test_project_round_trip_keeps_everything_that_makes_the_image(tmp_path):
    s = painted_scene()
    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    path = tmp_path / "p.oasis"
    save_project(path, s, model_hash="ab" * 32, model_name="tiny", image=image, app_version="9")
    p = load_project(path)
    t = p.scene
    assert np.array_equal(t.labels, s.labels) and t.labels.dtype == np.uint8
    assert t.style_seed == 1234 and t.seed_locked
    want = [(77, 0.6, 0, "smooth"), (78, 1.0, 24, "smooth")]
    assert [(r.seed, r.strength, r.feather, r.ramp) for r in t.regions] == want
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(t.regions, s.regions))
    assert t.noise_recipe().key() == s.noise_recipe().key()
    assert len(t.history) == 2 and t.history_index == 1
    assert [h.recipe().key() for h in t.history] == [h.recipe().key() for h in s.history]
    assert all(np.array_equal(a.labels, b.labels) for a, b in zip(t.history, s.history))
    assert t.history[0].thumbnail.shape == (8, 12, 3) and t.history[1].kind == "variant"
    assert np.array_equal(p.image, image) and t.history[1].image is not None
    assert (p.model_hash, p.model_name, p.app_version) == ("ab" * 32, "tiny", "9")
    assert not t.dirty


def test_project_with_16_bit_labels(tmp_path):
    labels = np.zeros((32, 32), np.uint16)
    labels[5:10] = 300
    s = Scene(labels)
    save_project(tmp_path / "b.oasis", s)
    t = load_project(tmp_path / "b.oasis").scene
    assert t.labels.dtype == np.uint16 and np.array_equal(t.labels, labels)


def test_saving_is_atomic(tmp_path):
    path = tmp_path / "p.oasis"
    save_project(path, painted_scene())
    good = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - an image PIL cannot encode makes the save fail midway
        save_project(path, painted_scene(), image=np.zeros((64, 96, 3), dtype=np.float64))
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.oasis"]  # no temporary file left behind


def test_saved_files_get_the_users_umask_not_0600(tmp_path):
    """Projects and label exports are documents: their mode follows the umask, as any editor's files do."""
    old = os.umask(0o022)
    try:
        save_project(tmp_path / "p.oasis", painted_scene())
        label_io.write_label_map(tmp_path / "l.png", painted_scene().labels, info())
        label_io.write_image(tmp_path / "i.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    for name in ("p.oasis", "l.png", "l.labels.txt", "i.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def _rewrite(src, dst, change=None, drop=(), add=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if change and item.filename in change:
                data = change[item.filename](data)
            zout.writestr(item.filename, data)
        for k, v in (add or {}).items():
            zout.writestr(k, v)
    return dst


def _json_edit(fn):
    def edit(data: bytes) -> bytes:
        d = json.loads(data)
        fn(d)
        return json.dumps(d).encode()

    return edit


def _png_bytes(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def good_project(tmp_path):
    path = tmp_path / "good.oasis"
    save_project(path, painted_scene(), image=np.zeros((64, 96, 3), np.uint8))
    return path


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda g, d: d.write_bytes(b"hello, not a zip"), "not a zip"),
        (lambda g, d: d.write_bytes(g.read_bytes()[: len(g.read_bytes()) // 2]), "not a zip"),
        (lambda g, d: _rewrite(g, d, drop=("scene.json",)), "no 'scene.json'"),
        (lambda g, d: _rewrite(g, d, drop=("labels.png",)), "no 'labels.png'"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": lambda b: b"{not json"}), "not valid JSON"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": lambda b: pickle.dumps({"format": 1})}), "JSON"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(format="x"))}), "foreign"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(version=99))}), "newer"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(size=[10, 10]))}), "is 96x64"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(style_seed=-4))}), "seed"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(style_seed="x"))}), "type"),
        (lambda g, d: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(history_index=7))}), "index"),
        (
            lambda g, d: _rewrite(
                g, d, change={"scene.json": _json_edit(lambda j: j["regions"][0].update(strength=3))}
            ),
            "range",
        ),
        (lambda g, d: _rewrite(g, d, change={"labels.png": lambda b: b[:40]}), "not a readable image"),
        (
            lambda g, d: _rewrite(g, d, change={"labels.png": lambda b: _png_bytes(np.zeros((8, 8), np.uint8))}),
            "is 8x8",
        ),
        (
            lambda g, d: _rewrite(g, d, change={"labels.png": lambda b: _png_bytes(np.zeros((64, 96, 3), np.uint8))}),
            "mode",
        ),
        (lambda g, d: d.write_bytes(b""), "not a zip"),
    ],
)
def test_damaged_or_foreign_projects_raise_one_clear_error(good_project, tmp_path, damage, words):
    bad = tmp_path / "bad.oasis"
    damage(good_project, bad)
    with pytest.raises(ProjectError) as err:
        load_project(bad)
    msg = str(err.value)
    assert "bad.oasis" in msg and words in msg
    assert "\n" not in msg


def test_missing_mask_file_is_reported(good_project, tmp_path):
    with zipfile.ZipFile(good_project) as z:
        mask = next(n for n in z.namelist() if n.startswith("masks/"))
    bad = _rewrite(good_project, tmp_path / "m.oasis", drop=(mask,))
    with pytest.raises(ProjectError, match="masks/"):
        load_project(bad)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ProjectError, match="does not exist"):
        load_project(tmp_path / "nope.oasis")


# --------------------------------------------------------------------- photo reference
def photo_scene(dtype=np.uint8, applied: bool = True) -> Scene:
    """A painted scene that came from a photo: random photo, segmentation and confidence (0 and 1 included)."""
    rng = np.random.default_rng(5)
    s = painted_scene()
    if dtype != np.uint8:
        s = Scene(s.labels.astype(dtype) * 100, style_seed=s.style_seed)
    shape = s.shape
    labels = (rng.integers(0, 6, shape) * (1 if dtype == np.uint8 else 100)).astype(dtype)
    confidence = rng.random(shape, dtype=np.float32)
    confidence[0, :3] = (0.0, 1.0, 0.5)
    s.photo = PhotoReference(
        photo=rng.integers(0, 256, (*shape, 3), dtype=np.uint8),
        labels=labels,
        confidence=confidence,
        source="street 07.jpg",
        source_size=(720, 1080),
        cleanup=35 if applied else 0,
        applied=np.where(confidence < 0.3, labels[0, 0], labels).astype(dtype) if applied else None,
    )
    return s


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_photo_reference_round_trip(tmp_path, dtype):
    s = photo_scene(dtype)
    path = tmp_path / "photo.oasis"
    save_project(path, s, image=np.zeros((*s.shape, 3), np.uint8))
    t = load_project(path).scene
    a, b = t.photo, s.photo
    assert a is not None and not t.dirty
    assert a.photo.dtype == np.uint8 and np.array_equal(a.photo, b.photo)
    assert a.labels.dtype == dtype and np.array_equal(a.labels, b.labels)
    assert a.applied.dtype == dtype and np.array_equal(a.applied, b.applied)
    assert a.confidence.dtype == np.float32 and a.confidence.shape == s.shape
    assert np.abs(a.confidence.astype(np.float64) - b.confidence).max() <= 1 / 65535
    assert a.confidence[0, :2].tolist() == [0.0, 1.0]
    assert (a.source, a.source_size, a.cleanup) == ("street 07.jpg", (720, 1080), 35)
    assert np.array_equal(t.labels, s.labels) and len(t.history) == len(s.history)


def test_photo_reference_before_any_cleanup_has_no_applied_map(tmp_path):
    path = tmp_path / "raw.oasis"
    save_project(path, photo_scene(applied=False))
    with zipfile.ZipFile(path) as z:
        assert "photo/applied.png" not in z.namelist()
        assert json.loads(z.read("scene.json"))["photo"]["applied"] is None
    photo = load_project(path).scene.photo
    assert photo is not None and photo.applied is None and photo.cleanup == 0


def test_saving_a_photo_that_cannot_be_encoded_keeps_the_old_file(tmp_path):
    path = tmp_path / "p.oasis"
    save_project(path, photo_scene())
    good = path.read_bytes()
    s = photo_scene()
    s.photo.photo = s.photo.photo.astype(np.float64)
    with pytest.raises(Exception):  # noqa: B017 - PIL cannot encode a float RGB image; the save fails midway
        save_project(path, s)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.oasis"]


def test_a_project_without_a_photo_has_no_photo_members(good_project):
    with zipfile.ZipFile(good_project) as z:
        doc = json.loads(z.read("scene.json"))
        names = z.namelist()
    assert doc["version"] == 2 and "photo" not in doc  # version 2 for its smooth soft border, not for a photo
    assert not [n for n in names if n.startswith("photo/")]
    assert load_project(good_project).scene.photo is None


def test_only_a_smooth_soft_border_makes_a_version_2_file(tmp_path):
    """A version-1 reader draws every soft border in 4 steps: a file is version 2 only where that would be wrong
    (a smooth soft border, current or in the history), so older apps keep opening the rest."""

    def version(scene) -> int:
        save_project(tmp_path / "v.oasis", scene)
        with zipfile.ZipFile(tmp_path / "v.oasis") as z:
            return json.loads(z.read("scene.json"))["version"]

    box = tools.select_rect((64, 96), (10, 10), (40, 30))
    s = Scene.blank(64, 96, 1)
    assert version(s) == 1
    s.add_region(RerollRegion.make(box, 5, 1.0, feather=0, ramp="steps"))  # a hard edge
    s.add_region(RerollRegion.make(box, 6, 1.0, feather=12, ramp="steps"))  # an old file's soft border
    assert version(s) == 1 and [r.ramp for r in s.regions] == ["smooth", "steps"]
    s.add_history(HistoryEntry(s.labels.copy(), 1, (RerollRegion.make(box, 7, 1.0, feather=12),), ms=1.0))
    assert version(s) == 2  # a smooth border in the history
    t = load_project(tmp_path / "v.oasis").scene
    assert [r.key for r in t.regions] == [r.key for r in s.regions]
    assert [r.ramp for r in t.history[-1].regions] == ["smooth"]


def test_a_version_1_file_from_before_photos_still_loads(photo_project, tmp_path):
    # what the first project writer made of the same scene: these scene.json keys and no photo/ members
    old_keys = {"format", "version", "app_version", "saved_at", "size", "label_dtype", "style_seed", "seed_locked"}
    old_keys |= {"regions", "model", "history", "history_index", "image"}
    with zipfile.ZipFile(photo_project) as z:
        photo_members = tuple(n for n in z.namelist() if n.startswith("photo/"))
    assert len(photo_members) == 4
    old = _rewrite(
        photo_project,
        tmp_path / "old.oasis",
        change={"scene.json": _json_edit(lambda j: [j.pop(k) for k in set(j) - old_keys])},
        drop=photo_members,
    )
    t = load_project(old).scene
    assert t.photo is None and np.array_equal(t.labels, painted_scene().labels) and not t.dirty


@pytest.fixture
def photo_project(tmp_path):
    path = tmp_path / "photo.oasis"
    save_project(path, photo_scene())
    return path


def _photo_json(fn):
    return {"scene.json": _json_edit(lambda j: fn(j["photo"]))}


def _bomb(tmp_path):
    """A PNG header announcing 17000x4000 pixels: past the project's side limit, under PIL's own bomb warning."""
    return bomb_png(tmp_path / "bomb.png", 17000, 4000).read_bytes()


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda g, d, t: _rewrite(g, d, change={"photo/photo.png": lambda b: b[:60]}), "'photo/photo.png' is not a"),
        (lambda g, d, t: _rewrite(g, d, drop=("photo/photo.png",)), "no 'photo/photo.png'"),
        (
            lambda g, d, t: _rewrite(g, d, change={"photo/photo.png": lambda b: _png_bytes(np.zeros((8, 8, 3), "u1"))}),
            "'photo/photo.png' is 8x8 but the scene is 96x64",
        ),
        (
            lambda g, d, t: _rewrite(g, d, change={"photo/photo.png": lambda b: _png_bytes(np.zeros((64, 96), "u1"))}),
            "'photo/photo.png' has pixel mode L, expected one of RGB",
        ),
        (lambda g, d, t: _rewrite(g, d, change={"photo/photo.png": lambda b: _bomb(t)}), "larger than 16384"),
        (
            lambda g, d, t: _rewrite(g, d, change={"photo/labels.png": lambda b: _png_bytes(np.zeros((64, 8), "u1"))}),
            "'photo/labels.png' is 8x64",
        ),
        (lambda g, d, t: _rewrite(g, d, drop=("photo/applied.png",)), "no 'photo/applied.png'"),
        (lambda g, d, t: _rewrite(g, d, drop=("photo/confidence.png",)), "no 'photo/confidence.png'"),
        (
            lambda g, d, t: _rewrite(
                g, d, change={"photo/confidence.png": lambda b: _png_bytes(np.zeros((64, 96), np.uint8))}
            ),
            "'photo/confidence.png' has pixel mode L",
        ),
        (lambda g, d, t: _rewrite(g, d, change=_photo_json(lambda p: p.update(cleanup=300))), "clean-up level 300"),
        (lambda g, d, t: _rewrite(g, d, change=_photo_json(lambda p: p.update(source_size=[-1, 5]))), "source size"),
        (lambda g, d, t: _rewrite(g, d, change=_photo_json(lambda p: p.pop("source"))), "has no 'source'"),
        (lambda g, d, t: _rewrite(g, d, change=_photo_json(lambda p: p.update(source=7))), "wrong type"),
        (
            lambda g, d, t: _rewrite(g, d, change={"scene.json": _json_edit(lambda j: j.update(photo=[1]))}),
            "the photo reference in scene.json is not an object",
        ),
    ],
)
def test_damaged_photo_reference_raises_one_clear_error(photo_project, tmp_path, damage, words):
    bad = tmp_path / "bad.oasis"
    damage(photo_project, bad, tmp_path)
    with pytest.raises(ProjectError) as err:
        load_project(bad)
    msg = str(err.value)
    assert msg.startswith("bad.oasis is not a usable OASIS Studio project") and words in msg, msg
    assert "\n" not in msg


# --------------------------------------------------------------------- label maps
def test_indexed_export_has_the_class_palette_and_ids(tmp_path):
    i = info()
    labels = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    label_io.write_label_map(tmp_path / "l.png", labels, i)
    im = Image.open(tmp_path / "l.png")
    assert im.mode == "P"
    assert np.array_equal(np.asarray(im), labels)
    pal = np.array(im.getpalette()[: 3 * 6]).reshape(6, 3)
    assert [tuple(p) for p in pal] == [c.rgb for c in i.classes]
    assert (tmp_path / "l.labels.txt").read_text().splitlines() == [f"{k} class{k}" for k in range(6)]
    # a second export in the same folder keeps the first one's class list
    label_io.write_label_map(tmp_path / "m.png", labels, i)
    assert (tmp_path / "l.labels.txt").is_file() and (tmp_path / "m.labels.txt").is_file()
    back, warning = label_io.read_label_map(tmp_path / "l.png", i)
    assert warning is None and np.array_equal(back, labels)


def test_grayscale_ids_are_read_and_aliases_mapped(tmp_path):
    a = np.array([[1, 2], [255, 5]], dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "g.png")
    v, w = label_io.read_label_map(tmp_path / "g.png", info())
    assert w is None and v.tolist() == [[1, 2], [0, 5]]


def test_unknown_ids_name_the_file_and_the_values(tmp_path):
    a = np.array([[1, 9], [17, 5]], dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "g.png")
    with pytest.raises(LabelMapError) as err:
        label_io.read_label_map(tmp_path / "g.png", info())
    assert "g.png" in str(err.value) and "9, 17" in str(err.value) and "0..5" in str(err.value)


def test_colour_png_is_mapped_to_the_nearest_class_with_a_warning(tmp_path):
    i = info()
    labels = np.random.default_rng(1).integers(0, 6, (20, 30))
    rgb = i.colour_lut[labels].astype(np.int16)
    rgb[0, :10] += 7  # a few pixels slightly off (JPEG-like)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp_path / "c.png")
    v, warning = label_io.read_label_map(tmp_path / "c.png", i)
    assert np.array_equal(v, labels)
    assert warning and "colour image" in warning and "%" in warning


def test_large_ids_are_written_as_16_bit(tmp_path):
    i = info(big=True)
    labels = np.array([[0, 300], [2, 300]], dtype=np.uint16)
    label_io.write_label_map(tmp_path / "l.png", labels, i)
    v, w = label_io.read_label_map(tmp_path / "l.png", i)
    assert v.dtype == np.uint16 and np.array_equal(v, labels)


def test_not_an_image_gives_a_clear_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(label_io.ImageFileError, match="x.png"):
        label_io.read_label_map(tmp_path / "x.png", info())


def test_image_export_formats(tmp_path):
    img = np.random.default_rng(2).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    label_io.write_image(tmp_path / "a.png", img)
    label_io.write_image(tmp_path / "a.jpg", img)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), img)
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    with pytest.raises(label_io.ImageFileError):
        label_io.write_image(tmp_path / "a.gifx", img)
    sheet = label_io.side_by_side(img, img, gap=4)
    assert sheet.shape == (16 + 8, 24 * 2 + 12, 3)


def test_model_info_helpers():
    i = info()
    assert i.eraser_value() == 0 and i.default_fill_value() == 1
    assert i.snap_size(70, 100) == (64, 96)
    assert i.value_of("CLASS3") == 3 and i.value_of("x") is None
    assert i.normalise(np.array([[255, 3]])).tolist() == [[0, 3]]
