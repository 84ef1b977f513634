"""The fast path behind ``Synthesizer``: same images as the eager module, batched variants from seeds, rerolls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from oasis_core.runtime import cpu_supports_bf16
from oasis_core.synthesizer import Synthesizer


def scene(h: int, w: int) -> np.ndarray:
    lab = np.zeros((h, w), np.uint8)  # sky
    lab[h * 40 // 100 :, :] = 6  # grass
    lab[h * 62 // 100 :, w * 30 // 100 : w * 78 // 100] = 5  # water
    lab[h * 20 // 100 : h * 45 // 100, w * 55 // 100 :] = 2  # mountain
    return lab


@pytest.fixture
def pair(tiny_model_file: Path) -> tuple[Synthesizer, Synthesizer]:
    fast = Synthesizer(Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32").model, "cpu", "fp32", fast=True)
    eager = Synthesizer(fast.model, "cpu", "fp32", fast=False)
    return fast, eager


def test_fast_is_the_default_and_matches_the_eager_module(pair) -> None:
    fast, eager = pair
    assert fast.fast_generator is not None and fast.fast_reason is None
    assert eager.fast_generator is None and eager.fast_reason == "disabled"
    lab = scene(64, 96)
    z = fast.sample_noise(64, 96, seed=3)
    mask = np.zeros((64, 96), bool)
    mask[10:40, 30:80] = True
    for noise in (z, fast.reroll(z, mask, seed=4, strength=0.7), fast.reroll(z, lab == 5, seed=5)):
        diff = float((fast.generate_tensor(lab, noise) - eager.generate_tensor(lab, noise)).abs().max())
        assert diff <= 1e-3
    assert np.array_equal(fast.generate(lab, z), fast.generate(lab, z))  # repeatable (plan cache)


def test_generate_variants_from_seeds_and_fields(pair) -> None:
    fast, eager = pair
    lab = scene(64, 64)
    seeds = [1, 2, 3, 4]
    batch = fast.generate_variants(lab, seeds=seeds)
    assert batch.shape == (4, 64, 64, 3) and batch.dtype == np.uint8
    for i, s in enumerate(seeds):
        single = eager.generate(lab, eager.sample_noise(64, 64, seed=s))
        assert np.abs(batch[i].astype(int) - single.astype(int)).max() <= 1
    fields = [fast.sample_noise(64, 64, seed=s) for s in seeds]
    assert np.abs(fast.generate_variants(lab, noises=fields).astype(int) - batch.astype(int)).max() <= 1
    assert np.array_equal(eager.generate_variants(lab, seeds=seeds[:2]), eager.generate(lab, np.stack(fields[:2])))
    with pytest.raises(ValueError, match="either seeds or noises"):
        fast.generate_variants(lab)
    with pytest.raises(ValueError, match="either seeds or noises"):
        fast.generate_variants(lab, seeds=[1], noises=fields)


def test_load_caches_per_fast_flag(tiny_model_file: Path) -> None:
    a = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")
    b = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32", fast=False)
    assert a is not b and a.fast_generator is not None and b.fast_generator is None
    assert Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32", fast=False) is b


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_bf16_synthesizer_close_to_fp32(tiny_model_file: Path, pair) -> None:
    _, eager = pair
    syn = Synthesizer.load(tiny_model_file, device="cpu", dtype="bf16")
    assert syn.dtype == torch.bfloat16 and syn.fast_generator is not None
    lab = scene(64, 96)
    z = syn.sample_noise(64, 96, seed=8)
    a, b = syn.generate_tensor(lab, z), eager.generate_tensor(lab, z)
    assert float(10 * torch.log10(4.0 / ((a - b) ** 2).mean())) >= 30.0


def test_reroll_is_bit_identical_to_noise_ops(pair) -> None:
    """Synthesizer.reroll blends inside the mask only; the numbers must be noise_ops.reroll's, bit for bit."""
    from oasis_core import noise as noise_ops

    syn = pair[0]
    rng = np.random.default_rng(0)
    base = syn.sample_noise(32, 64, seed=1)
    dense = np.asarray(base)
    # the compact field (rerolled on its vectors and id map) and dense arrays (rerolled inside the mask)
    fields = [base, dense, rng.standard_normal(base.shape).astype(np.float32), np.stack([dense, dense * 0.5])]
    for i, z in enumerate(fields):
        mask = rng.random((32, 64)) < 0.3
        cases = ((0.0, 0, "smooth"), (0.4, 0, "smooth"), (1.0, 0, "smooth"), (0.7, 6, "smooth"), (1.0, 12, "smooth"),
                 (1.0, 12, "steps"))  # soft borders too, of both forms  # fmt: skip
        for strength, feather, ramp in cases:
            got = np.asarray(syn.reroll(z, mask, seed=i, strength=strength, feather=feather, ramp=ramp))
            want = noise_ops.reroll(torch.from_numpy(np.array(z)), torch.from_numpy(mask), i, strength, feather, ramp)
            assert got.shape == want.shape and np.array_equal(got.view(np.int32), want.numpy().view(np.int32))
    with pytest.raises(ValueError, match="strength"):
        syn.reroll(base, np.ones((32, 64), bool), seed=1, strength=2.0)
    for z in (base, dense):  # checked on every path, a hard edge too
        with pytest.raises(ValueError, match="unknown soft border ramp"):
            syn.reroll(z, np.ones((32, 64), bool), seed=1, feather=0, ramp="linear")


def test_compact_fields_match_dense_fields_through_a_chain_of_rerolls(pair) -> None:
    """Noise from sample_noise/reroll is a NoiseField (vectors + id map); the same rerolls on its dense copy must
    give the same fields bit for bit and the same images, through a chain of overlapping rerolls."""
    from oasis_core.noise import NoiseField

    syn = pair[0]
    lab = scene(64, 96)
    z = syn.sample_noise(64, 96, seed=11)
    assert isinstance(z, NoiseField) and z.num_vectors == 1 and z.ids is None
    copy = np.array(z)
    a = np.zeros((64, 96), bool)
    a[5:40, 10:60] = True
    b = lab == 6
    for i, (mask, strength) in enumerate(((a, 1.0), (b, 0.5), (a & b, 0.3), (np.zeros_like(a), 1.0))):
        z, copy = syn.reroll(z, mask, seed=20 + i, strength=strength), syn.reroll(copy, mask, 20 + i, strength)
        assert isinstance(z, NoiseField) and isinstance(copy, np.ndarray)
        assert np.array_equal(np.asarray(z).view(np.int32), copy.view(np.int32)), i
        assert z.num_vectors <= 2 ** (i + 1)  # each covered vector gets one successor
        assert np.array_equal(syn.generate(lab, z), syn.generate(lab, copy)), i
    # a field stays compact: a few vectors and an id map, not the dense 64-channel field
    assert z.nbytes < np.asarray(z).nbytes / 4
