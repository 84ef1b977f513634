"""Per-pixel grain (``GeneratorConfig.grain_levels``): a function of the noise field that the eager generator, its
training input (ids and codes), the fast path and model files all agree on, so a scene and its seeds still
reproduce every image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from grain_helpers import assert_fast_path_matches, grain_field, grain_generator, grain_labels, training_inputs

from oasis_core.config import GeneratorConfig
from oasis_core.fast import FastGenerator, NoiseLayout, analyse_noise
from oasis_core.nn import Generator
from oasis_core.noise import NoiseField, distinct_vectors, grain, grain_of_dense, grain_of_field, vector_keys


def test_grain_is_standard_normal_white_noise_fixed_by_the_field():
    f = NoiseField.sample(64, 256, 256, 1)
    g = grain_of_field(f)
    assert g.shape == (256, 256) and g.dtype == torch.float32
    assert abs(float(g.mean())) < 0.02 and abs(float(g.std()) - 1) < 0.02
    a = g.numpy()
    assert abs(np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]) < 0.02  # no streaks of its own
    assert abs(np.corrcoef(a[:-1].ravel(), a[1:].ravel())[0, 1]) < 0.02
    assert torch.equal(g, grain_of_field(NoiseField.sample(64, 256, 256, 1)))  # the same seed, the same grain
    assert not torch.equal(g, grain_of_field(NoiseField.sample(64, 256, 256, 2)))
    v = f.vectors.clone()
    v[0, 5] = torch.nextafter(v[0, 5], torch.tensor(10.0))  # one bit of one value: another vector, another grain
    assert vector_keys(v)[0] != vector_keys(f.vectors)[0]


def test_a_reroll_redraws_the_grain_exactly_where_it_changes_the_vectors():
    before = NoiseField.sample(8, 64, 64, 3)
    after = grain_field()
    changed = (before.dense() != after.dense()).any(0)
    ga, gb = grain_of_field(before), grain_of_field(after)
    assert torch.equal(ga[~changed], gb[~changed])
    assert bool((ga[changed] != gb[changed]).all())


def test_grain_keeps_its_pixels_through_padding_and_from_the_dense_form():
    f = grain_field()
    g = grain_of_field(f)
    assert torch.equal(grain_of_field(f.pad(32, 16))[:64, :64], g)  # the Synthesizer pads to a multiple of 32
    assert torch.equal(grain_of_field(f.pad(32, 16).crop(64, 64)), g)
    assert torch.equal(grain_of_dense(f.dense())[0, 0], g)
    assert torch.equal(grain(f.vectors, f.ids.reshape(-1), 64, 64), g)


def test_grain_config_round_trips_and_is_validated():
    cfg = GeneratorConfig(semantic_nc=5, ch=4, spade_hidden=8, z_dim=8, multipliers=(4, 4, 2, 1), grain_levels=2)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg and cfg.first_grain_block == 1
    assert "grain_levels" not in GeneratorConfig(semantic_nc=5).to_dict()  # the paper's files stay as they were
    with pytest.raises(ValueError, match="grain_levels"):
        GeneratorConfig(semantic_nc=5, multipliers=(4, 2, 1), grain_levels=3)
    keys = [k for k in Generator(cfg).state_dict() if "grain" in k]
    assert keys == ["body.1.grain_weight", "body.2.grain_weight"]


def _generator(grain_levels: int, upsample: str = "bilinear", weight: float = 1.0) -> Generator:
    return grain_generator(grain_levels, upsample, weight)


def test_zero_grain_weights_are_the_generator_without_grain_and_trained_ones_add_texture():
    lab = grain_labels()
    onehot = F.one_hot(lab, 5).permute(2, 0, 1)[None].float()
    z = grain_field().dense()[None]
    plain = _generator(0)
    zero = _generator(2, weight=0.0)
    zero.load_state_dict(plain.state_dict(), strict=False)
    grained = _generator(2, weight=1.0)
    grained.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        a, b, c = plain(onehot, z), zero(onehot, z), grained(onehot, z)
    assert torch.equal(a, b)
    # the grain adds pixel-scale variation: the image's high frequencies grow
    assert (c - a).abs().max() > 0.01
    hf = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean()  # noqa: E731
    assert hf(c) > hf(a)


def test_training_input_grain_equals_the_dense_inputs():
    """The training loop's ids-and-codes input derives the same grain as the dense noise (one vector per region,
    whatever the class), so the trained weights see at inference the grain they were trained with."""
    g = _generator(2)
    f = grain_field()
    seg, onehot = training_inputs(f, grain_labels())
    with torch.no_grad():
        torch.testing.assert_close(g(seg), g(onehot, f.dense()[None]), atol=2e-5, rtol=1e-4)
        assert torch.equal(g(onehot, f.dense()[None]), g(onehot, f.dense()[None], grain_of_field(f)[None, None]))
    with pytest.raises(ValueError, match="grain must be"):
        g(onehot, f.dense()[None], torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
@pytest.mark.parametrize("levels", [1, 3])
def test_the_fast_path_adds_the_same_grain(upsample, levels):
    assert_fast_path_matches(_generator(levels, upsample))


def _grain_model_file(tmp_path):
    """A real model file of a small bilinear generator with grain (weights at gain 1, grain weights N(0, 1))."""
    from oasis_core.checkpoint import load_checkpoint, save_checkpoint
    from oasis_core.labels import get

    space = get("landscapes")
    cfg = GeneratorConfig(semantic_nc=space.num_channels, ch=4, spade_hidden=8, z_dim=8, upsample="bilinear",
                          grain_levels=2)  # fmt: skip
    torch.manual_seed(0)
    g = Generator(cfg)
    g.init_weights(1.0)
    with torch.no_grad():
        for b in g.body:
            if b.grain_weight is not None:
                b.grain_weight.normal_(0, 1.0)
    path = save_checkpoint(tmp_path / "grain.safetensors", g.eval(), None, label_space=space, name="grain")
    return load_checkpoint(path)


def test_a_grain_model_file_generates_through_the_synthesizer(tmp_path):
    from oasis_core.synthesizer import Synthesizer

    mf = _grain_model_file(tmp_path)
    assert mf.generator_config.grain_levels == 2
    labels = np.repeat(np.repeat(np.random.default_rng(0).integers(0, 6, (5, 6)), 16, 0), 16, 1).astype(np.uint8)
    field = NoiseField.sample(8, 80, 96, 5)
    fast = Synthesizer(mf, "cpu", "fp32").generate_tensor(labels, field)  # padded to 96x96 and cropped back
    eager = Synthesizer(mf, "cpu", "fp32", fast=False).generate_tensor(labels, field)
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=1e-3)


def test_the_fast_paths_grain_cache_follows_the_fields_size_and_contents():
    """The last call's grain is reused only for the same fields at the same size: a crop or a pad of a field keeps
    its vectors tensor, and a rerolled field (a new id map) is hit again on the next frame."""
    g = _generator(2)
    lab = grain_labels()
    fast = FastGenerator(g)
    f = NoiseField.sample(8, 64, 64, 1)

    def eager(labels, field):
        onehot = F.one_hot(labels, 5).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            return g(onehot, field.dense()[None])

    fast(lab, NoiseLayout.of_fields([f]))
    small = f.crop(32, 32)
    torch.testing.assert_close(fast(lab[:32, :32], NoiseLayout.of_fields([small])), eager(lab[:32, :32], small),
                               atol=2e-5, rtol=1e-4)  # fmt: skip
    big = small.pad(32, 32)
    torch.testing.assert_close(fast(lab, NoiseLayout.of_fields([big])), eager(lab, big), atol=2e-5, rtol=1e-4)
    rerolled = grain_field()
    fast(lab, NoiseLayout.of_fields([rerolled]))
    cached = fast._grain_cache[1]
    fast(lab, NoiseLayout.of_fields([rerolled]))  # the next stroke: a new layout of the same field
    assert fast._grain_cache[1] is cached
    fast.clear_cache()
    assert fast._grain_cache is None


def test_grain_needs_noise_and_ignores_the_sign_of_zero():
    with pytest.raises(ValueError, match="z_dim"):
        GeneratorConfig(semantic_nc=5, z_dim=0, grain_levels=1)
    with pytest.raises(ValueError, match="an int"):
        GeneratorConfig(semantic_nc=5, grain_levels=True)
    v = torch.zeros(1, 4)
    assert vector_keys(v)[0] == vector_keys(-v)[0]
    mixed = torch.zeros(4, 8, 8)
    mixed[:, :4] = -0.0  # equal values with another sign bit: one vector, as the fast path's grouping sees it
    assert torch.equal(grain_of_dense(mixed)[0, 0], grain(torch.zeros(1, 4), None, 8, 8))


def test_variants_and_fields_made_in_inference_mode_get_their_grain(tmp_path):
    """``generate_variants`` draws its fields in inference mode (tensors without a version counter): the fast path
    computes their grain without keeping it, and each variant matches the eager generator."""
    from oasis_core.synthesizer import Synthesizer

    mf = _grain_model_file(tmp_path)
    fast, eager = Synthesizer(mf, "cpu", "fp32"), Synthesizer(mf, "cpu", "fp32", fast=False)
    labels = np.repeat(np.repeat(np.random.default_rng(0).integers(0, 6, (4, 4)), 16, 0), 16, 1).astype(np.uint8)
    got = fast.generate_variants(labels, seeds=[1, 2, 3])
    want = eager.generate_variants(labels, seeds=[1, 2, 3])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert len({v.tobytes() for v in got}) == 3
    with torch.inference_mode():
        field = fast.sample_noise(64, 64, 5)
    first = fast.generate(labels, field)
    assert np.array_equal(first, fast.generate(labels, field))


@pytest.mark.parametrize(
    "count, collide", [(1, False), (3, False), (40, False), (3, True), (40, True)]
)  # one vector; a few (found without a sort); many (a sort); a hash collision (the exact fallback)
def test_distinct_vectors_finds_each_fields_vectors_exactly(count, collide):
    """The grouping the grain and the fast path share: every pixel's vector is its id's vector, bit for bit, for
    fields of 1, a few and many vectors, with and without two vectors that agree in every channel the hash reads."""
    gen = torch.Generator().manual_seed(count)
    vecs = torch.randn(count, 12, generator=gen)
    if collide:
        vecs[1, :8] = vecs[0, :8]  # equal in the hashed channels, not in channel 11
        vecs[1, 11] += 1.0
    pix = torch.randint(0, count, (20, 24), generator=gen)
    pix.view(-1)[:count] = torch.arange(count)  # every vector is used
    field = vecs[pix].permute(2, 0, 1)
    vectors, ids = distinct_vectors(field)
    assert vectors.shape == (count, 12)
    if count == 1:
        assert ids is None and torch.equal(vectors[0], vecs[0])
    else:
        assert torch.equal(vectors[ids].t().reshape(12, 20, 24), field)
        assert analyse_noise(field[None]).vectors[0].shape == (count, 12)
    assert distinct_vectors(field, max_vectors=count) is not None
    if count > 1:
        assert distinct_vectors(field, max_vectors=count - 1) is None  # the hash's count, or the exact one
        assert analyse_noise(field[None], max_vectors=count - 1) is None
