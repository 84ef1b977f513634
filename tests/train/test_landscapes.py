"""Procedural landscapes (train/landscapes/): exact labels, determinism, layout rules, reflections, and the
resumable dataset writer.

Most tests render with the real GPL-2+ tiles in ``../shared/data/textures`` and skip, naming the folder, where it is
absent. A few run anywhere: they build a tiny synthetic textures folder with the file names the bank expects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train.landscapes as ls
from oasis_core.imageio import indexed_label_image
from oasis_core.labels import landscapes

TEXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "textures"
SIZE = (144, 192)  # (height, width); deliberately not square
SEEDS = range(24)

SKY, CLOUD, MOUNTAIN, ROCK, SNOW, WATER, GRASS, SAND, TREE, DIRT = range(10)


@pytest.fixture(scope="module")
def bank() -> ls.TextureBank:
    if not TEXTURES.is_dir():
        pytest.skip(f"landscape textures folder not found: {TEXTURES} (../shared/data/textures)")
    return ls.TextureBank.load(TEXTURES)


@pytest.fixture(scope="module")
def scenes(bank: ls.TextureBank) -> list[tuple[ls.Renderer, np.ndarray, np.ndarray]]:
    out = []
    for s in SEEDS:
        r = ls.Renderer(s, SIZE, bank)
        img, lab = r.render()
        out.append((r, img, lab))
    return out


def _fake_textures(root: Path) -> Path:
    """A minimal textures folder: one random tile per role, one sky box face, one COPYRIGHT file."""
    rng = np.random.default_rng(0)
    for role, files in ls.POOLS.items():
        p = root / files[0]
        p.parent.mkdir(parents=True, exist_ok=True)
        base = rng.uniform(40, 220, 3)
        arr = np.clip(base + rng.normal(0, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(p)
        del role
    sky = root / "etr_skyboxes" / "sunny" / "front.png"
    sky.parent.mkdir(parents=True, exist_ok=True)
    grad = np.linspace(0, 1, 64)[:, None, None] * np.array([90, 80, 40]) + np.array([80, 130, 200])
    Image.fromarray(np.broadcast_to(grad, (64, 64, 3)).astype(np.uint8)).save(sky)
    (root / "COPYRIGHT.fake").write_text("fake licence\n", encoding="utf-8")
    return root


# --------------------------------------------------------------------------------------------- no shared data needed
def test_missing_textures_folder_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no_textures_here"
    with pytest.raises(FileNotFoundError, match="no_textures_here"):
        ls.TextureBank.load(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        ls.TextureBank.load(empty)


def test_renders_with_a_synthetic_texture_folder(tmp_path: Path) -> None:
    bank = ls.TextureBank.load(_fake_textures(tmp_path / "tex"))
    for seed in range(3):
        img, lab = ls.render_scene(seed, (48, 80), bank)
        assert img.shape == (48, 80, 3) and img.dtype == np.uint8
        assert lab.shape == (48, 80) and lab.dtype == np.uint8
        assert lab.max() <= 9


def test_parallel_workers_write_the_same_files_as_one_process(tmp_path: Path) -> None:
    """``make-landscapes --workers N`` (a GPU machine's 16 cores build the data in a minute): the same files."""
    tex = _fake_textures(tmp_path / "tex")
    one, many = tmp_path / "one", tmp_path / "many"
    a = ls.write_dataset(one, 40, size=(32, 48), seed=3, textures_root=tex, progress=False)
    b = ls.write_dataset(many, 40, size=(32, 48), seed=3, textures_root=tex, progress=False, workers=2)
    assert a == b and a["written"] == 40
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(many) for p in many.rglob("*") if p.is_file())
    assert all((one / f).read_bytes() == (many / f).read_bytes() for f in files)
    assert ls.write_dataset(many, 40, size=(32, 48), seed=3, textures_root=tex, progress=False, workers=2)[
        "skipped"
    ] == 40  # resumable as before


def test_classes_txt_and_label_png_follow_the_label_space() -> None:
    space = landscapes()
    lines = ls.classes_txt().splitlines()
    assert len(lines) == 10
    for v, line in enumerate(lines):
        value, name, r, g, b = line.split()
        assert int(value) == v and name == space.names[v]
        assert (int(r), int(g), int(b)) == space.colours[v]
    lab = np.arange(10, dtype=np.uint8).repeat(3).reshape(5, 6)
    im = indexed_label_image(lab, ls.LABEL_SPACE)
    assert im.mode == "P"
    assert np.array_equal(np.asarray(im), lab)
    pal = np.array(im.getpalette()[:30]).reshape(10, 3)
    assert np.array_equal(pal, np.array(space.colours))


def test_val_split_rule_is_stable_and_close_to_the_fraction() -> None:
    flags = [ls.is_val(i, 0.1) for i in range(1000)]
    assert 80 <= sum(flags) <= 120
    assert flags[:50] == [ls.is_val(i, 0.1) for i in range(50)]  # independent of the count
    assert not any(ls.is_val(i, 0.0) for i in range(100))


# --------------------------------------------------------------------------------------------- real textures
def test_shape_dtype_and_label_values(scenes) -> None:
    for _, img, lab in scenes:
        assert img.shape == SIZE + (3,) and img.dtype == np.uint8
        assert lab.shape == SIZE and lab.dtype == np.uint8
        assert int(lab.max()) <= 9
        assert img.std() > 10  # not a flat image


def test_deterministic_per_seed(bank) -> None:
    a_img, a_lab = ls.render_scene(5, SIZE, bank)
    b_img, b_lab = ls.render_scene(5, SIZE, bank)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_lab, b_lab)
    c_img, c_lab = ls.render_scene(6, SIZE, bank)
    assert not np.array_equal(a_img, c_img)
    assert not np.array_equal(a_lab, c_lab)


def test_scenes_are_distinct(scenes) -> None:
    keys = {lab.tobytes() for _, _, lab in scenes}
    assert len(keys) == len(scenes)


def test_every_class_appears(scenes) -> None:
    seen = set()
    for _, _, lab in scenes:
        seen |= {int(v) for v in np.unique(lab)}
    assert seen == set(range(10)), f"missing classes: {sorted(set(range(10)) - seen)}"


def test_top_rows_are_sky_or_cloud(scenes) -> None:
    shares = []
    for _, _, lab in scenes:
        top = lab[: max(1, SIZE[0] // 20)]
        shares.append(np.isin(top, (SKY, CLOUD)).mean())
    assert np.mean(shares) > 0.9
    assert np.median(shares) > 0.95


def test_sky_above_horizon_and_ground_below(scenes) -> None:
    for r, _, lab in scenes:
        rows = np.arange(SIZE[0])[:, None]
        sky = np.isin(lab, (SKY, CLOUD))
        ground = np.isin(lab, (WATER, SAND, DIRT))  # grass also covers hills above the horizon
        assert not (sky & (rows > r.hy + 1)).any(), "sky below the horizon"
        assert not (ground & (rows < r.hy - 1)).any(), "flat ground above the horizon"


def test_snow_lies_above_water_and_grass(scenes) -> None:
    checked = 0
    for _, _, lab in scenes:
        ys = np.arange(SIZE[0])[:, None] * np.ones(SIZE[1])
        snow = lab == SNOW
        if not snow.any():
            continue
        for other in (WATER, GRASS):
            m = lab == other
            if m.any():
                assert ys[snow].mean() < ys[m].mean()
                checked += 1
    assert checked >= 2


def test_water_reflects_what_stands_above_it(scenes) -> None:
    """Water pixels look like the mirror image (about the horizon) of distant things above them: their brightness
    correlates with the mirrored pixel far better than with a pixel at a random row of the same column."""
    rng = np.random.default_rng(0)
    used = 0
    for r, img, lab in scenes:
        lum = img.astype(np.float64).mean(axis=2)
        yi, xi = np.nonzero(lab == WATER)
        if len(yi) < 200:
            continue
        mirror = np.floor(2 * r.hy - yi - 0.5).astype(int)
        ok = mirror >= 0
        yi, xi, mirror = yi[ok], xi[ok], mirror[ok]
        distant = np.isin(lab[mirror, xi], (SKY, CLOUD, MOUNTAIN, SNOW))
        yi, xi, mirror = yi[distant], xi[distant], mirror[distant]
        if len(yi) < 200 or lum[mirror, xi].std() < 12:  # a featureless sky says little
            continue
        top = max(1, int(r.hy))
        other = rng.integers(0, top, len(yi))
        true_c = np.corrcoef(lum[yi, xi], lum[mirror, xi])[0, 1]
        rand_c = np.corrcoef(lum[yi, xi], lum[other, xi])[0, 1]
        assert true_c > 0.5, f"seed scene: reflection correlation {true_c:.2f}"
        assert true_c > rand_c + 0.2, f"mirror {true_c:.2f} vs random rows {rand_c:.2f}"
        used += 1
    assert used >= 2, "too few scenes with a reflecting lake to test"


def _crossings(row: np.ndarray) -> float:
    """How often a row of brightness values crosses its local mean (a measure of texture frequency)."""
    sign = np.sign(row - np.convolve(row, np.ones(31) / 31, mode="same"))[15:-15]
    return float((sign[1:] != sign[:-1]).sum())


def test_ground_texture_shrinks_toward_the_horizon(tmp_path: Path) -> None:
    """Perspective: with a checkerboard as the grass tile, a row half-way to the horizon crosses more checker
    squares than the bottom row (the ground-plane projection shrinks the texture toward the horizon)."""
    root = _fake_textures(tmp_path / "tex")
    n = 256
    check = ((np.arange(n)[:, None] // 32 + np.arange(n)[None, :] // 32) % 2).astype(np.uint8)
    tile = np.stack([check * 200 + 30] * 3, axis=-1).astype(np.uint8)
    bank = ls.TextureBank.load(root)
    bank.pools["grass"] = [ls.Texture.from_image("checker", Image.fromarray(tile))]
    size = (192, 256)
    tested = 0
    for seed in range(200):
        r = ls.Renderer(seed, size, bank)
        if r.ground_kind != "grass" or r.water_kind != "none" or r.path or r.dirt_patches or r.rock_patches:
            continue
        if r.hy > 0.5 * size[0]:
            continue
        r.boulders = r.forest = False
        img, lab = r.render()
        g = img.astype(np.float64).mean(axis=2)

        bottom = size[0] - 2
        mid = int(r.hy + 0.5 * (bottom - r.hy))
        c_mid = _crossings(g[mid][lab[mid] == GRASS])
        c_bottom = _crossings(g[bottom][lab[bottom] == GRASS])
        assert c_mid > 1.3 * c_bottom, (seed, c_mid, c_bottom)
        tested += 1
        if tested == 3:
            break
    assert tested == 3


def test_write_dataset_layout_resume_and_licences(tmp_path: Path) -> None:
    if not TEXTURES.is_dir():
        pytest.skip(f"landscape textures folder not found: {TEXTURES} (../shared/data/textures)")
    out = tmp_path / "ds"
    stats = ls.write_dataset(out, 6, size=(48, 64), seed=100, val_fraction=0.34, textures_root=TEXTURES, progress=False)
    assert stats["written"] == 6 and stats["skipped"] == 0
    assert stats["train"] + stats["val"] == 6 and stats["val"] >= 1
    lines = (out / "classes.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].split()[:2] == ["0", "sky"] and len(lines) == 10
    files = {}
    for split in ("train", "val"):
        imgs = sorted((out / split / "images").glob("*.png"))
        labs = sorted((out / split / "labels").glob("*.png"))
        assert [p.stem for p in imgs] == [p.stem for p in labs]
        for ip, lp in zip(imgs, labs):
            im = Image.open(ip)
            lb = Image.open(lp)
            assert im.mode == "RGB" and im.size == (64, 48)
            assert lb.mode == "P" and lb.size == (64, 48)
            assert int(np.asarray(lb).max()) <= 9
            files[ip] = ip.stat().st_mtime_ns
            files[lp] = lp.stat().st_mtime_ns
    assert len(files) == 12
    # every scene i is seed + i, identical to render_scene
    first = out / ("val" if ls.is_val(0, 0.34) else "train") / "labels" / "scene_0000100.png"
    _, lab0 = ls.render_scene(100, (48, 64), ls.TextureBank.load(TEXTURES))
    assert np.array_equal(np.asarray(Image.open(first)), lab0)
    # licences: every COPYRIGHT file of the textures folder, byte for byte
    sources = sorted(p for p in TEXTURES.rglob("COPYRIGHT*") if p.is_file())
    copies = sorted((out / "LICENSES").glob("*COPYRIGHT*"))
    assert len(copies) == len(sources) >= 1
    assert sorted(p.read_bytes() for p in copies) == sorted(p.read_bytes() for p in sources)
    # resume: nothing existing is rewritten; a deleted file is restored identically
    victim = first
    victim_bytes = victim.read_bytes()
    victim.unlink()
    past = 1_000_000_000
    for p in files:
        if p.exists():
            os.utime(p, ns=(past, past))
    stats = ls.write_dataset(out, 6, size=(48, 64), seed=100, val_fraction=0.34, textures_root=TEXTURES, progress=False)
    assert stats["written"] == 1 and stats["skipped"] == 5
    for p in files:
        if p != victim:
            assert p.stat().st_mtime_ns == past, f"{p.name} was rewritten"
    assert victim.read_bytes() == victim_bytes
    assert not list(out.rglob(".*.tmp*")), "temporary files left behind"


def test_make_sample_sheet(tmp_path: Path, bank) -> None:
    path = ls.make_sample_sheet(tmp_path / "sheet.png", [1, 2, 3], (32, 48), textures=bank, pairs_per_row=2)
    im = Image.open(path)
    assert im.mode == "RGB"
    w, h = im.size
    assert w > 4 * 48 and h > 2 * 32
    arr = np.asarray(im)
    # the first cell is the colourised label map: only class colours
    cell = arr[4 : 4 + 32, 4 : 4 + 48].reshape(-1, 3)
    colours = {tuple(c) for c in landscapes().colours}
    assert all(tuple(c) in colours for c in np.unique(cell, axis=0))
