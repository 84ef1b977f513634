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

That is the ``energy`` estimate: it fills *all* of the high-pass energy the generated images lack with noise. On the
landscapes, whose only fine-scale content besides edges is the renderer's noise, that is the noise. On photographs
(CamVid, facades) most of the high-pass energy is structure (window frames, leaves, kerbs) that the generator does not
yet draw, and white noise standing in for it makes grainy images whose row and column profiles jitter (the streak
measure rose from 1.1 to 1.7 on CamVid). The ``noise`` estimate (the default) measures only the pixel noise: the
finest diagonal Haar detail ``(a - b - c + d) / 2`` of each 2x2 block has the noise's standard deviation for white
noise and is near zero on smooth shading, and the median of its magnitude (``sigma = median |d| / 0.6745``, the
wavelet noise estimate of Donoho and Johnstone) is barely moved by the few large values edges and structure give.
Measured on 40 validation images (8-bit levels, grey): CamVid sky 1.6 high-pass RMS against a noise sigma of 0.25,
building 8.9 against 1.7, road 3.0 against 1.0, tree 14 against 8.7; facades wall 8.9 against 1.5. Both images are
dithered by half a level before the median, so 8-bit steps do not quantise it, and the amplitude again comes in
closed form from the three estimates (real, generated, unit noise).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from oasis_core.nn import Generator
from oasis_core.noise import grain_of_dense

LEVEL = 2.0 / 255.0  # one 8-bit level in the [-1, 1] image range
QUANTISATION = LEVEL**2 / 12 * (8 / 9)  # its uniform error's share of the high-pass energy (1 - 1/9 of its variance)
MIN_PIXELS = 256  # a class with fewer interior pixels (2x2 blocks for "noise") in the sample keeps a zero amplitude
METHODS = ("noise", "energy")
MAD_GAUSSIAN = 0.6745  # median |x| of a standard normal x


def _interior(labels: torch.Tensor, num_channels: int) -> torch.Tensor:
    """(B, N, H, W) float: each class's pixels whose 3x3 neighbourhood lies in the class (eroded by one pixel from the
    other classes; the image border counts as inside)."""
    masks = F.one_hot(labels.long(), num_channels).permute(0, 3, 1, 2).float()
    return 1.0 - F.max_pool2d(1.0 - masks, 3, 1, 1)


def highpass_sums(images: torch.Tensor, labels: torch.Tensor, num_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class and colour channel, the sum of squares of the image minus its 3x3 box mean over the class's pixels
    whose 3x3 neighbourhood lies in the class (class edges are not texture; the image border counts as inside):
    ``(sums (N, C), pixels (N,))``. ``images`` (B, C, H, W) float; ``labels`` (B, H, W) channel ids."""
    x = images.float()
    r = x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    inner = _interior(labels, num_channels)
    return torch.einsum("bchw,bkhw->ck", inner, r.square()), inner.sum((0, 2, 3))


def diagonal_details(images: torch.Tensor, labels: torch.Tensor, num_channels: int) -> list[torch.Tensor | None]:
    """Per class, the finest diagonal Haar details ``(a - b - c + d) / 2`` of the 2x2 blocks (on the even grid)
    that lie inside the class's pixels whose 3x3 neighbourhood lies in the class: a (C, blocks) tensor, or None where
    the class has no such block. ``images`` (B, C, H, W) float; ``labels`` (B, H, W) channel ids. For white noise of
    standard deviation s the details have standard deviation s; smooth shading gives zero."""
    h, w = labels.shape[-2] // 2 * 2, labels.shape[-1] // 2 * 2
    x = images[..., :h, :w].float()
    d = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
    # (B, N, H/2, W/2): all four pixels inside
    blocks = (-F.max_pool2d(-_interior(labels[..., :h, :w], num_channels), 2)) > 0.5
    d = d.transpose(0, 1)  # (C, B, H/2, W/2)
    return [d[:, blocks[:, k]] if blocks[:, k].any() else None for k in range(num_channels)]


def robust_variance(details: torch.Tensor) -> torch.Tensor:
    """(C, n) details -> (C,) the variance of the white noise in them, ``(median |d| / 0.6745)^2``."""
    return (details.abs().median(dim=1).values / MAD_GAUSSIAN).square()


def _passes(g: Generator, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Per batch: (labels, {"clean": the generated images without output grain, "real": the real ones, "unit": the
    high-pass probe ``(1 - clean^2) * n`` of unit-amplitude output grain ``n``}), all (B, 3, H, W) fp32."""
    n, k = g.config.semantic_nc, g.config.grain_channels
    for labels, noise, real in batches:
        labels = labels.to(noise.device)
        onehot = F.one_hot(labels.long(), n).permute(0, 3, 1, 2).float()
        grain = grain_of_dense(noise, k).to(noise.device)
        clean = g(onehot, noise, grain).float()
        yield labels, {"clean": clean, "real": real.float(), "unit": (1 - clean.square()) * grain[:, 1:4]}


@torch.no_grad()
def calibrate_output_grain(
    g: Generator,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    ignore: int | None = None,
    method: str = "noise",
) -> torch.Tensor:
    """Set ``g.grain_rgb`` from ``batches`` of (label channels (B, H, W), noise (B, z, H, W), real images (B, 3, H, W)
    in [-1, 1]): each class and colour channel gets the amplitude that gives the generated images the real ones'
    pixel noise (``method="noise"``) or high-pass energy (``"energy"``); zero where they already have as much, for
    ``ignore`` and for classes with too few pixels. ``g`` runs as it is (eval mode for an EMA copy). Returns the
    amplitudes (N, 3)."""
    if g.grain_rgb is None:
        raise ValueError("this generator has no output grain to calibrate")
    if method not in METHODS:
        raise ValueError(f"unknown output grain estimate {method!r}: use one of {', '.join(METHODS)}")
    g.grain_rgb.zero_()  # the clean images
    estimate = _to_noise if method == "noise" else _to_energy
    amp = estimate(_passes(g, batches), g.config.semantic_nc)
    if ignore is not None and 0 <= ignore < len(amp):
        amp[ignore] = 0.0
    g.grain_rgb.copy_(amp.to(g.grain_rgb))
    return amp


def _to_energy(passes, n: int) -> torch.Tensor:
    sums = {name: torch.zeros(n, 3, dtype=torch.float64) for name in ("clean", "real", "unit")}
    pixels = torch.zeros(n, dtype=torch.float64)
    for labels, images in passes:
        for name, x in images.items():
            s, px = highpass_sums(x, labels, n)
            sums[name] += s.double().cpu()
        pixels += px.double().cpu()
    count = pixels.clamp_min(1.0)[:, None]
    e_clean, e_real, unit = (sums[name] / count for name in ("clean", "real", "unit"))
    amp = ((e_real - e_clean - QUANTISATION).clamp_min(0.0) / unit.clamp_min(1e-12)).sqrt()
    amp[pixels < MIN_PIXELS] = 0.0
    return amp.float()


def _to_noise(passes, n: int) -> torch.Tensor:
    details: dict[str, list[list[torch.Tensor]]] = {name: [[] for _ in range(n)] for name in ("clean", "real", "unit")}
    dither = torch.Generator().manual_seed(0x6D1)
    for labels, images in passes:
        for name, x in images.items():
            if name != "unit":  # half a level of dither, so that the median of 8-bit data is not a step function
                x = x + (torch.rand(x.shape, generator=dither) - 0.5).to(x) * LEVEL
            for c, d in enumerate(diagonal_details(x, labels, n)):
                if d is not None:
                    details[name][c].append(d.cpu())
    amp = torch.zeros(n, 3)
    for c in range(n):
        if sum(d.shape[1] for d in details["real"][c]) < MIN_PIXELS:
            continue
        v_real, v_clean, v_unit = (robust_variance(torch.cat(details[key][c], 1)) for key in ("real", "clean", "unit"))
        # the generated image is saved in 8 bits too: its quantisation (LEVEL^2 / 12 per detail) is the real one's
        amp[c] = ((v_real - v_clean - LEVEL**2 / 12).clamp_min(0.0) / v_unit.clamp_min(1e-12)).sqrt()
    return amp
