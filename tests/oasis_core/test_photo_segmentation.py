"""From a photo, the library side: discriminator segmentation of real CamVid and CMP facade photos, clean-up,
connected regions, realism regions and ``oasis segment --cleanup``.

The models here are real model files with random weights in the datasets' label spaces (built by
``save_checkpoint``): they check shapes, ranges and the clean-up guarantees, not accuracy. Accuracy of the bundled
CamVid model is in ``test_photo_bundled.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from photo_helpers import (
    DONT_CARE,
    Scores,
    flood_fill_sizes,
    large_photo,
    make_photo_model,
    read_ids,
    read_photo,
    val_pairs,
)
from PIL import Image

from oasis_core.cli import main as oasis_main
from oasis_core.segmentation import (
    cleanup_labels,
    connected_regions,
    fill_uncertain,
    merge_small_regions,
    resize_photo,
    worst_regions,
)
from oasis_core.synthesizer import Synthesizer

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photo_models")
    return {name: make_photo_model(folder / f"{name}.safetensors", name) for name in ("camvid", "facades")}


def synthesizer(models: dict[str, Path], dataset: str) -> Synthesizer:
    return Synthesizer.load(models[dataset], device="cpu", dtype="fp32")


# --------------------------------------------------------------------------------------------- segmentation
@pytest.mark.parametrize("dataset", ["camvid", "facades"])
def test_segmenting_real_photos_gives_maps_of_the_photo_size(models, dataset: str) -> None:
    syn = synthesizer(models, dataset)
    valid = set(syn.label_space.valid_values()) - {syn.label_space.dont_care_value}
    for image, _ in val_pairs(dataset, 2):
        photo = read_photo(image)
        for flip in (False, True):
            seg = syn.segment(photo, flip=flip)
            assert seg.labels.shape == seg.confidence.shape == seg.fake.shape == photo.shape[:2]
            assert set(np.unique(seg.labels).tolist()) <= valid, "labels are real classes, never don't care"
            for name, m in (("confidence", seg.confidence), ("fake", seg.fake)):
                assert m.dtype == np.float32 and np.isfinite(m).all(), name
                assert m.min() >= 0.0 and m.max() <= 1.0, (name, m.min(), m.max())
            # the best of K real classes has at least 1/K of the probability
            assert seg.confidence.min() >= 1 / len(valid) - 1e-5


def test_photos_keep_their_aspect_for_the_discriminator(models) -> None:
    syn = synthesizer(models, "camvid")  # natural size 192x256
    assert syn.model_input_size(360, 480) == (192, 256)
    assert syn.model_input_size(4000, 6000) == (171, 256)  # 3:2 fits the 4:3 frame: padded, not stretched
    assert syn.model_input_size(1000, 500) == (192, 96)
    wide = np.ascontiguousarray(read_photo(val_pairs("camvid", 1)[0][0])[:90])  # a 480x90 strip
    assert syn.segment(wide).labels.shape == (90, 480)


def test_the_resize_back_equals_a_full_bilinear_resize_of_the_logits(models) -> None:
    """``segment`` only interpolates logits between disagreeing sources; the labels must equal the full path."""
    syn = synthesizer(models, "camvid")
    photo = read_photo(val_pairs("camvid", 1)[0][0])  # 360x480 -> 192x256, a multiple of 64: no padding
    small = torch.tensor(resize_photo(photo, 192, 256)).permute(2, 0, 1)[None].float() / 127.5 - 1
    logits = syn.discriminate(small)
    full = F.interpolate(logits, size=photo.shape[:2], mode="bilinear", align_corners=False)[0]
    keep = syn._real_channels()
    expected = syn.label_space.to_values((keep[full[keep].argmax(0)] - 1).numpy())
    seg = syn.segment(photo)
    assert (seg.labels == expected).mean() > 0.9999  # exact up to float ties
    fake = torch.softmax(logits[0], 0)[0]
    fake = F.interpolate(fake[None, None], size=photo.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    assert np.abs(seg.fake - fake.numpy()).max() < 1e-4  # the fake probability is resized from the model's size


def test_the_class_prior_moves_labels_toward_frequent_classes_and_leaves_the_fake_map(tmp_path: Path) -> None:
    """A model file with training class frequencies: labels are the argmax of logits + 0.5 log(frequency) over the
    real classes; the fake probability is the raw discriminator's; ``prior=False`` is the plain argmax."""
    freq = np.random.default_rng(5).dirichlet(np.full(12, 0.3))
    freq[DONT_CARE["camvid"]] = 0.0
    freq = (freq / freq.sum()).tolist()
    syn = Synthesizer.load(
        make_photo_model(tmp_path / "prior.safetensors", "camvid", class_frequencies=freq), device="cpu", dtype="fp32"
    )
    assert syn.has_segment_prior
    photo = read_photo(val_pairs("camvid", 1)[0][0])
    small = torch.tensor(resize_photo(photo, 192, 256)).permute(2, 0, 1)[None].float() / 127.5 - 1
    full = F.interpolate(syn.discriminate(small), size=photo.shape[:2], mode="bilinear", align_corners=False)[0]
    keep = syn._real_channels()
    bias = 0.5 * np.log(np.maximum(np.array(freq), 1e-6))[keep.numpy() - 1]
    np.testing.assert_allclose(syn.real_class_bias(), bias, rtol=1e-5)
    biased = full[keep] + torch.tensor(bias, dtype=torch.float32)[:, None, None]
    expected = syn.label_space.to_values((keep[biased.argmax(0)] - 1).numpy())
    plain = syn.label_space.to_values((keep[full[keep].argmax(0)] - 1).numpy())
    with_prior, without = syn.segment(photo), syn.segment(photo, prior=False)
    assert (with_prior.labels == expected).mean() > 0.9999
    assert (without.labels == plain).mean() > 0.9999
    assert (with_prior.labels != without.labels).mean() > 0.01, "the prior changed a visible part of the map"
    np.testing.assert_array_equal(with_prior.fake, without.fake)
    # frequent classes gain pixels: the share of the most frequent class does not drop
    top = syn.label_space.to_values(np.array([int(np.argmax(freq))]))[0]
    assert (with_prior.labels == top).mean() >= (without.labels == top).mean()


def test_a_model_without_a_prior_segments_by_the_plain_argmax(models) -> None:
    syn = synthesizer(models, "camvid")
    assert not syn.has_segment_prior and not syn.real_class_bias().any()
    photo = read_photo(val_pairs("camvid", 1)[0][0])
    np.testing.assert_array_equal(syn.segment(photo).labels, syn.segment(photo, prior=False).labels)


def test_flip_averaging_is_computed_and_both_accuracies_are_reported(models) -> None:
    """With random weights the comparison means nothing; ``test_photo_bundled.py`` asserts it on the real model."""
    syn = synthesizer(models, "camvid")
    plain, flipped = Scores(12, DONT_CARE["camvid"]), Scores(12, DONT_CARE["camvid"])
    changed = 0.0
    for image, label in val_pairs("camvid", 3):
        photo, truth = read_photo(image), read_ids(label)
        a, b = syn.segment(photo), syn.segment(photo, flip=True)
        plain.add(a.labels, truth)
        flipped.add(b.labels, truth)
        changed += float((a.confidence != b.confidence).mean())
    print(f"\nrandom-weight camvid model, 3 val photos: pixel accuracy {plain.pixel_accuracy:.3f} without flip, "
          f"{flipped.pixel_accuracy:.3f} with flip averaging")  # fmt: skip
    assert changed > 0, "flip averaging changes the result (the mirror image was evaluated)"
    assert 0 <= plain.pixel_accuracy <= 1 and 0 <= flipped.pixel_accuracy <= 1


def test_a_24_megapixel_photo_is_segmented_and_cleaned_at_its_own_size(models, tmp_path: Path) -> None:
    syn = synthesizer(models, "camvid")
    path = large_photo(tmp_path / "camera.jpg", val_pairs("camvid", 1)[0][0])
    from oasis_core.imageio import read_rgb

    photo = read_rgb(path)
    assert photo.shape == (4000, 6000, 3)
    steps = []
    t0 = time.perf_counter()
    seg = syn.segment(photo, flip=True, progress=lambda done, total: steps.append((done, total)))
    t_seg = time.perf_counter() - t0
    assert seg.labels.shape == seg.confidence.shape == seg.fake.shape == (4000, 6000)
    assert seg.labels.dtype == np.uint8
    assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == sorted(d for d, _ in steps)
    t0 = time.perf_counter()
    clean = cleanup_labels(seg.labels, seg.confidence, min_region=5000, min_confidence=0.3)
    t_clean = time.perf_counter() - t0
    regions = connected_regions(clean)
    print(f"\n6000x4000: segment with flip {t_seg:.1f} s, clean-up {t_clean:.1f} s, {regions.count} regions left")
    assert regions.sizes.min() >= 5000


# --------------------------------------------------------------------------------------------- regions
def test_connected_regions_agree_with_a_plain_flood_fill() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        labels = rng.integers(0, int(rng.integers(1, 4)), (h, w)).astype(np.uint8)
        regions = connected_regions(labels)
        assert sorted(regions.sizes.tolist()) == sorted(flood_fill_sizes(labels))
        ids = regions.ids()
        for r in range(regions.count):  # every region holds one value
            assert len(np.unique(labels[ids == r])) == 1
    # diagonal neighbours are not connected (4-connectivity, like the fill tool)
    checker = np.indices((4, 4)).sum(0) % 2
    assert connected_regions(checker).count == 16


@pytest.mark.parametrize("dataset", ["camvid", "facades"])
def test_cleanup_leaves_no_region_below_the_minimum(models, dataset: str) -> None:
    syn = synthesizer(models, dataset)
    for image, _ in val_pairs(dataset, 2):
        photo = read_photo(image)
        seg = syn.segment(photo)
        before = connected_regions(seg.labels)
        for min_region in (20, 300):
            clean = cleanup_labels(seg.labels, seg.confidence, min_region=min_region)
            after = connected_regions(clean)
            assert after.sizes.min() >= min_region
            assert clean.dtype == seg.labels.dtype and set(np.unique(clean)) <= set(np.unique(seg.labels))
            if (before.sizes >= min_region).all():
                continue
            assert after.count < before.count
        # the independent check on a small map: the photo segmented at 96x128
        small = np.asarray(Image.fromarray(photo).resize((128, 96)))
        seg = syn.segment(small)
        clean = cleanup_labels(seg.labels, seg.confidence, min_region=40)
        sizes = flood_fill_sizes(clean)
        assert min(sizes) >= 40, sorted(sizes)[:5]
        assert sorted(sizes) == sorted(connected_regions(clean).sizes.tolist())


def test_a_small_region_takes_its_most_common_neighbouring_label() -> None:
    labels = np.zeros((20, 30), np.uint8)
    labels[:, 15:] = 1
    labels[5:9, 13:16] = 2  # 12 pixels: 8 border edges on class 0, 6 on class 1
    labels[15:17, 25:27] = 3  # inside class 1
    out = merge_small_regions(labels, 20)
    assert (out[5:9, 13:15] == 0).all() and out[5, 15] == 0
    assert (out[15:17, 25:27] == 1).all()
    expected = labels.copy()
    expected[5:9, 13:16] = 0
    expected[15:17, 25:27] = 1
    assert np.array_equal(out, expected)
    # speckle whose neighbours are all small still ends in big regions
    noise = np.random.default_rng(0).integers(0, 4, (60, 60)).astype(np.uint8)
    assert min(flood_fill_sizes(merge_small_regions(noise, 30))) >= 30
    # a map smaller than the minimum becomes one region
    assert len(np.unique(merge_small_regions(noise[:4, :4], 100))) == 1


def test_low_confidence_pixels_take_the_nearest_confident_label() -> None:
    labels = np.zeros((10, 20), np.uint8)
    labels[:, 10:] = 5
    labels[:, 7:13] = 9  # an unsure band between the two
    confidence = np.ones((10, 20), np.float32)
    confidence[:, 7:13] = 0.2
    out = fill_uncertain(labels, confidence < 0.5)
    assert (out[:, :10] == 0).all() and (out[:, 10:] == 5).all()
    assert np.array_equal(cleanup_labels(labels, confidence, 1, min_confidence=0.5), out)
    assert np.array_equal(cleanup_labels(labels, confidence, 1, min_confidence=0), labels), "0 turns it off"
    assert np.array_equal(fill_uncertain(labels, np.ones_like(labels, bool)), labels), "nothing to fill from"


def test_worst_regions_are_the_connected_areas_with_the_highest_mean_fake_probability() -> None:
    labels = np.zeros((40, 40), np.uint8)
    labels[:20, :20] = 1
    labels[25:35, 25:35] = 1  # class 1 again, but another region
    labels[0:2, 30:32] = 2  # too small
    fake = np.full((40, 40), 0.1, np.float32)
    fake[25:35, 25:35] = 0.9
    fake[:20, :20] = 0.5
    fake[0:2, 30:32] = 1.0
    masks = worst_regions(fake, labels, k=2, min_area=10)
    assert len(masks) == 2
    expected_first = np.zeros((40, 40), bool)
    expected_first[25:35, 25:35] = True
    assert np.array_equal(masks[0], expected_first)
    assert masks[1][:20, :20].all() and masks[1].sum() == 400
    assert len(worst_regions(fake, labels, k=10, min_area=10)) == 3
    assert worst_regions(fake, labels, k=0) == []


def test_realism_map_of_a_generated_image(models) -> None:
    syn = synthesizer(models, "facades")
    labels = np.full((128, 128), 2, np.uint8)
    labels[32:96, 32:96] = 3
    image = syn.generate(labels, syn.sample_noise(128, 128, seed=1))
    fake = syn.realism(image)
    assert fake.shape == (128, 128) and fake.dtype == np.float32
    assert fake.min() >= 0 and fake.max() <= 1
    assert np.array_equal(fake, syn.segment(image).fake)


# --------------------------------------------------------------------------------------------- command line
def test_oasis_segment_cleanup_and_min_region(models, tmp_path: Path, capsys) -> None:
    image = val_pairs("camvid", 1)[0][0]
    raw, clean = tmp_path / "raw.png", tmp_path / "clean.png"
    assert oasis_main(["segment", "--model", str(models["camvid"]), str(image), "-o", str(raw), "--flip"]) == 0
    args = ["segment", "--model", str(models["camvid"]), str(image), "-o", str(clean), "--flip", "--cleanup"]
    assert oasis_main([*args, "--min-region", "150"]) == 0
    raw_ids, clean_ids = read_ids(raw), read_ids(clean)
    assert raw_ids.shape == clean_ids.shape == (360, 480)
    assert connected_regions(clean_ids).sizes.min() >= 150
    assert connected_regions(clean_ids).count <= connected_regions(raw_ids).count
    assert oasis_main([*args, "--min-region", "0"]) == 2
    assert "--min-region must be at least 1" in capsys.readouterr().err
