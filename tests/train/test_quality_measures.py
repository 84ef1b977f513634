"""The image-quality measures (train/quality.py) on real rendered landscapes: about 1 between two sets of real
images, and clearly up on images damaged the way bad generators damage them."""

from pathlib import Path

import numpy as np
import pytest

import train.landscapes as ls
from train import quality

TEXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "textures"
SIZE = 96
N = 16  # scenes per set


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Three sets of N landscapes (real tiles where ../shared is present, else a synthetic tile folder)."""
    if TEXTURES.is_dir():
        bank = ls.TextureBank.load(TEXTURES)
    else:
        from test_landscapes import _fake_textures

        bank = ls.TextureBank.load(_fake_textures(tmp_path_factory.mktemp("tex")))
    pairs = [ls.render_scene(seed, (SIZE, SIZE), bank) for seed in range(3 * N)]
    images = np.stack([p[0] for p in pairs])
    labels = np.stack([p[1] for p in pairs]).astype(np.int64)
    return [(images[k : k + N], labels[k : k + N]) for k in (0, N, 2 * N)]


def _damage(x: np.ndarray, kind: str) -> np.ndarray:
    from scipy import ndimage

    x = x.astype(np.float32)
    if kind == "column streaks":
        x = x + 12 * np.sin(np.arange(x.shape[2]) * 2.0)[None, None, :, None]
    elif kind == "blur":
        x = ndimage.uniform_filter(x, (1, 5, 5, 1))
    elif kind == "desaturate":
        grey = x.mean(-1, keepdims=True)
        x = grey + 0.2 * (x - grey)
    elif kind == "colour cast box":
        q = slice(SIZE // 4, 3 * SIZE // 4)
        x[:, q, q] *= np.array([1.25, 0.85, 0.65])
    return np.clip(x, 0, 255).astype(np.uint8)


def test_real_against_real_is_near_the_floor(scenes):
    (a, la), (b, lb), (c, lc) = scenes
    floor = quality.colour_distance(a, la, b, lb)
    assert 0.6 < quality.colour_distance(c, lc, b, lb) / floor < 1.6
    floor = quality.texture_distance(a, la, b, lb)
    assert 0.5 < quality.texture_distance(c, lc, b, lb) / floor < 2.0
    for x, y in zip(quality.streaks(c, lc), quality.streaks(a, la)):
        assert 0.6 < x / y < 1.6
    m = [quality.seam_measures(c[i], c[i], lc[i], quality.boxes(SIZE, SIZE)["centre"]) for i in range(N)]
    assert 0.8 < np.nanmean([v["seam"] for v in m]) < 1.25  # an unchanged image: no seam along the box
    assert max(v["de_inside"] for v in m) == 0.0


@pytest.mark.parametrize(
    ("kind", "measure", "factor"),
    [("column streaks", "streaks_col", 3.0), ("blur", "texture", 3.0), ("desaturate", "colour", 1.15)],
)  # fmt: skip
def test_damaged_images_are_flagged(scenes, kind, measure, factor):
    """The same scenes damaged against undamaged, both measured against set B (colour distances between small
    sets of different scenes vary by tens of percent, so the comparison is paired)."""
    _, (b, lb), (c, lc) = scenes
    bad = _damage(c, kind)
    if measure == "streaks_col":
        value, clean = quality.streaks(bad, lc)[0], quality.streaks(c, lc)[0]
    elif measure == "texture":
        value, clean = quality.texture_distance(bad, lc, b, lb), quality.texture_distance(c, lc, b, lb)
    else:
        value, clean = quality.colour_distance(bad, lc, b, lb), quality.colour_distance(c, lc, b, lb)
    assert value > factor * clean, (kind, value, clean)


def test_a_colour_cast_box_leaves_a_seam(scenes):
    _, _, (c, lc) = scenes
    box = quality.boxes(SIZE, SIZE)["centre"]  # the region _damage casts
    bad = _damage(c, "colour cast box")
    m = [quality.seam_measures(c[i], bad[i], lc[i], box) for i in range(N)]
    assert np.nanmean([v["seam"] for v in m]) > 1.3
    assert np.mean([v["de_inside"] for v in m]) > 10 and max(v["de_near"] for v in m) == 0.0


def test_set_measures_report_floors_and_ratios(scenes):
    (a, la), (b, lb), _ = scenes
    real, labels = np.concatenate([a, b]), np.concatenate([la, lb])
    res = quality.set_measures(_damage(real, "column streaks"), real, labels)
    assert res["streaks_col_ratio"] > 3 and res["colour_floor"] > 0
    assert res["colour_ratio"] == pytest.approx(res["colour"] / res["colour_floor"])
    with pytest.raises(ValueError, match="at least 4"):
        quality.set_measures(real[:3], real[:3], labels[:3])


def test_training_floor_is_what_the_training_data_itself_scores(scenes):
    """Training images from the validation images' own distribution: a training floor near the A/B floor. Training
    images in another light (darker, as CamVid's training drives are against its validation stretch): a training
    floor far above it, and a generator that reproduces its training data reads ~1 against it, not against A/B."""
    (a, la), (b, lb), (c, lc) = scenes
    real, labels = np.concatenate([a, b]), np.concatenate([la, lb])
    same = quality.set_measures(real, real, labels, train=(c, lc))
    assert 0.6 < same["colour_train_floor"] / same["colour_floor"] < 1.6
    assert 0.5 < same["texture_train_floor"] / same["texture_floor"] < 2.0
    assert same["colour_train_ratio"] == pytest.approx(same["colour"] / same["colour_train_floor"])

    def dusk(x):
        return (x.astype(np.float32) * 0.5).astype(np.uint8)

    res = quality.set_measures(dusk(real), real, labels, train=(dusk(c), lc))
    assert res["colour_train_floor"] > 2 * res["colour_floor"] and res["colour_ratio"] > 2
    assert 0.6 < res["colour_train_ratio"] < 1.6
    with pytest.raises(ValueError, match="matching"):
        quality.set_measures(real, real, labels, train=(c, lc[:2]))


def test_measures_by_scale_locate_a_gap_made_at_full_resolution(scenes):
    """Pixel-scale noise (alternating columns) is a full-resolution gap: large at full resolution, gone at 1/2."""
    (a, la), (b, lb), _ = scenes
    real, labels = np.concatenate([a, b]), np.concatenate([la, lb])
    fine = real.astype(np.int16)
    fine[:, :, 1::2] += 25  # every other column brighter: the finest stripes there are
    fine = np.clip(fine, 0, 255).astype(np.uint8)
    full = quality.set_measures(fine, real, labels)
    by_scale = quality.measures_by_scale(fine, real, labels)
    assert full["texture_ratio"] > 2
    assert by_scale["texture_ratio_at_1_2"] < 0.5 * full["texture_ratio"]
    assert set(by_scale) >= {"texture_ratio_at_1_2", "streaks_col_ratio_at_1_2", "streaks_row_ratio_at_1_2"}


@pytest.mark.parametrize("dataset, size", [("landscapes", (256, 256)), ("camvid", (192, 256)), ("facades", (64, 64))])
def test_painted_scenes_are_a_dozen_valid_label_maps_of_large_flat_regions(dataset, size):
    """Measure 5's scenes: twelve per bundled dataset, at any size, only valid file values, each with two or more
    classes and the large flat regions a person paints (few, big regions; unlike real label maps); the same every
    time. Other datasets have none."""
    from skimage.measure import label as regions

    from oasis_core.labels import get
    from train.painted import painted_scenes

    space = get(dataset)
    scenes = painted_scenes(dataset, space, *size)
    assert len(scenes) == 12 and len({name for name, _ in scenes}) == 12
    for name, labels in scenes:
        assert labels.shape == size and labels.dtype == np.uint8
        assert set(np.unique(labels).tolist()) <= set(space.valid_values()), name
        assert len(np.unique(labels)) >= 2, name
        parts = regions(labels, connectivity=1, background=-1)
        largest = np.bincount(parts.ravel()).max()
        assert largest >= 0.15 * labels.size, f"{name}: its largest region is {largest} px"
    again = painted_scenes(dataset, space, *size)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(scenes, again))
    assert painted_scenes("cityscapes", get("cityscapes"), 64, 128) == []


def test_clipping_flags_a_blown_out_sky_the_colour_distance_hardly_sees(scenes):
    """Half the scenes with their top third blown out to white (as a generator's white sky): the clipped
    share rises many times over, the pooled colour distance by far less; and crushed blacks count too."""
    _, (b, lb), (c, lc) = scenes
    bad = c.copy()
    bad[::2, : SIZE // 3] = 255
    clean = quality.clipped(c, lc)  # the renderer's own: a sun, snow (about 2 %)
    assert clean < 0.05 and quality.clipped(bad, lc) > 4 * clean
    black = c.copy()
    black[:, -8:] = 3
    assert quality.clipped(black, lc) >= 8 / SIZE and quality.clipped(black, lc) > clean  # 8 black columns
    # the ignored class is left out
    assert quality.clipped(black, np.zeros_like(lc), ignore=0) == 0.0
    res = quality.set_measures(bad, c, lc)
    assert res["clipped"] == pytest.approx(quality.clipped(bad, lc)) and res["clipped_floor"] == pytest.approx(clean)
    colour = quality.colour_distance(bad, lc, b, lb) / quality.colour_distance(c, lc, b, lb)
    assert colour < 0.5 * quality.clipped(bad, lc) / clean
