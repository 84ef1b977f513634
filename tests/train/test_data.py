"""Dataset loaders of train.data: layouts, label channels, transforms, bad data and check_dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from oasis_core.labels import get as get_label_space
from train.data import (
    DATASETS,
    DatasetError,
    build_dataset,
    check_dataset,
    default_label_space,
    format_check_report,
    parse_classes,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (see ../shared/data/README.md)")
    return path


def _raw(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def _as_unit(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0)


# ------------------------------------------------------------------------------------------ fixture writers
PALETTE = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40), (10, 10, 10)], dtype=np.uint8)


def _blocks(h: int, w: int, n: int, seed: int) -> np.ndarray:
    """A label map of random rectangular blocks with values 0..n-1 (structure, so crops are identifiable)."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, n, size=(h // 4 + 1, w // 4 + 1)).astype(np.uint8)
    return np.kron(lab, np.ones((4, 4), dtype=np.uint8))[:h, :w]


def _write_pair(img_path: Path, lab_path: Path, lab: np.ndarray, rgb: np.ndarray | None = None, mode="L") -> None:
    img_path.parent.mkdir(parents=True, exist_ok=True)
    lab_path.parent.mkdir(parents=True, exist_ok=True)
    if rgb is None:
        rgb = PALETTE[lab % len(PALETTE)]
    Image.fromarray(rgb).save(img_path)
    if mode == "P":  # indexed: the palette index is the class id, the palette colours are arbitrary
        im = Image.frombytes("P", (lab.shape[1], lab.shape[0]), lab.astype(np.uint8).tobytes())
        im.putpalette(PALETTE[::-1].tobytes())
    else:
        im = Image.fromarray(lab)
    im.save(lab_path)


def _folder(root: Path, classes: str | None, pairs: dict, split: str = "train", ext: str = "png") -> Path:
    """Generic folder layout; ``pairs``: name -> label array (images painted from PALETTE)."""
    if classes is not None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "classes.txt").write_text(classes)
    for name, lab in pairs.items():
        _write_pair(root / split / "images" / f"{name}.{ext}", root / split / "labels" / f"{name}.png", lab)
    return root


CLASSES = "0 red 200 30 30\n1 green 30 200 30\n2 blue 30 30 200\n3 yellow 220 220 40\n"


# ------------------------------------------------------------------------------------------ real layouts
@pytest.mark.data
def test_camvid_layout_and_channels():
    root = _shared("camvid")
    ds = build_dataset("camvid", root, "val", (360, 480), flip=False)
    assert len(ds) == 101
    item = ds[0]
    assert set(item) == {"image", "label", "name"}
    assert item["image"].shape == (3, 360, 480) and item["image"].dtype == torch.float32
    assert item["label"].shape == (360, 480) and item["label"].dtype == torch.int64
    assert float(item["image"].min()) >= -1.0 and float(item["image"].max()) <= 1.0
    raw = _raw(root / "val" / "labels" / f"{item['name']}.png")
    assert (raw == 11).any(), "the first val label map should contain void pixels"
    expected = np.where(raw == 11, 0, raw.astype(np.int64) + 1)  # void 11 -> channel 0, v -> v + 1
    assert torch.equal(item["label"], torch.from_numpy(expected))
    rgb = np.asarray(Image.open(root / "val" / "images" / f"{item['name']}.jpg").convert("RGB"))
    assert torch.allclose(item["image"], _as_unit(rgb), atol=1e-6)

    train = build_dataset("camvid", root, "train", (256, 256))
    assert len(train) == 367 and train.flip is True
    t = train[3]
    assert t["image"].shape == (3, 256, 256) and t["label"].shape == (256, 256)
    assert int(t["label"].min()) >= 0 and int(t["label"].max()) < 12


@pytest.mark.data
def test_facades_indexed_labels():
    root = _shared("facades")
    ds = build_dataset("facades", root, "train", (256, 256), flip=False)
    assert len(ds) == 400
    item = ds[0]
    path = root / "train" / "labels" / f"{item['name']}.png"
    assert Image.open(path).mode == "P"
    raw = _raw(path)  # palette indices are the class ids 1..12
    assert torch.equal(item["label"], torch.from_numpy(raw.astype(np.int64)))
    assert int(item["label"].min()) >= 1 and int(item["label"].max()) <= 12
    assert len(build_dataset("facades", root, "val", (128, 128))) == 100


@pytest.mark.data
def test_coco_stuff_layout_and_channels():
    root = _shared("coco_stuff_sample")
    assert len(build_dataset("coco_stuff", root, "train", (64, 64))) == 13
    # the label space at native size: pick the first val pair containing 255
    for path in sorted((root / "val_label").glob("*.png")):
        raw = _raw(path)
        if (raw == 255).any():
            break
    else:
        pytest.fail("no COCO-Stuff sample label contains 255")
    ds = build_dataset("coco", root, "val", raw.shape, flip=False)
    assert len(ds) == 8
    item = ds[[p.name for p in ds.pairs].index(path.stem)]
    assert item["name"] == path.stem
    expected = np.where(raw == 255, 0, raw.astype(np.int64) + 1)  # 255 -> channel 0, v -> v + 1
    assert torch.equal(item["label"], torch.from_numpy(expected))
    assert ds.label_space.num_channels == 183


def test_ade20k_layout(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    rng = np.random.default_rng(1)
    for folder, n in (("training", 3), ("validation", 2)):
        for i in range(n):
            lab = rng.integers(0, 151, size=(30, 40)).astype(np.uint8)
            lab[0, 0], lab[0, 1] = 0, 150
            name = f"ADE_{folder}_{i:08d}"
            _write_pair(root / "images" / folder / f"{name}.jpg", root / "annotations" / folder / f"{name}.png", lab)
    train = build_dataset("ade20k", root, "train", (30, 40), flip=False)
    val = build_dataset("ade20k", root, "val", (16, 24))
    assert len(train) == 3 and len(val) == 2 and val.flip is False
    item = train[1]
    assert item["name"] == "ADE_training_00000001"
    raw = _raw(root / "annotations" / "training" / "ADE_training_00000001.png")
    assert torch.equal(item["label"], torch.from_numpy(raw.astype(np.int64)))  # v -> channel v
    v = val[0]
    assert v["image"].shape == (3, 16, 24) and v["label"].shape == (16, 24)
    assert default_label_space("ade20k", root).num_channels == 151


def test_cityscapes_layout(tmp_path):
    root = tmp_path / "cityscapes"
    rng = np.random.default_rng(2)
    for split, cities in (("train", ("aachen", "bremen")), ("val", ("frankfurt",))):
        for city in cities:
            for i in range(2):
                stem = f"{city}_{i:06d}_000019"
                lab = rng.integers(0, 34, size=(16, 32)).astype(np.uint8)
                img = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
                gt = root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"
                _write_pair(img, gt, lab)
                # the other gtFine files must be ignored
                Image.fromarray(PALETTE[lab % 5]).save(gt.parent / f"{stem}_gtFine_color.png")
                Image.fromarray(lab.astype(np.uint16) * 1000).save(gt.parent / f"{stem}_gtFine_instanceIds.png")
    train = build_dataset("cityscapes", root, "train", (16, 32), flip=False)
    assert len(train) == 4
    assert [p.name for p in train.pairs][0] == "aachen_000000_000019"
    item = train[2]
    assert item["name"] == "bremen_000000_000019"
    raw = _raw(root / "gtFine" / "train" / "bremen" / "bremen_000000_000019_gtFine_labelIds.png")
    assert torch.equal(item["label"], torch.from_numpy(raw.astype(np.int64)))  # labelId -> channel id
    val = build_dataset("cityscapes", root, "val", (8, 16))
    assert len(val) == 2 and val[0]["image"].shape == (3, 8, 16)
    assert val.label_space.num_channels == 35


def test_jpeg_draft_decoding(tmp_path):
    lab = _blocks(128, 160, 4, 7)
    root = tmp_path / "big"
    yy, xx = np.mgrid[0:128, 0:160]
    smooth = np.stack([yy * 2, xx * 1.5, 255 - yy - xx / 2], -1).clip(0, 255).astype(np.uint8)
    _write_pair(root / "train" / "images" / "a.jpg", root / "train" / "labels" / "a.png", lab, smooth)
    (root / "classes.txt").write_text(CLASSES)
    fast = build_dataset("folder", root, "train", (32, 40), flip=False)[0]
    ds = build_dataset("folder", root, "train", (32, 40), flip=False)
    ds.fast_jpeg = False
    slow = ds[0]
    assert fast["image"].shape == slow["image"].shape == (3, 32, 40)
    assert float((fast["image"] - slow["image"]).abs().mean()) < 0.02  # 1/4-scale DCT decoding ~ bicubic
    assert torch.equal(fast["label"], slow["label"])


def test_registry():
    assert set(DATASETS) >= {"ade20k", "cityscapes", "coco_stuff", "camvid", "facades", "landscapes", "folder"}
    assert default_label_space("camvid", "/nonexistent").name == "camvid"
    assert default_label_space("landscapes", "/nonexistent").dont_care is None
    with pytest.raises(DatasetError, match="unknown dataset"):
        build_dataset("imagenet", "/nonexistent", "train", (8, 8))


def test_landscapes_uses_folder_layout(tmp_path):
    root = tmp_path / "land"
    for i, name in enumerate("ab"):
        lab = _blocks(16, 16, 10, i)
        _write_pair(root / "train" / "images" / f"{name}.jpg", root / "train" / "labels" / f"{name}.png", lab, mode="P")
    ds = build_dataset("landscapes", root, "train", (8, 8))
    assert len(ds) == 2 and ds.label_space == get_label_space("landscapes")
    assert ds[0]["label"].shape == (8, 8)


# ------------------------------------------------------------------------------------------ generic folder
def test_folder_with_colours(tmp_path):
    lab = _blocks(20, 24, 4, 0)
    root = _folder(tmp_path / "mine", CLASSES, {"x": lab, "y": _blocks(20, 24, 4, 1)}, ext="webp")
    _folder(root, None, {"z": _blocks(20, 24, 4, 2)}, split="val", ext="jpg")
    ls = default_label_space("folder", root)
    assert ls.names == ("red", "green", "blue", "yellow") and ls.dont_care is None
    assert ls.colours[2] == (30, 30, 200) and ls.name == "mine"
    ds = build_dataset("folder", root, "train", (20, 24), flip=False)
    assert [p.name for p in ds.pairs] == ["x", "y"]
    assert torch.equal(ds[0]["label"], torch.from_numpy(lab.astype(np.int64)))
    assert len(build_dataset("generic", root, "val", (10, 12))) == 1
    # an explicit label space replaces classes.txt
    other = parse_classes("0 a\n1 b\n2 c\n3 void\n")
    item = build_dataset("folder", root, "train", (20, 24), label_space=other, flip=False)[0]
    assert torch.equal(item["label"], torch.from_numpy(np.where(lab == 3, 0, lab.astype(np.int64) + 1)))


def test_folder_without_colours_dontcare_and_16bit(tmp_path):
    lab = np.array([[300, 1000, 7], [7, 300, 1000]], dtype=np.uint16)
    classes = "# my classes\n300 big tree\n1000 sky\n\n7 nothing here dontcare  # comment\n"
    root = _folder(tmp_path / "d", classes, {})
    _write_pair(root / "train" / "images" / "a.png", root / "train" / "labels" / "a.png", lab, PALETTE[lab % 5])
    ls = default_label_space("folder", root)
    assert ls.names == ("nothing here", "big tree", "sky")  # don't care first, then file order
    assert ls.file_values == (7, 300, 1000) and ls.dont_care == 0
    assert ls.colours[0] == (0, 0, 0) and len(set(ls.colours)) == 3
    item = build_dataset("folder", root, "train", (2, 3), flip=False)[0]
    assert item["label"].tolist() == [[1, 2, 0], [0, 1, 2]]


def test_parse_classes_rules():
    ls = parse_classes("0 sky\n1 void\n2 road 1 2 3\n")
    assert ls.names == ("void", "sky", "road") and ls.dont_care == 0 and ls.colours[2] == (1, 2, 3)
    assert parse_classes("5 a\n6 b\n").dont_care is None
    for text, msg in (
        ("0 a\n0 b\n", "classes.txt:2: value 0 is already used on line 1"),
        ("x a\n", "classes.txt:1: 'x' is not a class value"),
        ("0 a 1 2 300\n", "classes.txt:1: colour"),
        ("0\n", "classes.txt:1: class 0 has no name"),
        ("0 a dontcare\n1 b ignore\n", "more than one don't-care"),
        ("0 void\n1 unlabeled\n", "several classes look like don't care"),
        ("# nothing\n", "no classes found"),
    ):
        with pytest.raises(DatasetError, match=msg):
            parse_classes(text)


# ------------------------------------------------------------------------------------------ transforms
def _assert_consistent(item, ds):
    """Image pixels are exactly the palette colour of their label (PNG, no resize): image and label agree."""
    values = np.asarray(ds.label_space.file_values)[item["label"].numpy()]
    assert torch.equal(item["image"], _as_unit(PALETTE[values]))


def test_flip_applies_to_image_and_label_together(tmp_path):
    root = _folder(tmp_path / "f", CLASSES, {"a": _blocks(16, 20, 4, 3)})
    plain = build_dataset("folder", root, "train", (16, 20), flip=False)[0]
    ds = build_dataset("folder", root, "train", (16, 20))
    assert ds.flip is True
    torch.manual_seed(0)
    flipped = 0
    for _ in range(12):
        item = ds[0]
        if torch.equal(item["label"], plain["label"]):
            assert torch.equal(item["image"], plain["image"])
        else:
            assert torch.equal(item["label"], plain["label"].flip(-1))
            assert torch.equal(item["image"], plain["image"].flip(-1))
            flipped += 1
    assert 0 < flipped < 12
    torch.manual_seed(5)
    a = ds[0]
    torch.manual_seed(5)
    assert torch.equal(ds[0]["label"], a["label"])  # torch's RNG decides
    assert build_dataset("folder", root, "train", (16, 20), flip=True).flip is True


def test_random_crop_same_window_for_image_and_label(tmp_path):
    root = _folder(tmp_path / "c", CLASSES, {"a": _blocks(40, 48, 4, 4)})
    _folder(root, None, {"a": _blocks(40, 48, 4, 4)}, split="val")
    full = build_dataset("folder", root, "train", (40, 48), flip=False)[0]
    ds = build_dataset("folder", root, "train", (24, 32), load_size=(40, 48), flip=False)
    torch.manual_seed(1)
    offsets = set()
    for _ in range(6):
        item = ds[0]
        assert item["image"].shape == (3, 24, 32) and item["label"].shape == (24, 32)
        _assert_consistent(item, ds)
        found = [
            (t, l)
            for t in range(17)
            for l in range(17)
            if torch.equal(full["label"][t : t + 24, l : l + 32], item["label"])
            and torch.equal(full["image"][:, t : t + 24, l : l + 32], item["image"])
        ]
        assert found, "the crop is not a window of the full item"
        offsets.add(found[0])
    assert len(offsets) > 1, "crops should be random in training"
    # flipped crops stay consistent; upscaled load sizes give the requested size
    item = build_dataset("folder", root, "train", (24, 32), load_size=(40, 48), flip=True)[0]
    _assert_consistent(item, ds)
    big = build_dataset("folder", root, "train", (32, 32), load_size=(64, 72))[0]
    assert big["image"].shape == (3, 32, 32) and big["label"].shape == (32, 32)
    # validation crops are central and deterministic
    val = build_dataset("folder", root, "val", (24, 32), load_size=(40, 48))
    assert torch.equal(val[0]["label"], full["label"][8:32, 8:40])
    with pytest.raises(DatasetError, match="smaller than the crop size"):
        build_dataset("folder", root, "train", (24, 32), load_size=(20, 48))


def test_resize_uses_nearest_for_labels(tmp_path):
    lab = _blocks(40, 48, 4, 6)
    root = _folder(tmp_path / "r", CLASSES, {"a": lab})
    item = build_dataset("folder", root, "train", (20, 24), flip=False)[0]
    assert torch.equal(item["label"], torch.from_numpy(lab[1::2, 1::2].astype(np.int64)))
    up = build_dataset("folder", root, "train", (80, 96), flip=False)[0]
    assert torch.equal(up["label"], torch.from_numpy(np.kron(lab, np.ones((2, 2), dtype=np.uint8)).astype(np.int64)))


def test_default_collate(tmp_path):
    root = _folder(tmp_path / "b", CLASSES, {n: _blocks(12, 12, 4, i) for i, n in enumerate("abc")})
    ds = build_dataset("folder", root, "train", (8, 8))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["image"].shape == (3, 3, 8, 8) and batch["label"].shape == (3, 8, 8)
    assert batch["name"] == ["a", "b", "c"]


# ------------------------------------------------------------------------------------------ bad data
@pytest.fixture
def good(tmp_path):
    return _folder(tmp_path / "good", CLASSES, {"a": _blocks(12, 16, 4, 0), "b": _blocks(12, 16, 4, 1)})


def _raises_naming(path: Path, fn, *args, match: str | None = None):
    with pytest.raises(DatasetError) as info:
        fn(*args)
    assert str(path) in str(info.value), f"{path} not named in: {info.value}"
    if match:
        assert match in str(info.value)


def test_image_without_label_and_label_without_image(good):
    extra = good / "train" / "images" / "c.png"
    Image.fromarray(PALETTE[_blocks(12, 16, 4, 2)]).save(extra)
    _raises_naming(extra, build_dataset, "folder", good, "train", (8, 8), match="has no label map")
    extra.unlink()
    orphan = good / "train" / "labels" / "d.png"
    Image.fromarray(_blocks(12, 16, 4, 2)).save(orphan)
    _raises_naming(orphan, build_dataset, "folder", good, "train", (8, 8), match="has no image")


def test_duplicate_image_names(good):
    dup = good / "train" / "images" / "a.jpg"
    Image.fromarray(PALETTE[_blocks(12, 16, 4, 0)]).save(dup)
    _raises_naming(dup, build_dataset, "folder", good, "train", (8, 8), match="same name")


def test_size_mismatch(good):
    lab = good / "train" / "labels" / "b.png"
    Image.fromarray(_blocks(12, 15, 4, 0)).save(lab)
    ds = build_dataset("folder", good, "train", (8, 8))
    _raises_naming(lab, ds.__getitem__, 1, match="15x12")


def test_values_outside_class_list(good):
    lab = good / "train" / "labels" / "a.png"
    bad = _blocks(12, 16, 4, 0)
    bad[3, 3] = 9
    Image.fromarray(bad).save(lab)
    ds = build_dataset("folder", good, "train", (8, 8))
    _raises_naming(lab, ds.__getitem__, 0, match="label values 9 are not classes")


def test_unreadable_files(good):
    img = good / "train" / "images" / "a.png"
    img.write_bytes(b"this is not an image")
    ds = build_dataset("folder", good, "train", (8, 8))
    _raises_naming(img, ds.__getitem__, 0, match="not a readable image")
    lab = good / "train" / "labels" / "b.png"
    data = lab.read_bytes()
    lab.write_bytes(data[: len(data) // 2])  # truncated PNG
    _raises_naming(lab, ds.__getitem__, 1)


def test_colour_label_map_refused(good):
    lab = good / "train" / "labels" / "a.png"
    Image.fromarray(PALETTE[_blocks(12, 16, 4, 0)]).save(lab)
    ds = build_dataset("folder", good, "train", (8, 8))
    _raises_naming(lab, ds.__getitem__, 0, match="mode RGB")


def test_empty_and_missing_folders(good, tmp_path):
    (good / "val" / "images").mkdir(parents=True)
    (good / "val" / "labels").mkdir(parents=True)
    _raises_naming(good / "val" / "images", build_dataset, "folder", good, "val", (8, 8), match="empty")
    (good / "val" / "labels").rmdir()
    _raises_naming(good / "val" / "labels", build_dataset, "folder", good, "val", (8, 8), match="missing")
    missing = tmp_path / "nowhere"
    _raises_naming(missing, build_dataset, "folder", missing, "train", (8, 8), match="does not exist")
    _raises_naming(missing, build_dataset, "camvid", missing, "train", (8, 8), match="does not exist")
    (good / "classes.txt").unlink()
    _raises_naming(good / "classes.txt", build_dataset, "folder", good, "train", (8, 8), match="class file")
    with pytest.raises(DatasetError, match="unknown split"):
        build_dataset("camvid", good, "test", (8, 8))


def test_decompression_bomb(good, monkeypatch):
    img = good / "train" / "images" / "a.png"
    ds = build_dataset("folder", good, "train", (8, 8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150)  # 192 pixels: above the limit (Pillow's warning)
    _raises_naming(img, ds.__getitem__, 0, match="decompression bomb")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # more than twice the limit (Pillow's error)
    _raises_naming(img, ds.__getitem__, 0, match="decompression bomb")


# ------------------------------------------------------------------------------------------ check_dataset
def test_check_dataset_statistics(tmp_path):
    classes = "0 sky\n1 grass\n2 void\n"  # void -> channel 0, sky 1, grass 2
    a = np.zeros((4, 4), dtype=np.uint8)
    a[:, 2:] = 1  # 8 sky, 8 grass
    b = np.ones((4, 4), dtype=np.uint8)  # 16 grass
    root = _folder(tmp_path / "stats", classes, {"a": a, "b": b})
    c = np.full((4, 4), 2, dtype=np.uint8)
    c[0] = 0  # 12 void, 4 sky
    _folder(root, None, {"c": c}, split="val")
    stats = check_dataset("folder", root, progress=False)
    assert stats["ok"] and stats["errors"] == []
    tr, va, tot = stats["splits"]["train"], stats["splits"]["val"], stats["total"]
    assert (tr["pairs"], va["pairs"], tot["pairs"]) == (2, 1, 3)
    assert tr["image_sizes"] == {(4, 4): 2} and tot["image_sizes"] == {(4, 4): 3}
    assert tr["pixels"] == [0, 8, 24] and tr["pixel_share"] == pytest.approx([0, 0.25, 0.75])
    assert tr["images_with_class"] == [0, 1, 2]
    assert va["pixel_share"] == pytest.approx([0.75, 0.25, 0])
    assert tot["pixel_share"] == pytest.approx([0.25, 0.25, 0.5]) and tot["images_with_class"] == [1, 2, 2]
    ls = default_label_space("folder", root)
    report = format_check_report(stats, ls)
    assert "grass" in report and "no problems found" in report and "75.000" in report

    # problems are collected, each naming its file, and the rest is still counted
    bad = np.array([[0, 5], [1, 1]], dtype=np.uint8)
    _folder(root, None, {"d": bad}, split="val")
    Image.fromarray(PALETTE[b]).save(root / "val" / "images" / "orphan.png")
    stats = check_dataset("folder", root, splits=("train", "val"), progress=False)
    assert not stats["ok"] and len(stats["errors"]) == 2
    assert any(str(root / "val" / "labels" / "d.png") in e for e in stats["errors"])
    assert any(str(root / "val" / "images" / "orphan.png") in e for e in stats["errors"])
    assert stats["splits"]["val"]["ok"] == 1 and stats["splits"]["val"]["pairs"] == 2
    assert "PROBLEMS (2)" in format_check_report(stats, ls)
    with pytest.raises(DatasetError, match="does not exist"):
        check_dataset("folder", tmp_path / "nowhere", progress=False)


@pytest.mark.data
def test_check_dataset_on_coco_sample():
    root = _shared("coco_stuff_sample")
    stats = check_dataset("coco_stuff", root, progress=False)
    assert stats["ok"], stats["errors"]
    assert stats["splits"]["train"]["pairs"] == 13 and stats["splits"]["val"]["pairs"] == 8
    assert sum(stats["total"]["pixel_share"]) == pytest.approx(1.0)
