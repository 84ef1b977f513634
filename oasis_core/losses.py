"""OASIS losses as pure functions of network outputs and labels.

Shapes: logits ``(B, N+1, H, W)`` with channel 0 = "fake" and channel c+1 = label channel c; labels ``(B, H, W)``
int64 label channels; one-hot maps ``(B, N, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_counts(labels: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Pixel count per label channel over the batch, float64 ``(num_channels,)``."""
    return torch.bincount(labels.reshape(-1), minlength=num_channels).double()


def class_weights(counts: torch.Tensor, dont_care: int | None) -> torch.Tensor:
    """``w_c = total / (n_present * count_c)`` for present classes; absent classes and don't care get 0.

    ``counts`` may be summed over all ranks first (class weights over the global batch). ``total`` counts every
    pixel, don't care included, as the paper does.
    """
    counts = counts.double()
    total = counts.sum()
    present = counts > 0
    if dont_care is not None:
        present[dont_care] = False
    n_present = present.sum().clamp(min=1)
    w = torch.zeros_like(counts)
    w[present] = total / (n_present * counts[present])
    return w.float()


def weighted_real_ce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class-balanced cross-entropy towards label channel c -> logit channel c+1, mean over all pixels."""
    ce = F.cross_entropy(logits.float(), labels + 1, reduction="none")
    return (ce * weights.to(ce.device)[labels]).mean()


def fake_ce(logits: torch.Tensor) -> torch.Tensor:
    """Unweighted cross-entropy of every pixel towards the fake channel 0."""
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


def generator_loss(fake_logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L_G: the generated image should be segmented as its label map (weighted CE)."""
    return weighted_real_ce(fake_logits, labels, weights)


def labelmix_mask(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """LabelMix mask ``(B, 1, H, W)``: one fair coin per label channel present in the batch, shared by all images.

    ``generator`` must live on the labels' device when given.
    """
    present = torch.unique(labels)
    coins = torch.randint(0, 2, (int(present.max()) + 1,), generator=generator, device=labels.device)
    return coins[labels].unsqueeze(1).float()


def labelmix(mask: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``mask * real + (1 - mask) * fake`` (used on images and on logits)."""
    return mask * real + (1 - mask) * fake


def labelmix_consistency(
    mixed_logits: torch.Tensor, real_logits: torch.Tensor, fake_logits: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """MSE between D(LabelMix(real, fake)) and LabelMix(D(real), D(fake)) on raw logits; nothing detached."""
    return F.mse_loss(mixed_logits.float(), labelmix(mask, real_logits.float(), fake_logits.float()))


def discriminator_loss(
    fake_logits: torch.Tensor,
    real_logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    lambda_labelmix: float = 0.0,
    mixed_logits: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_D = CE(D(fake), fake) + weighted CE(D(real), labels) + lambda_LM * LabelMix consistency.

    Returns the total and its parts (detached) for logging.
    """
    l_fake = fake_ce(fake_logits)
    l_real = weighted_real_ce(real_logits, labels, weights)
    total = l_fake + l_real
    parts = {"d_fake": l_fake.detach(), "d_real": l_real.detach()}
    if lambda_labelmix > 0:
        if mixed_logits is None or mask is None:
            raise ValueError("LabelMix needs the mixed logits and the mask")
        l_lm = labelmix_consistency(mixed_logits, real_logits, fake_logits, mask)
        total = total + lambda_labelmix * l_lm
        parts["d_labelmix"] = l_lm.detach()
    return total, parts


def diversity_ratio(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """Per sample ``mean |a - b| / mean |za - zb|``: how far two outputs for the same label map move apart per unit
    of noise distance (the diversity-sensitive term of Yang et al., ICLR 2019; not part of OASIS). (B,) float32."""
    num = (a.float() - b.float()).abs().flatten(1).mean(1)
    den = (za.float() - zb.float()).abs().flatten(1).mean(1)
    return num / den.clamp_min(1e-8)


# one 8-bit level in the [-1, 1] image range; quantising to it adds a uniform error of variance LEVEL**2 / 12
LEVEL = 2.0 / 255.0
MIN_MATCH_PIXELS = 256  # a class's interior pixels in the batch below which its energy is not compared


def highpass_energy(images: torch.Tensor, labels: torch.Tensor, num_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class and colour channel, the mean square of the image minus its 3x3 box mean, over the class's pixels
    whose 3x3 neighbourhood lies in the class (class edges are not texture): ``(energy (N, 3), pixels (N,))``.
    ``images`` (B, 3, H, W) float in [-1, 1]; ``labels`` (B, H, W) int64 channel ids in ``[0, num_channels)``."""
    x = images.float()
    r = x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    masks = F.one_hot(labels, num_channels).permute(0, 3, 1, 2).float()
    inner = 1.0 - F.max_pool2d(1.0 - masks, 3, 1, 1)  # eroded by one pixel from other classes (not the border)
    pixels = inner.sum((0, 2, 3))
    energy = torch.einsum("bchw,bkhw->ck", inner, r.square()) / pixels.clamp_min(1.0)[:, None]
    return energy, pixels


def grain_probe(fake: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """For ``fake = tanh(y + noise)``: a tensor with the fake's value whose gradient reaches ``noise`` exactly as the
    fake's would (``1 - fake**2``) and nothing else: a loss on it moves only what ``noise`` depends on."""
    f = fake.detach().float()
    return f + (1.0 - f.square()) * (noise - noise.detach())


def grain_match_loss(
    fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor, num_channels: int, ignore: int | None = None
) -> torch.Tensor:
    """Mean over classes (with enough interior pixels) and colour channels of the squared log ratio of the fake's
    and the real images' :func:`highpass_energy`: the pixel-level noise of each class region, compared on the same
    label maps. The fake gets the variance 8-bit quantisation adds to what is saved and shown (the real images
    have it). Not in OASIS: it calibrates the output grain's amplitudes (the training loop lets its gradient reach
    only them)."""
    ef, n = highpass_energy(fake, labels, num_channels)
    er, _ = highpass_energy(real, labels, num_channels)
    q = LEVEL**2 / 12 * (8 / 9)  # quantisation's share of the high-pass energy (1 - 1/9 of a white variance)
    keep = n >= MIN_MATCH_PIXELS
    if ignore is not None and 0 <= ignore < num_channels:
        keep[ignore] = False
    if not bool(keep.any()):  # nothing to compare: zero, still connected to the fake (DDP expects a gradient)
        return fake.float().sum() * 0.0
    eps = q / 8  # keeps the logarithm finite for a flat region
    return (torch.log(ef[keep] + q + eps) - torch.log(er[keep] + eps)).square().mean()
