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


def reroll_diversity(
    a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor, far: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For outputs ``a``, ``b`` (B, C, H, W) of the same label maps with noise ``za``, ``zb`` (B, z, H, W) that
    differ only inside a region (a reroll): per sample, the change inside the region per unit of noise change
    there (``mean |a - b| / mean |za - zb|``, both over the region), and the change more than ``far`` px outside
    the region in the same unit (0 where no pixel is that far). Two (B,) float32 tensors."""
    dz = (za.float() - zb.float()).abs()
    region = (dz.amax(1, keepdim=True) > 0).float()  # (B, 1, H, W): where the noise was rerolled
    dx = (a.float() - b.float()).abs().mean(1, keepdim=True)
    area = region.sum((1, 2, 3)).clamp_min(1.0)
    unit = ((dz.mean(1, keepdim=True) * region).sum((1, 2, 3)) / area).clamp_min(1e-8)
    inside = (dx * region).sum((1, 2, 3)) / area / unit
    outside = 1.0 - torch.nn.functional.max_pool2d(region, 2 * far + 1, 1, far)
    leak = (dx * outside).sum((1, 2, 3)) / outside.sum((1, 2, 3)).clamp_min(1.0) / unit
    return inside, leak


def diversity_ratio(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """Per sample ``mean |a - b| / mean |za - zb|``: how far two outputs for the same label map move apart per unit
    of noise distance (the diversity-sensitive term of Yang et al., ICLR 2019; not part of OASIS). (B,) float32."""
    num = (a.float() - b.float()).abs().flatten(1).mean(1)
    den = (za.float() - zb.float()).abs().flatten(1).mean(1)
    return num / den.clamp_min(1e-8)
