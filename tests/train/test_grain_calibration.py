"""The output grain's amplitudes estimated from data (``train.grain``): the high-pass energy per class, and the
closed-form estimate that gives generated images the real ones' pixel-level noise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from oasis_core.config import GeneratorConfig
from oasis_core.nn import Generator
from oasis_core.noise import grain_of_dense
from train.grain import LEVEL, calibrate_output_grain, diagonal_details, highpass_sums, robust_variance


def test_highpass_sums_are_the_noise_variance_inside_classes_and_ignore_class_edges():
    gen = torch.Generator().manual_seed(0)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[:, :, 32:] = 1
    labels[:, 40:, :] = 2
    images = torch.zeros(2, 3, 64, 64)
    images[:, :, :, 32:] = 0.5  # flat classes of different values: their edge is not texture
    images[:, :, 40:] = -0.3
    sigma = torch.tensor([0.02, 0.05, 0.0])
    noise = torch.randn(2, 3, 64, 64, generator=gen) * sigma[:, None, None]
    images += noise * (labels[:, None] == 0)
    sums, pixels = highpass_sums(images, labels, 4)
    assert pixels.tolist() == [2 * 39 * 31, 2 * 39 * 31, 2 * 23 * 64, 0]  # eroded from the other classes only
    # white noise of variance s^2 minus its 3x3 mean: 8/9 s^2
    torch.testing.assert_close(sums[0] / pixels[0], 8 / 9 * sigma.square(), rtol=0.08, atol=1e-7)
    assert sums[1:].abs().max() < 1e-8


def _generator(nc: int = 4) -> Generator:
    cfg = GeneratorConfig(semantic_nc=nc, ch=4, spade_hidden=8, z_dim=8, multipliers=(4, 4, 2, 1),
                          upsample="bilinear", output_grain=True)  # fmt: skip
    torch.manual_seed(0)
    g = Generator(cfg, spectral_norm=False)
    g.init_weights(0.3)
    return g.eval()


def _batches(nc: int, count: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(count):
        cells = torch.randint(0, nc - 1, (4, 4, 4), generator=gen)  # the last class never appears
        labels = cells.repeat_interleave(16, 1).repeat_interleave(16, 2)
        noise = torch.randn(4, 8, 1, 1, generator=gen).expand(-1, -1, 64, 64).contiguous()
        yield labels, noise


@pytest.mark.parametrize("method", ["noise", "energy"])
def test_calibration_recovers_the_noise_the_real_images_carry(method):
    """Real images made by the same generator with known amplitudes (other noise draws): the estimate from zero
    finds them per class and colour channel, leaves a class without pixels at zero, and gives the generated images
    the real ones' high-pass energy."""
    nc = 4
    g = _generator(nc)
    truth = torch.tensor([[0.08, 0.03, 0.0], [0.02, 0.06, 0.1], [0.05, 0.05, 0.05], [0.3, 0.3, 0.3]])
    with torch.no_grad():
        g.grain_rgb.copy_(truth)
        data = []
        for labels, noise in _batches(nc, 6, 1):
            onehot = F.one_hot(labels, nc).permute(0, 3, 1, 2).float()
            other = noise.flip(0)  # another draw of the grain for the real images
            data.append((labels, noise, g(onehot, other, grain_of_dense(other * 1.5, 4))))
    amp = calibrate_output_grain(g, data, method=method)
    assert torch.equal(g.grain_rgb, amp)
    assert not amp[3].any()  # never in the images
    torch.testing.assert_close(amp[:3], truth[:3], atol=0.006, rtol=0.12)
    # an ignored class gets none; a generator already as noisy as the data gets none
    assert not calibrate_output_grain(g, data, ignore=1, method=method)[1].any()
    with torch.no_grad():
        g.grain_rgb.copy_(truth * 1.5)
        louder = [(lab, z, g(F.one_hot(lab, nc).permute(0, 3, 1, 2).float(), z)) for lab, z, _ in data]
    g.grain_rgb.zero_()
    with torch.no_grad():
        for lab, z, real in louder:  # the "real" images are the generator's own smooth output: nothing to add
            real.copy_(g(F.one_hot(lab, nc).permute(0, 3, 1, 2).float(), z))
    assert calibrate_output_grain(g, louder, method=method).max() < 1e-3


def test_diagonal_details_see_noise_and_not_shading_or_class_edges():
    gen = torch.Generator().manual_seed(2)
    labels = torch.zeros(2, 64, 64, dtype=torch.long)
    labels[:, :, 32:] = 1
    ramp = torch.linspace(-0.5, 0.5, 64)
    images = (ramp[None, :] + ramp[:, None] ** 2).expand(2, 3, 64, 64).clone()  # smooth shading
    images[..., 32:] += 0.4  # a class edge
    sigma = torch.tensor([0.03, 0.01, 0.0])
    images[..., :32] += torch.randn(2, 3, 64, 32, generator=gen) * sigma[:, None, None]
    d = diagonal_details(images, labels, 3)
    assert d[2] is None  # no pixels
    assert d[0].shape == d[1].shape == (3, 2 * 32 * 15)  # 2x2 blocks one pixel off the class edge (not the border)
    torch.testing.assert_close(robust_variance(d[0]).sqrt(), sigma, atol=2e-3, rtol=0.1)
    assert d[1].abs().max() < 1e-5  # shading and the edge beside it give nothing


def test_the_noise_estimate_ignores_structure_and_8_bit_steps_where_the_energy_estimate_fills_it_with_noise():
    """Real images = the generator's own output with known amplitudes, quantised to 8 bits, plus structure the
    generator does not draw (thin bright lines every 8 px inside each class): the noise estimate finds the
    amplitudes; the energy estimate takes the lines for noise and overshoots."""
    nc = 4
    g = _generator(nc)
    truth = torch.tensor([[0.03, 0.02, 0.0], [0.02, 0.03, 0.04], [0.025, 0.025, 0.025], [0.0, 0.0, 0.0]])
    lines = torch.zeros(64, 64)
    lines[3::8] = 0.3
    lines[:, 5::8] = -0.2
    with torch.no_grad():
        g.grain_rgb.copy_(truth)
        data = []
        for labels, noise in _batches(nc, 6, 3):
            onehot = F.one_hot(labels, nc).permute(0, 3, 1, 2).float()
            other = noise.flip(0)
            real = (g(onehot, other, grain_of_dense(other * 1.5, 4)) + lines).clamp(-1, 1)
            data.append((labels, noise, torch.round((real + 1) / LEVEL) * LEVEL - 1))
    noise_amp = calibrate_output_grain(g, data, method="noise").clone()
    torch.testing.assert_close(noise_amp[:3], truth[:3], atol=0.006, rtol=0.15)
    energy_amp = calibrate_output_grain(g, data, method="energy")
    assert (energy_amp[:3] > 2 * truth[:3] + 0.02).all()
    with pytest.raises(ValueError, match="unknown output grain estimate"):
        calibrate_output_grain(g, data, method="median")


def test_the_estimate_is_chosen_on_the_command_line_and_runs_from_before_the_choice_keep_theirs(capsys):
    from train.cli import build_parser
    from train.config import TrainConfig, make_config

    base = ["fit", "--dataset", "landscapes", "--data", "x", "--iters", "1", "--run-dir", "r", "--g-grain-out"]
    assert build_parser().parse_args(base).g_grain_fit is None  # the config's default
    assert build_parser().parse_args(base + ["--g-grain-fit", "energy"]).g_grain_fit == "energy"
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(base + ["--g-grain-fit", "median"])
    assert exc.value.code == 2 and "argument --g-grain-fit" in capsys.readouterr().err
    cfg = make_config("lite", dataset="landscapes", data="x", run_dir="r", g_grain_out=True)
    assert cfg.g_grain_fit == "noise"
    saved = cfg.to_dict()
    assert TrainConfig.from_dict(saved).g_grain_fit == "noise"
    del saved["g_grain_fit"]  # a run (or a model file's provenance) from before the choice: the energy estimate
    assert TrainConfig.from_dict(saved).g_grain_fit == "energy"
    assert TrainConfig.from_dict(saved | {"g_grain_out": False}).g_grain_fit == "noise"


def test_a_resume_keeps_the_runs_estimate_unless_told_otherwise(tmp_path):
    """A run trained with the energy estimate (or from before the choice) resumed without --g-grain-fit keeps it;
    the flag changes it; a new run takes the default."""
    import json

    from train.cli import _saved_grain_fit
    from train.config import make_config

    run = tmp_path / "run"
    run.mkdir()
    assert _saved_grain_fit(run) is None  # no config: the default applies
    cfg = make_config("lite", dataset="landscapes", data="x", run_dir=str(run), g_grain_out=True, g_grain_fit="energy")
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    assert _saved_grain_fit(run) == "energy"
    old = cfg.to_dict()
    del old["g_grain_fit"]
    (run / "config.json").write_text(json.dumps(old))
    assert _saved_grain_fit(run) == "energy"  # from before the choice
    (run / "config.json").write_text("{not json")
    assert _saved_grain_fit(run) is None
