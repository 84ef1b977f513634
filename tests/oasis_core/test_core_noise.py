"""Noise fields: seeded sampling, replication, blending with a strength, masked and per-class resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oasis_core import noise as noise_ops


def test_seeded_sampling_is_deterministic_and_seed_dependent() -> None:
    a = noise_ops.sample_vector(64, 123)
    assert a.shape == (64,) and a.dtype == torch.float32
    assert torch.equal(a, noise_ops.sample_vector(64, 123))
    assert not torch.equal(a, noise_ops.sample_vector(64, 124))
    # an explicit generator continues its own stream; the global RNG plays no part
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(123)
    first, second = noise_ops.sample_vector(64, g), noise_ops.sample_vector(64, g)
    assert torch.equal(first, a) and not torch.equal(second, a)
    torch.manual_seed(999)
    assert torch.equal(noise_ops.sample_vector(64, 123), a)


def test_large_and_negative_seeds_are_accepted() -> None:
    assert not torch.equal(noise_ops.sample_vector(8, 2**40), noise_ops.sample_vector(8, 2**40 + 1))
    assert torch.equal(noise_ops.sample_vector(8, -1), noise_ops.sample_vector(8, -1))
    with pytest.raises(TypeError, match="seed must be an int"):
        noise_ops.sample_vector(8, 1.5)  # type: ignore[arg-type]


def test_batch_vectors_and_replication() -> None:
    zs = noise_ops.sample_vectors(3, 16, 7)
    assert zs.shape == (3, 16) and not torch.equal(zs[0], zs[1])
    field = noise_ops.replicate(zs, 4, 5)
    assert field.shape == (3, 16, 4, 5) and field.is_contiguous()
    assert torch.equal(field[:, :, 2, 3], zs)
    single = noise_ops.sample_field(16, 4, 5, 7)
    assert single.shape == (16, 4, 5)
    assert torch.equal(single, noise_ops.replicate(noise_ops.sample_vector(16, 7), 4, 5))
    assert (single == single[:, :1, :1]).all()  # one vector everywhere, as in the paper


def test_blend_formula_and_its_end_points() -> None:
    old = noise_ops.sample_vector(1000, 1)
    new = noise_ops.sample_vector(1000, 2)
    assert torch.equal(noise_ops.blend(old, new, 0.0), old)
    assert torch.equal(noise_ops.blend(old, new, 1.0), new)
    s = 0.3
    want = math.cos(s * math.pi / 2) * old + math.sin(s * math.pi / 2) * new
    torch.testing.assert_close(noise_ops.blend(old, new, s), want)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"strength must be in \[0, 1\]"):
            noise_ops.blend(old, new, bad)


@pytest.mark.parametrize("strength", [0.25, 0.5, 0.75])
def test_blend_keeps_unit_variance(strength: float) -> None:
    old = torch.randn(200_000, generator=torch.Generator().manual_seed(1))
    new = torch.randn(200_000, generator=torch.Generator().manual_seed(2))
    mixed = noise_ops.blend(old, new, strength)
    assert abs(mixed.var().item() - 1.0) < 0.02
    # a plain linear mix would lose variance in the middle: (1-s)^2 + s^2 = 0.5 at s = 0.5
    assert abs(((1 - strength) * old + strength * new).var().item() - 1.0) > 0.1


def test_resample_in_mask_touches_only_the_mask() -> None:
    noise = noise_ops.sample_field(8, 16, 16, 1)
    new = noise_ops.sample_field(8, 16, 16, 2)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:9, 2:12] = True
    out = noise_ops.resample_in_mask(noise, mask, new, 1.0)
    assert torch.equal(out[:, ~mask], noise[:, ~mask])
    assert torch.equal(out[:, mask], new[:, mask])
    half = noise_ops.resample_in_mask(noise, mask, new, 0.5)
    assert torch.equal(half[:, ~mask], noise[:, ~mask])
    torch.testing.assert_close(half[:, mask], noise_ops.blend(noise, new, 0.5)[:, mask])
    with pytest.raises(ValueError, match="does not match the noise size"):
        noise_ops.resample_in_mask(noise, mask[:8], new)
    with pytest.raises(ValueError, match="noise shapes differ"):
        noise_ops.resample_in_mask(noise, mask, new[:4])


def test_reroll_is_seeded_and_leaves_the_outside_bit_identical() -> None:
    noise = noise_ops.sample_field(16, 32, 32, 1)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[10:20, 5:25] = True
    a = noise_ops.reroll(noise, mask, seed=5)
    assert torch.equal(a, noise_ops.reroll(noise, mask, seed=5))
    assert not torch.equal(a, noise_ops.reroll(noise, mask, seed=6))
    assert torch.equal(a[:, ~mask], noise[:, ~mask])
    assert torch.equal(a[:, mask], noise_ops.sample_vector(16, 5)[:, None].expand(16, int(mask.sum())))
    # a batch of fields: the same new vector in every variant, the outside unchanged
    batch = noise_ops.replicate(noise_ops.sample_vectors(2, 16, 9), 32, 32)
    b = noise_ops.reroll(batch, mask, seed=5)
    assert torch.equal(b[:, :, ~mask], batch[:, :, ~mask])
    assert torch.equal(b[0][:, mask], a[:, mask]) and torch.equal(b[1][:, mask], a[:, mask])
    # strength 0 changes nothing anywhere
    assert torch.equal(noise_ops.reroll(noise, mask, seed=5, strength=0.0), noise)


def test_reroll_per_class_gives_each_class_its_own_vector() -> None:
    channels = torch.zeros(24, 24, dtype=torch.long)
    channels[:, 8:16] = 1
    channels[:, 16:] = 2
    noise = noise_ops.sample_field(8, 24, 24, 0)
    out = noise_ops.reroll_per_class(noise, channels, [1, 2], seed=3)
    assert torch.equal(out[:, channels == 0], noise[:, channels == 0])
    v1, v2 = out[:, 0, 8], out[:, 0, 16]
    assert (out[:, channels == 1] == v1[:, None]).all()
    assert (out[:, channels == 2] == v2[:, None]).all()
    assert not torch.equal(v1, v2) and not torch.equal(v1, noise[:, 0, 8])
    assert torch.equal(out, noise_ops.reroll_per_class(noise, channels, [1, 2], seed=3))
    # a class absent from the map changes nothing
    assert torch.equal(noise_ops.reroll_per_class(noise, channels, [7], seed=3), noise)


def test_feather_rings_ramp_the_strength_up_from_the_edge() -> None:
    mask = torch.zeros(40, 60, dtype=torch.bool)
    mask[4:36, 0:50] = True  # touches the image's left border: that side is no edge
    rings = noise_ops.feather_rings(mask, 8, "steps")
    assert [f for _, f in rings] == [0.25, 0.5, 0.75, 1.0]
    union = torch.zeros_like(mask)
    for ring, _ in rings:
        assert not (union & ring).any()  # disjoint
        union |= ring
    assert torch.equal(union, mask)
    frac = torch.zeros(40, 60)
    for ring, f in rings:
        frac[ring] = f
    assert frac[4, 25] == 0.25 and frac[5, 25] == 0.25 and frac[6, 25] == 0.5 and frac[20, 25] == 1.0  # top edge
    assert frac[20, 0] == 1.0  # at the image border: full strength
    assert noise_ops.feather_rings(mask, 0) == [(mask, 1.0)]
    with pytest.raises(ValueError, match="soft border"):
        noise_ops.feather_rings(mask, noise_ops.MAX_FEATHER + 1)
    with pytest.raises(ValueError, match="unknown soft border ramp"):
        noise_ops.feather_rings(mask, 8, "linear")


def test_the_smooth_ramp_rises_along_a_smoothstep_in_up_to_16_steps() -> None:
    """The default: one step per px on narrow borders, at most 16; the fractions follow 3t^2 - 2t^3 (small steps at
    the edge, where a seam would show), strictly rising to the full strength; a 1-px border is a hard edge."""
    assert noise_ops.DEFAULT_RAMP == "smooth"
    for width, count in ((2, 2), (5, 5), (16, 16), (24, 16), (256, 16)):
        steps = noise_ops.ramp_levels(width)
        assert len(steps) == count and steps[0][0] == 0 and steps[-1][1] == 1.0
        starts, fractions = zip(*steps)
        assert all(a < b for a, b in zip(starts, starts[1:])) and starts[-1] < width  # no empty band
        assert all(a < b for a, b in zip(fractions, fractions[1:]))
        t = [(k + 1) / count for k in range(count - 1)]
        assert fractions[:-1] == pytest.approx([x * x * (3 - 2 * x) for x in t])
    assert noise_ops.ramp_levels(1) == noise_ops.ramp_levels(0) == [(0, 1.0)]
    assert noise_ops.ramp_levels(24)[0][1] < 0.02 < noise_ops.ramp_levels(24, "steps")[0][1]  # a gentle first step
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[8:56, 8:56] = True
    rings = noise_ops.feather_rings(mask, 24)
    assert [f for _, f in rings] == [f for _, f in noise_ops.ramp_levels(24)]
    assert rings[0][0][8, 20] and rings[-1][0][32, 32]  # the edge in the first ring, the centre at full strength


@pytest.mark.parametrize("ramp", ["smooth", "steps"])
@pytest.mark.parametrize("width", [3, 24, 48])
def test_feather_rings_follow_the_chessboard_distance_to_the_edge(width: int, ramp: str) -> None:
    """Each ring is the pixels whose chessboard distance to the nearest outside pixel (the image border is no edge)
    falls in its band: checked against scipy's distance transform on a clean box touching the border (every band
    filled, up to 36 px in) and on a ragged mask (specks and holes), and the rings cover the mask."""
    ndimage = pytest.importorskip("scipy.ndimage")

    g = torch.Generator().manual_seed(7)
    box = torch.zeros(160, 200, dtype=torch.bool)
    box[20:150, 0:170] = True
    ragged = box ^ (torch.rand(160, 200, generator=g) > 0.97)
    steps = noise_ops.ramp_levels(width, ramp)
    bounds = [start for start, _ in steps[1:]]
    for mask in (box, ragged):
        # distance to the nearest outside pixel; padding with "inside" keeps the image border from being an edge
        padded = np.pad(mask.numpy(), 300, constant_values=True)
        dist = torch.from_numpy(ndimage.distance_transform_cdt(padded, metric="chessboard")[300:-300, 300:-300])
        rings = noise_ops.feather_rings(mask, width, ramp)
        if mask is box:  # on the clean box only bands of zero width are empty (e.g. two bounds that round alike)
            assert len(rings) == 1 + sum(b > a for a, b in zip([0, *bounds], bounds))
        union = torch.zeros_like(mask)
        for ring, fraction in rings:
            k = 1 + [f for _, f in steps].index(fraction)  # ring k: distance in (bound k-1, bound k]
            lo = bounds[k - 2] if k >= 2 else 0
            hi = bounds[k - 1] if k <= len(bounds) else 10**6
            assert torch.equal(ring, mask & (dist > lo) & (dist <= hi)), (width, fraction)
            union |= ring
        assert torch.equal(union, mask)


def test_soft_reroll_blends_in_steps_and_keeps_the_outside() -> None:
    z = noise_ops.sample_field(8, 40, 60, seed=1)
    mask = torch.zeros(40, 60, dtype=torch.bool)
    mask[10:30, 10:50] = True
    hard = noise_ops.reroll(z, mask, seed=5, strength=1.0)
    for ramp in noise_ops.FEATHER_RAMPS:
        soft = noise_ops.reroll(z, mask, seed=5, strength=1.0, feather=8, ramp=ramp)
        assert torch.equal(soft[:, ~mask], z[:, ~mask])
        assert torch.equal(soft[:, 20, 30], hard[:, 20, 30])  # the core gets the new vector
        steps = noise_ops.ramp_levels(8, ramp)
        edge = noise_ops.blend(z[:, 10, 30], hard[:, 20, 30], steps[0][1])
        assert torch.allclose(soft[:, 10, 30], edge)  # the edge: the first step of the way
        assert len(torch.unique(soft.reshape(8, -1).t(), dim=0)) == 1 + len(steps)  # piecewise constant
    assert noise_ops.ramp_levels(8, "steps")[0][1] == 0.25
    assert torch.equal(noise_ops.reroll(z, mask, 5, 1.0, feather=0), hard)


# ----------------------------------------------------------------------------------------------- NoiseField
def test_noise_field_is_the_dense_functions_numbers_in_compact_form() -> None:
    from oasis_core.noise import NoiseField

    rng = np.random.default_rng(3)
    field = NoiseField.sample(8, 24, 40, seed=4)
    dense = noise_ops.sample_field(8, 24, 40, seed=4)
    assert torch.equal(field.dense(), dense) and field.shape == (8, 24, 40) and field.ids is None
    cases = ((1.0, 0, "smooth"), (0.5, 0, "smooth"), (0.8, 6, "smooth"), (1.0, 10, "steps"), (0.0, 0, "smooth"))
    for step, (strength, feather, ramp) in enumerate(cases):
        mask = torch.from_numpy(rng.random((24, 40)) < 0.4) if step % 2 else torch.zeros(24, 40, dtype=torch.bool)
        if not step % 2:
            mask[3 + step : 15 + step, 5:30] = True
        field = field.reroll(mask, 10 + step, strength, feather, ramp)
        dense = noise_ops.reroll(dense, mask, 10 + step, strength, feather, ramp)
        assert torch.equal(field.dense().view(torch.int32), dense.view(torch.int32)), step
        assert np.array_equal(np.asarray(field), dense.numpy())
        # compact: every vector used by some pixel, no two equal
        assert int(field.id_map().max()) + 1 == field.num_vectors
        assert torch.unique(field.vectors.view(torch.int32), dim=0).shape[0] == field.num_vectors
    assert field.nbytes < dense.numel() * 4


def test_noise_field_pads_like_the_label_map_and_crops_back() -> None:
    from oasis_core.noise import NoiseField

    mask = torch.zeros(20, 30, dtype=torch.bool)
    mask[12:, 25:] = True  # touches the bottom-right corner: padding must replicate it
    field = NoiseField.sample(4, 20, 30, seed=1).reroll(mask, 2)
    padded = field.pad(12, 2)
    want = np.pad(np.asarray(field), ((0, 0), (0, 12), (0, 2)), mode="edge")
    assert padded.shape == (4, 32, 32) and np.array_equal(np.asarray(padded), want)
    assert np.array_equal(np.asarray(padded.crop(20, 30)), np.asarray(field))
    assert padded.crop(10, 10).num_vectors == 1  # the corner's vector is gone with the corner
    one = NoiseField.sample(4, 5, 7, seed=3)
    assert one.pad(3, 1).ids is None and one.pad(3, 1).shape == (4, 8, 8)


def test_noise_field_refuses_what_does_not_fit() -> None:
    from oasis_core.noise import NoiseField

    field = NoiseField.sample(4, 8, 8, seed=0)
    with pytest.raises(ValueError, match="does not match the noise size"):
        field.reroll(np.ones((8, 9), bool), 1)
    with pytest.raises(ValueError, match="strength"):
        field.reroll(np.ones((8, 8), bool), 1, strength=1.5)
    with pytest.raises(ValueError, match="id map"):
        NoiseField(torch.zeros(2, 4), None, 8, 8)
    with pytest.raises(ValueError, match="cannot crop"):
        field.crop(9, 8)
    with pytest.raises(ValueError, match="non-negative"):
        field.pad(-1, 0)
