"""The output grain's amplitudes (``GeneratorConfig.output_grain``), estimated from data as BN statistics are.

Real images carry pixel-level noise (the landscape renderer adds 2 levels per colour channel; cameras add theirs),
and how much each class shows depends on its brightness and what the image went through. A generator's output is
smooth where the data is noisy: its last convolution mixes 3x3 neighbourhoods of features that vary slowly inside a
region. The output grain adds white noise per class and colour channel before the final tanh; this module sets its
amplitudes so that each class's high-pass energy (the image minus its 3x3 box mean, inside the class) matches the
real images' on the same label maps.

Measured (the model card): the adversarial loss does not set them. Learned as weights, the amplitudes wandered
for 700 steps without settling (the sky's between 0.1 and 0.4 levels), and the discriminator's gradient pushed the
sky's towards zero (it had only ever seen smooth generated skies), although the real skies carry twice the generated
ones' high-pass energy.

The estimate is closed-form. For ``out = tanh(y + a * n)`` with white ``n``, to first order in ``a`` the high-pass
energy inside a class is ``E_clean + a^2 * K`` with ``K`` the energy of the high-passed ``(1 - out^2) * n`` (the
cross term has zero mean), so ``a = sqrt(max(0, E_real - E_clean - q) / K)``, ``q`` being what 8-bit quantisation
adds to a saved image (the real images have it already).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from oasis_core.nn import Generator
from oasis_core.noise import grain_of_dense

LEVEL = 2.0 / 255.0  # one 8-bit level in the [-1, 1] image range
QUANTISATION = LEVEL**2 / 12 * (8 / 9)  # its uniform error's share of the high-pass energy (1 - 1/9 of its variance)
MIN_PIXELS = 256  # a class with fewer interior pixels in the sample keeps a zero amplitude


def highpass_sums(images: torch.Tensor, labels: torch.Tensor, num_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class and colour channel, the sum of squares of the image minus its 3x3 box mean over the class's pixels
    whose 3x3 neighbourhood lies in the class (class edges are not texture; the image border counts as inside):
    ``(sums (N, C), pixels (N,))``. ``images`` (B, C, H, W) float; ``labels`` (B, H, W) channel ids."""
    x = images.float()
    r = x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    masks = F.one_hot(labels.long(), num_channels).permute(0, 3, 1, 2).float()
    inner = 1.0 - F.max_pool2d(1.0 - masks, 3, 1, 1)  # eroded by one pixel from the other classes
    return torch.einsum("bchw,bkhw->ck", inner, r.square()), inner.sum((0, 2, 3))


@torch.no_grad()
def calibrate_output_grain(
    g: Generator,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    ignore: int | None = None,
) -> torch.Tensor:
    """Set ``g.grain_rgb`` from ``batches`` of (label channels (B, H, W), noise (B, z, H, W), real images (B, 3, H, W)
    in [-1, 1]): each class and colour channel gets the amplitude that gives the generated images the real ones'
    high-pass energy (zero where they already have as much, for ``ignore`` and for classes with too few pixels).
    ``g`` runs as it is (eval mode for an EMA copy). Returns the amplitudes (N, 3)."""
    if g.grain_rgb is None:
        raise ValueError("this generator has no output grain to calibrate")
    n = g.config.semantic_nc
    k = g.config.grain_channels
    g.grain_rgb.zero_()
    sums = {name: torch.zeros(n, 3, dtype=torch.float64) for name in ("clean", "real", "unit")}
    pixels = torch.zeros(n, dtype=torch.float64)
    for labels, noise, real in batches:
        labels = labels.to(noise.device)
        onehot = F.one_hot(labels.long(), n).permute(0, 3, 1, 2).float()
        grain = grain_of_dense(noise, k).to(noise.device)
        clean = g(onehot, noise, grain).float()
        for name, images in (("clean", clean), ("real", real), ("unit", (1 - clean.square()) * grain[:, 1:4])):
            s, px = highpass_sums(images, labels, n)
            sums[name] += s.double().cpu()
        pixels += px.double().cpu()
    count = pixels.clamp_min(1.0)[:, None]
    e_clean, e_real, unit = (sums[name] / count for name in ("clean", "real", "unit"))
    amp = ((e_real - e_clean - QUANTISATION).clamp_min(0.0) / unit.clamp_min(1e-12)).sqrt()
    amp[pixels < MIN_PIXELS] = 0.0
    if ignore is not None and 0 <= ignore < n:
        amp[ignore] = 0.0
    g.grain_rgb.copy_(amp.to(g.grain_rgb))
    return amp.float()
