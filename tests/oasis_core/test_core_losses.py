"""OASIS losses against small cases computed by hand (numpy / math, not the functions under test)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from oasis_core import losses

# one image of 2x3 pixels, label channels 0 (don't care), 1, 2; channel 3 is absent
LABELS = torch.tensor([[[0, 1, 1], [2, 2, 2]]])


def test_class_counts() -> None:
    counts = losses.class_counts(LABELS, 4)
    assert counts.dtype == torch.float64
    assert counts.tolist() == [1, 2, 3, 0]


def test_class_weights_formula_with_dont_care() -> None:
    # w_c = B*H*W / (n_present * count_c): 6 pixels, 2 classes present besides don't care
    w = losses.class_weights(losses.class_counts(LABELS, 4), dont_care=0)
    assert w.tolist() == [0.0, 6 / (2 * 2), 6 / (2 * 3), 0.0]


def test_class_weights_without_dont_care() -> None:
    w = losses.class_weights(losses.class_counts(LABELS, 4), dont_care=None)
    torch.testing.assert_close(w, torch.tensor([6 / (3 * 1), 6 / (3 * 2), 6 / (3 * 3), 0.0]))


def test_class_weights_over_a_batch_and_summed_counts() -> None:
    labels = torch.tensor([[[1, 1], [1, 1]], [[1, 2], [0, 0]]])  # 8 pixels: five 1, one 2, two don't care
    w = losses.class_weights(losses.class_counts(labels, 3), dont_care=0)
    torch.testing.assert_close(w, torch.tensor([0.0, 8 / (2 * 5), 8 / (2 * 1)]))
    # counts summed over ranks (global batch) give the weights of the concatenated batch
    per_rank = losses.class_counts(labels[:1], 3) + losses.class_counts(labels[1:], 3)
    torch.testing.assert_close(losses.class_weights(per_rank, dont_care=0), w)


def test_class_weights_all_dont_care_gives_zero_weights() -> None:
    w = losses.class_weights(losses.class_counts(torch.zeros(1, 2, 2, dtype=torch.long), 3), dont_care=0)
    assert w.tolist() == [0.0, 0.0, 0.0]


def _ce(logits: np.ndarray, target: int) -> float:
    """-log softmax(logits)[target], written out."""
    return -(logits[target] - math.log(sum(math.exp(v) for v in logits)))


def test_weighted_real_ce_by_hand() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 4, 2, 3)).astype(np.float32)  # channels: fake, c0, c1, c2
    weights = [0.0, 1.5, 1.0]
    total = 0.0
    for y in range(2):
        for x in range(3):
            c = int(LABELS[0, y, x])
            total += weights[c] * _ce(logits[0, :, y, x].astype(np.float64), c + 1)
    want = total / 6  # mean over every pixel, don't care included (with weight 0)
    got = losses.weighted_real_ce(torch.from_numpy(logits), LABELS, torch.tensor(weights))
    assert got.item() == pytest.approx(want, rel=1e-5)
    assert losses.generator_loss(torch.from_numpy(logits), LABELS, torch.tensor(weights)).item() == got.item()


def test_balanced_weights_make_uniform_logits_cost_log_n() -> None:
    # with class-balancing weights the weights of the labelled pixels sum to the pixel count
    logits = torch.zeros(1, 4, 2, 3)
    w = losses.class_weights(losses.class_counts(LABELS, 3), dont_care=0)
    assert losses.weighted_real_ce(logits, LABELS, w).item() == pytest.approx(math.log(4), rel=1e-6)


def test_fake_ce_by_hand() -> None:
    logits = torch.zeros(2, 4, 3, 3)
    assert losses.fake_ce(logits).item() == pytest.approx(math.log(4), rel=1e-6)
    logits[:, 0] = 2.0
    assert losses.fake_ce(logits).item() == pytest.approx(math.log(math.exp(2) + 3) - 2, rel=1e-6)


def test_labelmix_mask_one_coin_per_class_shared_across_the_batch() -> None:
    labels = torch.tensor([[[0, 1, 2, 2], [3, 3, 1, 0]], [[2, 2, 2, 5], [1, 0, 5, 5]]])
    for seed in range(20):
        mask = losses.labelmix_mask(labels, torch.Generator().manual_seed(seed))
        assert mask.shape == (2, 1, 2, 4) and mask.dtype == torch.float32
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        for c in labels.unique():
            values = mask[:, 0][labels == c]
            assert (values == values[0]).all(), f"class {int(c)} got two coins (seed {seed})"
    first = losses.labelmix_mask(labels, torch.Generator().manual_seed(3))
    assert torch.equal(first, losses.labelmix_mask(labels, torch.Generator().manual_seed(3)))


def test_labelmix_coins_are_fair_and_independent() -> None:
    labels = torch.tensor([[[0, 1], [2, 3]]])
    g = torch.Generator().manual_seed(0)
    coins = torch.stack([losses.labelmix_mask(labels, g)[0, 0].flatten() for _ in range(4000)])  # (trials, class)
    assert ((coins.mean(0) - 0.5).abs() < 0.04).all()
    # classes 0 and 1 agree half the time (the official code couples them: about 74%)
    agree = (coins[:, 0] == coins[:, 1]).float().mean().item()
    assert abs(agree - 0.5) < 0.04


def test_labelmix_mixes_by_the_mask() -> None:
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    real = torch.full((1, 3, 2, 2), 2.0)
    fake = torch.full((1, 3, 2, 2), -1.0)
    mixed = losses.labelmix(mask, real, fake)
    assert mixed[0, :, 0, 0].tolist() == [2.0] * 3 and mixed[0, :, 0, 1].tolist() == [-1.0] * 3
    assert mixed[0, :, 1, 0].tolist() == [-1.0] * 3 and mixed[0, :, 1, 1].tolist() == [2.0] * 3


def test_labelmix_consistency_by_hand() -> None:
    mask = torch.tensor([[[[1.0, 0.0]]]])  # (1, 1, 1, 2)
    real = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    fake = torch.tensor([[[[5.0, 6.0]], [[7.0, 8.0]]]])
    mixed_logits = torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]]]])
    # target = [[1, 6], [3, 8]]: MSE = (1 + 36 + 9 + 64) / 4
    got = losses.labelmix_consistency(mixed_logits, real, fake, mask)
    assert got.item() == pytest.approx(110 / 4)


def test_discriminator_loss_total_is_the_sum_of_its_parts() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (2, 8, 8), generator=g)
    fake = torch.randn(2, 5, 8, 8, generator=g, requires_grad=True)
    real = torch.randn(2, 5, 8, 8, generator=g, requires_grad=True)
    mixed = torch.randn(2, 5, 8, 8, generator=g, requires_grad=True)
    mask = losses.labelmix_mask(labels, g)
    w = losses.class_weights(losses.class_counts(labels, 4), dont_care=0)

    total, parts = losses.discriminator_loss(fake, real, labels, w, lambda_labelmix=10.0, mixed_logits=mixed, mask=mask)
    assert set(parts) == {"d_fake", "d_real", "d_labelmix"}
    assert all(not p.requires_grad for p in parts.values())
    assert parts["d_fake"].item() == pytest.approx(losses.fake_ce(fake).item())
    assert parts["d_real"].item() == pytest.approx(losses.weighted_real_ce(real, labels, w).item())
    lm = losses.labelmix_consistency(mixed, real, fake, mask).item()
    assert parts["d_labelmix"].item() == pytest.approx(lm)
    assert total.item() == pytest.approx(parts["d_fake"].item() + parts["d_real"].item() + 10.0 * lm, rel=1e-6)

    total.backward()  # nothing is detached: the LabelMix term reaches the real and fake logits too
    assert mixed.grad is not None and mixed.grad.abs().sum() > 0
    g_lm = torch.autograd.grad(losses.labelmix_consistency(mixed, real, fake, mask), [real, fake])
    assert all(x.abs().sum() > 0 for x in g_lm)

    without, parts0 = losses.discriminator_loss(fake, real, labels, w)
    assert set(parts0) == {"d_fake", "d_real"}
    assert without.item() == pytest.approx(parts["d_fake"].item() + parts["d_real"].item(), rel=1e-6)
    with pytest.raises(ValueError, match="LabelMix needs"):
        losses.discriminator_loss(fake, real, labels, w, lambda_labelmix=10.0)
