"""The inference API on a tiny real model file: determinism, seeds, variants, local reroll, segmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from oasis_core.labels import LabelError
from oasis_core.runtime import resolve_device, resolve_dtype
from oasis_core.synthesizer import Synthesizer

SIZE = 256


def scene(h: int = SIZE, w: int = SIZE) -> np.ndarray:
    """A small landscape: sky, mountain, grass and a lake (landscapes label values)."""
    lab = np.zeros((h, w), np.uint8)  # sky
    lab[h * 25 // 100 : h * 45 // 100, w * 55 // 100 :] = 2  # mountain
    lab[h * 40 // 100 :, :] = 6  # grass
    lab[h * 62 // 100 :, w * 30 // 100 : w * 78 // 100] = 5  # water
    return lab


@pytest.fixture
def syn(tiny_model_file: Path) -> Synthesizer:
    return Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")


def test_load_is_cached(tiny_model_file: Path, syn: Synthesizer) -> None:
    assert Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32") is syn
    assert syn.label_space.name == "landscapes" and syn.z_dim == 16 and syn.size_multiple == 32
    assert syn.natural_size == (64, 64) and syn.has_discriminator and not syn.generator.training


def test_same_seed_same_image_and_different_seeds_differ(syn: Synthesizer) -> None:
    lab = scene(64, 96)
    a = syn.generate(lab, syn.sample_noise(64, 96, seed=5))
    b = syn.generate(lab, syn.sample_noise(64, 96, seed=5))
    c = syn.generate(lab, syn.sample_noise(64, 96, seed=6))
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 2.0


def test_labels_change_the_image(syn: Synthesizer) -> None:
    z = syn.sample_noise(64, 64, seed=1)
    grass = syn.generate(np.full((64, 64), 6, np.uint8), z)
    water = syn.generate(np.full((64, 64), 5, np.uint8), z)
    assert np.abs(grass.astype(int) - water.astype(int)).mean() > 2.0


def test_batch_of_variants(syn: Synthesizer) -> None:
    lab = scene(64, 64)
    zs = np.stack([syn.sample_noise(64, 64, seed=s) for s in (1, 2, 3)])
    batch = syn.generate(lab, zs)
    assert batch.shape == (3, 64, 64, 3)
    for i, seed in enumerate((1, 2, 3)):
        single = syn.generate(lab, syn.sample_noise(64, 64, seed=seed))
        assert np.abs(batch[i].astype(int) - single.astype(int)).max() <= 1  # batched convs may round differently


def test_reroll_changes_the_image_inside_the_region_much_more_than_far_from_it(syn: Synthesizer) -> None:
    lab = scene()
    z = syn.sample_noise(SIZE, SIZE, seed=1)
    y0, y1, x0, x1 = 96, 160, 96, 160
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y0:y1, x0:x1] = True
    margin = 48  # "far": more than 48 px from the region (the generator's receptive field is wide, not global)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    far = ~((yy >= y0 - margin) & (yy < y1 + margin) & (xx >= x0 - margin) & (xx < x1 + margin))

    before = syn.generate_tensor(lab, z)[0].numpy()
    inside, outside = [], []
    for seed in (100, 101, 102):
        z2 = syn.reroll(z, mask, seed=seed)
        d2, d = np.asarray(z2), np.asarray(z)
        assert np.array_equal(d2[:, ~mask], d[:, ~mask])  # noise outside the mask: bit-identical
        assert not np.array_equal(d2[:, mask], d[:, mask])
        diff = np.abs(syn.generate_tensor(lab, z2)[0].numpy() - before).mean(0)
        inside.append(diff[mask].mean())
        outside.append(diff[far].mean())
    ratio = float(np.mean(inside) / np.mean(outside))
    # measured with the tiny model of conftest.py: inside 0.280, far outside 0.042 -> ratio 6.8
    print(f"reroll: mean |change| inside {np.mean(inside):.3f}, far outside {np.mean(outside):.3f}, ratio {ratio:.1f}")
    assert np.mean(inside) > 0.1
    assert ratio > 4.0


def test_reroll_strength_zero_changes_nothing(syn: Synthesizer) -> None:
    field = syn.sample_noise(64, 64, seed=1)
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    z = np.asarray(field)
    assert np.array_equal(syn.reroll(field, mask, seed=3, strength=0.0), z)
    half = np.asarray(syn.reroll(field, mask, seed=3, strength=0.5))
    assert np.array_equal(half[:, ~mask], z[:, ~mask])
    full = np.asarray(syn.reroll(field, mask, seed=3, strength=1.0))
    np.testing.assert_allclose(half[:, mask], np.sqrt(0.5) * (z[:, mask] + full[:, mask]), rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_refused_clearly(syn: Synthesizer) -> None:
    z = syn.sample_noise(64, 64, seed=0)
    bad = np.full((64, 64), 3, np.uint8)
    bad[0, 0], bad[5, 5] = 12, 40
    with pytest.raises(LabelError, match=r"label values 12, 40 .*'landscapes'.*valid values: 0\.\.9"):
        syn.generate(bad, z)
    with pytest.raises(ValueError, match=r"multiples of 32; 50x64 is not"):
        syn.generate(np.zeros((50, 64), np.uint8), np.zeros((16, 50, 64), np.float32), pad=False)
    with pytest.raises(ValueError, match=r"noise must be \(16, 64, 64\)"):
        syn.generate(np.zeros((64, 64), np.uint8), np.zeros((8, 64, 64), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        syn.generate(np.zeros((1, 64, 64), np.uint8), z)


def test_segment_a_photo(syn: Synthesizer) -> None:
    photo = syn.generate(scene(64, 64), syn.sample_noise(64, 64, seed=2))
    photo = np.ascontiguousarray(np.repeat(photo, 2, axis=1)[:50])  # any size: resized for the discriminator
    result = syn.segment(photo)
    assert result.labels.shape == result.confidence.shape == result.fake.shape == (50, 128)
    assert set(np.unique(result.labels)) <= set(syn.label_space.valid_values())
    assert result.confidence.min() >= 0 and result.confidence.max() <= 1
    assert result.fake.min() >= 0 and result.fake.max() <= 1
    flipped = syn.segment(photo, flip=True)
    assert flipped.labels.shape == (50, 128)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        syn.segment(photo.astype(np.float32))


def test_discriminate_is_the_exact_numeric_path(syn: Synthesizer) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, (3, 64, 128)).astype(np.float32)
    logits = syn.discriminate(x)
    assert logits.shape == (1, 11, 64, 128)
    with torch.no_grad():
        assert torch.equal(logits, syn.discriminator(torch.from_numpy(x)[None]))
    with pytest.raises(ValueError, match="multiples of 64"):
        syn.discriminate(x[:, :32])


def test_device_and_dtype_choices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cpu")) in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        resolve_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_bf16_generation_is_close_to_fp32(tiny_model_file: Path, syn: Synthesizer) -> None:
    bf16 = Synthesizer.load(tiny_model_file, device="cpu", dtype="bf16")
    lab, z = scene(64, 64), syn.sample_noise(64, 64, seed=4)
    diff = (bf16.generate_tensor(lab, z) - syn.generate_tensor(lab, z)).abs().mean().item()
    assert diff < 0.05
