"""The fast inference path (``oasis_core.fast``) against the eager generator on seeded weights.

fp32 must match the eager ``Generator`` to max abs diff <= 1e-3 (in practice ~1e-5), bf16 to PSNR >= 30 dB, for any
config, size (multiple of 32, not only square), batch and noise field: one replicated vector, rerolled regions
(nested, blended) and per-pixel random noise (the dense fallback).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oasis_core import noise as noise_ops
from oasis_core.config import GeneratorConfig
from oasis_core.fast import FastGenerator, NoiseLayout, analyse_noise, fast_supported
from oasis_core.nn import Generator
from oasis_core.nn.spectral import init_unit_gain

FP32_TOL = 1e-3
BF16_PSNR = 30.0
BATCH_TOL = 1e-4  # a batch may round differently from single images (other matmul and conv blockings)

LITE = GeneratorConfig(semantic_nc=12, ch=16, spade_hidden=32, z_dim=64)
# three blocks, instance norm and no noise channels: the unusual corners of the config space
ODD = GeneratorConfig(semantic_nc=7, ch=4, spade_hidden=8, z_dim=0, norm="instance", multipliers=(4, 2, 1))
# batch norm with a learned shortcut in the first block: the fused shortcut pass without an upsampling
SHORT = GeneratorConfig(semantic_nc=7, ch=8, spade_hidden=8, z_dim=16, multipliers=(4, 2, 1))
# bilinear upsampling between blocks (an ablation of the model-quality work): a pass of its own
BILINEAR = GeneratorConfig(semantic_nc=12, ch=16, spade_hidden=32, z_dim=64, upsample="bilinear")


def seeded(config: GeneratorConfig, seed: int = 0) -> Generator:
    """Eval-mode generator with unit-gain random weights and non-trivial BN statistics (outputs not saturated)."""
    return init_unit_gain(Generator(config, spectral_norm=False), seed).eval()


def painted(h: int, w: int, n: int, seed: int = 0) -> torch.Tensor:
    """A painted-looking label map (channels): a wavy horizon, a lake and a few blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.zeros((h, w), np.int64)
    lab[yy > h * 0.45 + 0.06 * h * np.sin(xx / w * 9.0 + rng.uniform(0, 6))] = 1 % n
    lab[((xx - w * 0.6) / (w * 0.25)) ** 2 + ((yy - h * 0.75) / (h * 0.1)) ** 2 < 1] = 2 % n
    for k in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.15) * min(h, w)
        lab[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = (3 + k) % n
    return torch.from_numpy(lab)


def eager(g: Generator, channels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    onehot = torch.nn.functional.one_hot(channels, g.config.semantic_nc).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        return g(onehot.expand(noise.shape[0], -1, -1, -1), noise)


def noise_fields(z_dim: int, h: int, w: int, channels: torch.Tensor) -> dict[str, torch.Tensor]:
    base = noise_ops.sample_field(z_dim, h, w, 1)
    box = torch.zeros(h, w, dtype=torch.bool)
    box[h // 4 : h // 2, w // 3 :] = True
    rerolled = noise_ops.reroll(base, box, 2, strength=0.6)  # blend inside a box
    rerolled = noise_ops.reroll(rerolled, channels == 1, 3, strength=1.0)  # a class, overlapping the box
    return {
        "replicated": base[None],
        "rerolled": rerolled[None],
        "random": torch.randn(1, z_dim, h, w, generator=torch.Generator().manual_seed(4)),
    }


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4.0 / ((a - b) ** 2).mean()))


@pytest.mark.parametrize("which", ["tiny", "lite", "odd", "short", "bilinear"])
@pytest.mark.parametrize("size", [(64, 96), (96, 32)])
def test_fp32_matches_eager(which: str, size: tuple[int, int], tiny_configs) -> None:
    config = {"tiny": tiny_configs[0], "lite": LITE, "odd": ODD, "short": SHORT, "bilinear": BILINEAR}[which]
    g = seeded(config, seed=3)
    h, w = size
    channels = painted(h, w, config.semantic_nc)
    fast = FastGenerator(g, torch.float32)
    for name, z in noise_fields(config.z_dim, h, w, channels).items():
        want = eager(g, channels, z)
        got = fast(channels, z)
        assert got.shape == want.shape and got.dtype == torch.float32
        diff = float((got - want).abs().max())
        assert diff <= FP32_TOL, f"{which} {size} {name}: max abs diff {diff:.2e}"
        assert float(want.std()) > 0.05  # the comparison is not between two saturated images


def test_noise_kinds_take_the_expected_paths() -> None:
    g = seeded(LITE)
    h, w = 64, 64
    channels = painted(h, w, LITE.semantic_nc)
    fast = FastGenerator(g, torch.float32)
    fields = noise_fields(LITE.z_dim, h, w, channels)
    fast(channels, fields["replicated"])
    fast(channels, fields["rerolled"])
    assert fast.stats["dense"] == 0
    fast(channels, fields["random"])
    assert fast.stats["dense"] == 1


def test_small_chunks_and_unfused_shortcuts_give_the_same_images(monkeypatch) -> None:
    """The fused passes in many small chunks (the last one short), and with the 1x1 shortcuts run as convolutions
    outside the fused pass, must give the eager images (and each other's), for one image and a batch."""
    import oasis_core.fast.generator as fast_module

    g = seeded(LITE, seed=7)
    h, w = 96, 64
    channels = painted(h, w, LITE.semantic_nc, seed=3)
    fields = noise_fields(LITE.z_dim, h, w, channels)
    batch = torch.cat([fields["replicated"], fields["rerolled"]])
    want = eager(g, channels, batch)
    fused = FastGenerator(g, torch.float32)(channels, batch)
    monkeypatch.setattr(fast_module, "_CHUNK_VALUES", 3200)  # 100-pixel chunks at 32 channels: the last one short
    small = FastGenerator(g, torch.float32)
    assert float((small(channels, batch) - want).abs().max()) <= FP32_TOL
    assert float((small(channels, batch[1:]) - want[1:]).abs().max()) <= FP32_TOL
    unfused = FastGenerator(g, torch.float32)
    n = 0
    for lvl, block in zip(unfused.levels, g.body):
        if lvl.w_s is not None:
            lvl.w_s, lvl.conv_s = None, fast_module._Conv(block.conv_s.weight, None, torch.float32, torch.device("cpu"))
            n += 1
    assert n >= 3  # the lite config has 1x1 shortcuts in its last four blocks
    assert float((unfused(channels, batch) - fused).abs().max()) <= 5e-5  # float reassociation only (AVX2: 1.1e-5)


def test_bf16_psnr(tiny_configs) -> None:
    for config in (tiny_configs[0], LITE):
        g = seeded(config, seed=5)
        channels = painted(64, 128, config.semantic_nc, seed=2)
        fast = FastGenerator(g, torch.bfloat16)
        for name, z in noise_fields(config.z_dim, 64, 128, channels).items():
            value = psnr(fast(channels, z), eager(g, channels, z))
            assert value >= BF16_PSNR, f"{name}: PSNR {value:.1f} dB"


def test_vectors_that_share_the_hashed_channels_are_told_apart() -> None:
    """Two vectors equal in the channels the grouping hashes but not elsewhere: the exact check must catch it."""
    g = seeded(LITE)
    h, w = 64, 64
    channels = painted(h, w, LITE.semantic_nc)
    v = noise_ops.sample_vector(LITE.z_dim, 1)
    v2 = v.clone()
    v2[40] += 1.0
    z = noise_ops.replicate(v, h, w)
    z[:, :, w // 2 :] = v2[:, None, None]
    layout = analyse_noise(z[None])
    assert layout is None or layout.vectors[0].shape[0] == 2
    diff = float((FastGenerator(g)(channels, z[None]) - eager(g, channels, z[None])).abs().max())
    assert diff <= FP32_TOL


def test_non_finite_noise_goes_dense_and_matches() -> None:
    g = seeded(LITE)
    channels = painted(32, 32, LITE.semantic_nc)
    z = noise_ops.sample_field(LITE.z_dim, 32, 32, 1)[None]
    z[0, 3, 5, 7] = float("nan")
    assert analyse_noise(z) is None
    got, want = FastGenerator(g)(channels, z), eager(g, channels, z)
    assert torch.equal(got.isnan(), want.isnan())


def test_cache_repeats_exactly_and_follows_label_edits() -> None:
    g = seeded(LITE)
    h, w = 64, 96
    channels = painted(h, w, LITE.semantic_nc)
    z = noise_ops.sample_field(LITE.z_dim, h, w, 7)[None]
    fast = FastGenerator(g, torch.float32)
    first = fast(channels, z)
    assert torch.equal(fast(channels, z), first)  # second call: plan from the cache
    assert fast.stats == {"plan_hits": 1, "plan_misses": 1, "dense": 0, "plan_updates": 0, "level_updates": 0}

    edited = channels.clone()
    edited[10:30, 20:50] = 9  # a stroke of a new class
    got = fast(edited, z)
    assert fast.stats["plan_misses"] == 2
    assert not torch.equal(got, first)
    assert float((got - eager(g, edited, z)).abs().max()) <= FP32_TOL
    assert torch.equal(FastGenerator(g, torch.float32)(edited, z), got)  # same as a fresh fast generator
    assert torch.equal(fast(channels, z), first)  # and the first map still gives its image

    # a caller-supplied label key must name the labels: the same key with other labels is the caller's bug, but a
    # different key per map always works
    assert torch.equal(fast(edited, z, label_key=b"edited"), got)


def test_new_noise_values_reuse_the_plan_but_not_the_image() -> None:
    g = seeded(LITE)
    channels = painted(64, 64, LITE.semantic_nc)
    fast = FastGenerator(g, torch.float32)
    a = fast(channels, noise_ops.sample_field(LITE.z_dim, 64, 64, 1)[None])
    b = fast(channels, noise_ops.sample_field(LITE.z_dim, 64, 64, 2)[None])
    assert fast.stats["plan_misses"] == 1 and fast.stats["plan_hits"] == 1
    assert float((a - b).abs().mean()) > 0.01


@pytest.mark.parametrize("cores", [1, 2])
def test_batch_of_variants_equals_one_at_a_time(cores: int) -> None:
    g = seeded(LITE)
    h, w = 64, 96
    channels = painted(h, w, LITE.semantic_nc)
    fields = noise_fields(LITE.z_dim, h, w, channels)
    vectors = noise_ops.sample_vectors(3, LITE.z_dim, 11)
    batch_fields = torch.cat([noise_ops.replicate(vectors, h, w), fields["rerolled"], fields["random"]])
    fast = FastGenerator(g, torch.float32, cores=cores)
    one = torch.cat([fast(channels, z[None]) for z in batch_fields])
    # mixed batch (one image with random noise: the whole batch goes dense)
    assert float((fast(channels, batch_fields) - one).abs().max()) <= BATCH_TOL
    # replicated + rerolled: planned
    assert float((fast(channels, batch_fields[:4]) - one[:4]).abs().max()) <= BATCH_TOL
    # seeds only: the layout is known, the field never built
    got = fast(channels, NoiseLayout.replicated(vectors))
    assert float((got - one[:3]).abs().max()) <= BATCH_TOL


def test_small_workspace_splits_the_batch() -> None:
    g = seeded(LITE)
    channels = painted(64, 64, LITE.semantic_nc)
    vectors = noise_ops.sample_vectors(3, LITE.z_dim, 1)
    big = FastGenerator(g, torch.float32, cores=1)
    small = FastGenerator(g, torch.float32, cores=1, workspace_mb=0)
    want = big(channels, NoiseLayout.replicated(vectors))
    assert float((small(channels, NoiseLayout.replicated(vectors)) - want).abs().max()) <= BATCH_TOL


def test_inputs_are_checked() -> None:
    g = seeded(LITE)
    fast = FastGenerator(g)
    z = noise_ops.sample_field(LITE.z_dim, 64, 64, 1)
    with pytest.raises(ValueError, match="multiples of 32"):
        fast(torch.zeros(40, 64, dtype=torch.long), z[:, :40])
    with pytest.raises(ValueError, match="noise must be"):
        fast(torch.zeros(64, 64, dtype=torch.long), z[:5])
    with pytest.raises(ValueError, match="label channels"):
        fast(torch.full((64, 64), 12), z)
    g.train()
    assert fast_supported(g) == "the generator is in training mode"
    with pytest.raises(ValueError, match="training mode"):
        FastGenerator(g)


def test_pipelined_tables_give_the_same_images() -> None:
    """One image on a 2-core generator builds its tables on the spare core beside the trunk: the result must be
    bit-identical to building them inline (1 core), for a cached and an uncached plan."""
    g = seeded(LITE, seed=5)
    channels = painted(64, 96, LITE.semantic_nc)
    one, two = FastGenerator(g, cores=1), FastGenerator(g, cores=2)
    base = noise_ops.sample_field(LITE.z_dim, 64, 96, 1)
    for k in range(3):
        z = noise_ops.reroll(base, channels == k, 5 + k, strength=0.8)
        for _ in range(2):  # new plan, then cached plan
            assert torch.equal(one(channels, z), two(channels, z))


@pytest.mark.parametrize("update_min_cells", [0, None])
def test_strokes_and_rerolls_update_the_plan_and_match_a_fresh_one(update_min_cells, monkeypatch) -> None:
    """A session of edits: each frame's plan is derived from the previous one (keys kept, geometry regrouped only
    around the change) and must give what a fresh generator gives, through room running out and rebuilds. With
    ``_UPDATE_MIN_CELLS`` 0 every level's geometry is updated in place (at the default these small maps regroup
    from scratch, as small levels do)."""
    import oasis_core.fast.generator as fast_module

    if update_min_cells is not None:
        monkeypatch.setattr(fast_module, "_UPDATE_MIN_CELLS", update_min_cells)
    g = seeded(LITE)
    h, w = 64, 96
    rng = np.random.default_rng(3)
    channels = painted(h, w, LITE.semantic_nc)
    field = noise_ops.sample_field(LITE.z_dim, h, w, 1)
    fast = FastGenerator(g, torch.float32)
    fast(channels, field[None])
    kinds = []
    for step in range(40):
        y, x = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        dy, dx = int(rng.integers(2, 20)), int(rng.integers(2, 30))
        if step % 3 == 2:  # a reroll of a box, some blended, some replacing
            mask = torch.zeros(h, w, dtype=torch.bool)
            mask[y : y + dy, x : x + dx] = True
            field = noise_ops.reroll(field, mask, 100 + step, strength=1.0 if step % 2 else 0.5)
            kinds.append("reroll")
        else:  # a stroke of some class, sometimes one not on the map yet
            channels = channels.clone()
            channels[y : y + dy, x : x + dx] = int(rng.integers(0, LITE.semantic_nc))
            kinds.append("stroke")
        got = fast(channels, field[None])
        want = FastGenerator(g, torch.float32)(channels, field[None])
        assert float((got - want).abs().max()) <= 1e-5, f"step {step} ({kinds[-1]})"
    assert float((got - eager(g, channels, field[None])).abs().max()) <= FP32_TOL
    assert fast.stats["dense"] == 0
    assert fast.stats["plan_updates"] >= 30  # most frames were updates, not rebuilds
    if update_min_cells == 0:
        assert fast.stats["level_updates"] >= 30 * len(fast.levels) // 2
    else:
        assert fast.stats["level_updates"] == 0  # 64x96: every level is below the threshold
    # the first map still gives its first image (plans are cached whole, not shared wrongly)
    channels0 = painted(h, w, LITE.semantic_nc)
    base = noise_ops.sample_field(LITE.z_dim, h, w, 1)[None]
    assert torch.equal(fast(channels0, base), FastGenerator(g, torch.float32)(channels0, base))


def test_a_new_seed_or_a_large_change_builds_a_fresh_plan() -> None:
    g = seeded(LITE)
    channels = painted(64, 64, LITE.semantic_nc)
    fast = FastGenerator(g, torch.float32)
    fast(channels, noise_ops.sample_field(LITE.z_dim, 64, 64, 1)[None])
    other = (channels + 1) % LITE.semantic_nc  # every pixel changed
    got = fast(other, noise_ops.sample_field(LITE.z_dim, 64, 64, 1)[None])
    assert fast.stats["plan_updates"] == 0 and fast.stats["plan_misses"] == 2
    want = FastGenerator(g, torch.float32)(other, noise_ops.sample_field(LITE.z_dim, 64, 64, 1)[None])
    assert torch.equal(got, want)


def test_an_update_sees_a_label_map_edited_in_place() -> None:
    """The plan keeps its own copy of the labels: a caller that paints into the array it passed last time still
    gets the edited image (the update compares against what the last frame really was)."""
    g = seeded(LITE)
    channels = painted(32, 64, LITE.semantic_nc).clone()
    z = noise_ops.sample_field(LITE.z_dim, 32, 64, 1)[None]
    fast = FastGenerator(g, torch.float32)
    fast(channels, z)
    channels[5:15, 10:30] = 6  # in place
    got = fast(channels, z)
    assert fast.stats["plan_updates"] == 1
    assert float((got - FastGenerator(g, torch.float32)(channels.clone(), z)).abs().max()) <= 1e-5


def test_equal_vectors_under_different_ids_stay_different_keys() -> None:
    """Rerolling with a seed used before (strength 1) gives a layout with two equal vectors under different ids.
    The updated plan is cached by the ids, so it must keep them apart: a later layout with the same ids and
    different vectors reuses it."""
    g = seeded(LITE)
    h, w = 32, 64
    channels = painted(h, w, LITE.semantic_nc)
    v0, v5, v6 = (noise_ops.sample_vector(LITE.z_dim, s) for s in (1, 5, 6))
    ids = torch.zeros(h, w, dtype=torch.long)
    ids[4:20, 8:40] = 1
    ids2 = ids.clone()
    ids2[10:28, 30:50] = 2
    one = NoiseLayout([v0[None]], [None])
    first = NoiseLayout([torch.stack([v0, v5])], [ids.view(-1)])
    twice = NoiseLayout([torch.stack([v0, v5, v5])], [ids2.view(-1)])  # ids 1 and 2 hold the same vector
    other = NoiseLayout([torch.stack([v0, v5, v6])], [ids2.view(-1)])  # same ids, different vectors
    fast = FastGenerator(g, torch.float32)
    for layout in (one, first, twice):
        fast(channels, layout)
    got = fast(channels, other)
    assert fast.stats["plan_hits"] >= 1  # the ids repeat: the cached plan served it
    want = FastGenerator(g, torch.float32)(channels, other)
    assert float((got - want).abs().max()) <= 1e-5


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_a_banded_convolution_equals_the_whole_one(batch: int, kernel: int, monkeypatch) -> None:
    """A convolution in bands of rows (each band reading its neighbours' edge rows) gives the convolution of the
    whole map: plain, into a zeroed buffer, added into a buffer (the residual), and with tanh; the check runs
    before every band."""
    import oasis_core.fast.folded as folded

    gen = torch.Generator().manual_seed(kernel)
    weight = torch.randn(6, 5, kernel, kernel, generator=gen) * 0.3
    bias = torch.randn(6, generator=gen)
    conv = folded._Conv(weight, bias, torch.float32, torch.device("cpu"))
    x = torch.randn(batch, 53, 21, 5, generator=gen)  # 53 rows: the last band is short
    want = torch.nn.functional.conv2d(x.permute(0, 3, 1, 2), weight, bias, padding=kernel // 2).permute(0, 2, 3, 1)
    monkeypatch.setattr(folded, "BAND_MIN_ROWS", 4)
    monkeypatch.setattr(folded, "BAND_MACS", 8 * batch * 21 * conv.macs_per_pixel)  # bands of 8 rows
    calls = []
    got = conv(x, between=lambda: calls.append(1))
    assert len(calls) == 7  # ceil(53 / 8) bands
    assert float((got - want).abs().max()) <= 1e-5
    residual = torch.randn(batch, 53, 21, 6, generator=gen)
    out = residual.clone()
    conv(x, out=out, accumulate=True, between=lambda: None)
    assert float((out - (residual + want)).abs().max()) <= 1e-5
    out = residual.clone()
    assert conv(x, out=out, between=lambda: None) is out
    assert float((out - want).abs().max()) <= 1e-5
    assert float((conv(x, tanh=True, between=lambda: None) - torch.tanh(want)).abs().max()) <= 1e-5
    calls.clear()
    conv(x[:, :12], between=lambda: calls.append(1))
    assert calls == []  # fewer than two bands of rows: one piece, no checks

    # bf16: the residual add rounds once per element in both, so the banded result is the same bits
    half = folded._Conv(weight, bias, torch.bfloat16, torch.device("cpu"))
    xb, rb = x.to(torch.bfloat16), residual.to(torch.bfloat16)
    whole, banded = rb.clone(), rb.clone()
    half(xb, out=whole, accumulate=True)
    half(xb, out=banded, accumulate=True, between=lambda: None)
    assert torch.equal(whole, banded)


def test_a_large_frame_is_cancelled_inside_its_blocks_and_is_unchanged_otherwise(monkeypatch) -> None:
    """With a cancel check, the large levels' convolutions go in bands and the fused passes ask every few chunks:
    the image is the one made without a check, the check is asked many times per block, and a check that says
    stop in the middle of the last block stops the call there."""
    import oasis_core.fast.folded as folded
    import oasis_core.fast.generator as fast_module

    g = seeded(LITE, seed=2)
    h, w = 128, 96
    channels = painted(h, w, LITE.semantic_nc, seed=5)
    z = noise_fields(LITE.z_dim, h, w, channels)["rerolled"]
    want = FastGenerator(g, torch.float32)(channels, z)
    monkeypatch.setattr(folded, "BAND_MIN_ROWS", 4)
    monkeypatch.setattr(folded, "BAND_MACS", 1 << 16)
    monkeypatch.setattr(fast_module, "_CHUNK_VALUES", 4096)
    monkeypatch.setattr(fast_module, "_CHECK_CHUNKS", 4)
    fast = FastGenerator(g, torch.float32)
    asked = []
    got = fast(channels, z, cancel=lambda: asked.append(1) and False)
    assert float((got - want).abs().max()) <= 1e-5
    blocks = len(fast.levels)
    assert len(asked) > 10 * blocks, f"asked {len(asked)} times for {blocks} blocks"
    stop_at = len(asked) - 5  # inside the last block, after its first convolution's bands began

    def cancel() -> bool:
        asked.append(1)
        return len(asked) > stop_at

    asked.clear()
    with pytest.raises(fast_module.Cancelled):
        fast(channels, z, cancel=cancel)
    assert len(asked) == stop_at + 1, "stopped at the first check that said so"
    asked.clear()
    again = fast(channels, z, cancel=lambda: asked.append(1) and False)
    assert torch.equal(again, got), "a cancelled call leaves nothing behind that changes the next image"
