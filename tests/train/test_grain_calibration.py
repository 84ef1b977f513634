"""The output grain's amplitudes estimated from data (``train.grain``): the high-pass energy per class, and the
closed-form estimate that gives generated images the real ones' pixel-level noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from oasis_core.config import GeneratorConfig
from oasis_core.nn import Generator
from oasis_core.noise import grain_of_dense
from train.grain import calibrate_output_grain, highpass_sums


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


def test_calibration_recovers_the_noise_the_real_images_carry():
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
    amp = calibrate_output_grain(g, data)
    assert torch.equal(g.grain_rgb, amp)
    assert not amp[3].any()  # never in the images
    torch.testing.assert_close(amp[:3], truth[:3], atol=0.006, rtol=0.12)
    # an ignored class gets none; a generator already as noisy as the data gets none
    assert not calibrate_output_grain(g, data, ignore=1)[1].any()
    with torch.no_grad():
        g.grain_rgb.copy_(truth * 1.5)
        louder = [(lab, z, g(F.one_hot(lab, nc).permute(0, 3, 1, 2).float(), z)) for lab, z, _ in data]
    g.grain_rgb.zero_()
    with torch.no_grad():
        for lab, z, real in louder:  # the "real" images are the generator's own smooth output: nothing to add
            real.copy_(g(F.one_hot(lab, nc).permute(0, 3, 1, 2).float(), z))
    assert calibrate_output_grain(g, louder).max() < 1e-3
