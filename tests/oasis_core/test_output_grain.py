"""Output grain (``GeneratorConfig.output_grain``): three more channels of the per-pixel grain, added to the image
before the tanh with a learned amplitude per class and colour channel (the sensor noise of real images). The eager
generator, its training input (ids and codes), the fast path, model files and training runs all agree on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from grain_helpers import assert_fast_path_matches, grain_field, grain_generator, grain_labels, training_inputs

from oasis_core.config import GeneratorConfig
from oasis_core.fast import FastGenerator, NoiseLayout
from oasis_core.nn import Generator
from oasis_core.noise import NoiseField, grain, grain_of_dense, grain_of_field


def _generator(output_grain: bool, upsample: str = "bilinear", grain_levels: int = 2, amplitude=None) -> Generator:
    return grain_generator(grain_levels, upsample, weight=0.5, gain=0.3, output_grain=output_grain, amplitude=amplitude)


# a different amplitude per class and colour channel; class 2 has none
AMPLITUDE = [[0.05, 0.02, 0.08], [0.1, 0.1, 0.1], [0.0, 0.0, 0.0], [0.03, -0.06, 0.01], [0.2, 0.0, 0.05]]


def test_more_grain_channels_keep_channel_0_and_are_independent_white_noise():
    f = NoiseField.sample(16, 256, 256, 4)
    one = grain_of_field(f)
    four = grain_of_field(f, 4)
    assert four.shape == (4, 256, 256) and four.dtype == torch.float32
    assert torch.equal(four[0], one)  # models with block grain only keep their images, bit for bit
    assert torch.equal(grain_of_field(f, 2), four[:2]) and torch.equal(grain_of_field(f, 3), four[:3])
    a = four.reshape(4, -1).numpy()
    assert np.abs(a.mean(1)).max() < 0.02 and np.abs(a.std(1) - 1).max() < 0.02
    corr = np.corrcoef(a)
    assert np.abs(corr[~np.eye(4, dtype=bool)]).max() < 0.02  # the channels are independent of each other
    for c in range(4):  # and each is white: no correlation between neighbouring pixels
        img = four[c].numpy()
        assert abs(np.corrcoef(img[:, :-1].ravel(), img[:, 1:].ravel())[0, 1]) < 0.02
        assert abs(np.corrcoef(img[:-1].ravel(), img[1:].ravel())[0, 1]) < 0.02
    # a reroll redraws every channel exactly where it changes the vectors; dense input gives the same channels
    before, after = NoiseField.sample(8, 64, 64, 3), grain_field()
    changed = (before.dense() != after.dense()).any(0)
    ga, gb = grain_of_field(before, 4), grain_of_field(after, 4)
    assert torch.equal(ga[:, ~changed], gb[:, ~changed]) and bool((ga[:, changed] != gb[:, changed]).all())
    assert torch.equal(grain_of_dense(after.dense(), 4)[0], gb)
    assert torch.equal(grain(after.vectors, after.ids, 64, 64, 4)[:, :32, :32], grain_of_field(after.crop(32, 32), 4))
    with pytest.raises(ValueError, match="1 to 4 channels"):
        grain(after.vectors, after.ids, 64, 64, 5)


def test_output_grain_config_round_trips_and_is_validated():
    cfg = GeneratorConfig(semantic_nc=5, ch=4, spade_hidden=8, z_dim=8, multipliers=(4, 4, 2, 1), output_grain=True)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg and cfg.grain_channels == 4
    assert "output_grain" not in GeneratorConfig(semantic_nc=5).to_dict()  # earlier files stay as they were
    assert GeneratorConfig(semantic_nc=5).grain_channels == 0
    assert GeneratorConfig(semantic_nc=5, grain_levels=1).grain_channels == 1
    with pytest.raises(ValueError, match="z_dim"):
        GeneratorConfig(semantic_nc=5, z_dim=0, output_grain=True)
    with pytest.raises(ValueError, match="true or false"):
        GeneratorConfig(semantic_nc=5, output_grain=1)
    g = Generator(cfg)
    assert tuple(g.grain_rgb.shape) == (5, 3) and not g.grain_rgb.any()
    assert [k for k in g.state_dict() if "grain" in k] == ["grain_rgb"]  # no block grain: only the amplitudes


@pytest.mark.parametrize("grain_levels", [0, 2])
def test_zero_amplitudes_are_the_generator_without_output_grain_and_others_add_noise_per_class(grain_levels):
    lab = grain_labels()
    onehot = F.one_hot(lab, 5).permute(2, 0, 1)[None].float()
    f = grain_field()
    z = f.dense()[None]
    plain = _generator(False, grain_levels=grain_levels)
    zero = _generator(True, grain_levels=grain_levels)
    noisy = _generator(True, grain_levels=grain_levels, amplitude=AMPLITUDE)
    with torch.no_grad():
        a, b, c = plain(onehot, z), zero(onehot, z), noisy(onehot, z)
    assert torch.equal(a, b)
    # before the tanh, the difference is the amplitude of the pixel's class times grain channels 1-3
    pre = torch.atanh(c.clamp(-0.999999, 0.999999)) - torch.atanh(a.clamp(-0.999999, 0.999999))
    want = torch.as_tensor(AMPLITUDE)[lab].permute(2, 0, 1) * grain_of_field(f, 4)[1:]
    torch.testing.assert_close(pre[0], want, atol=2e-4, rtol=1e-3)
    assert torch.equal(c[0][:, lab == 2], a[0][:, lab == 2])  # a class without amplitude is unchanged


def test_training_input_adds_the_same_output_grain():
    """The training loop's ids-and-codes input gives the dense input's image; the amplitudes are a buffer (a
    statistic the training re-estimates, ``train.grain``), not a weight."""
    g = _generator(True, amplitude=AMPLITUDE)
    assert "grain_rgb" in dict(g.named_buffers()) and "grain_rgb" not in dict(g.named_parameters())
    f = grain_field()
    seg, onehot = training_inputs(f, grain_labels())
    with torch.no_grad():
        torch.testing.assert_close(g(seg), g(onehot, f.dense()[None]), atol=2e-5, rtol=1e-4)
        assert torch.equal(g(onehot, f.dense()[None]), g(onehot, f.dense()[None], grain_of_field(f, 4)[None]))
    with pytest.raises(ValueError, match=r"grain must be \(1, 4, 64, 64\)"):
        g(onehot, f.dense()[None], grain_of_field(f)[None, None])  # one channel where the model takes four


@pytest.mark.parametrize("upsample, grain_levels", [("nearest", 0), ("bilinear", 2)])
def test_the_fast_path_adds_the_same_output_grain(upsample, grain_levels):
    g = _generator(True, upsample, grain_levels, amplitude=AMPLITUDE)
    assert_fast_path_matches(g)
    lab = grain_labels()
    fast = FastGenerator(g)
    calls = []
    # a cancel check is given: the last convolution runs in bands of rows (each accumulating onto its grain)
    big = lab.repeat(4, 4)
    field = NoiseField.sample(8, 256, 256, 2)
    oh = F.one_hot(big, 5).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        want_big = g(oh, field.dense()[None])
    got = fast(big, NoiseLayout.of_fields([field]), cancel=lambda: calls.append(1) or False)
    torch.testing.assert_close(got, want_big, atol=2e-5, rtol=1e-4)
    assert calls


def test_an_output_grain_model_file_generates_through_the_synthesizer(tmp_path):
    from oasis_core import memory
    from oasis_core.checkpoint import load_checkpoint, save_checkpoint
    from oasis_core.labels import get
    from oasis_core.synthesizer import Synthesizer

    space = get("landscapes")
    cfg = GeneratorConfig(semantic_nc=space.num_channels, ch=4, spade_hidden=8, z_dim=8, upsample="bilinear",
                          grain_levels=2, output_grain=True)  # fmt: skip
    torch.manual_seed(0)
    g = Generator(cfg)
    g.init_weights(0.5)
    with torch.no_grad():
        g.grain_rgb.uniform_(0.0, 0.2)
    path = save_checkpoint(tmp_path / "og.safetensors", g.eval(), None, label_space=space, name="og")
    mf = load_checkpoint(path)
    assert mf.generator_config.output_grain and torch.equal(mf.generator_state["grain_rgb"], g.grain_rgb.detach())
    labels = np.repeat(np.repeat(np.random.default_rng(0).integers(0, 6, (5, 6)), 16, 0), 16, 1).astype(np.uint8)
    field = NoiseField.sample(8, 80, 96, 5)
    fast_syn = Synthesizer(mf, "cpu", "fp32")
    fast = fast_syn.generate_tensor(labels, field)  # padded to 96x96 and cropped back
    eager = Synthesizer(mf, "cpu", "fp32", fast=False).generate_tensor(labels, field)
    torch.testing.assert_close(fast, eager, atol=1e-4, rtol=1e-3)
    # the memory estimate counts the output grain's maps
    with_out = memory.generation_bytes_per_pixel(memory.Widths.of(cfg))
    without = memory.generation_bytes_per_pixel(memory.Widths.of(GeneratorConfig.from_dict(
        {**cfg.to_dict(), "output_grain": False})))  # fmt: skip
    assert with_out > without
    assert fast_syn.bytes_per_pixel() >= with_out

