"""The sky layers: the sky gradient (or a sky box), clouds, and a far mountain range on the horizon."""

from __future__ import annotations

import math

import numpy as np

from train.landscapes.frame import CLOUD, MOUNTAIN, SKY, SNOW, Frame
from train.landscapes.shapes import box_blur_1d, hsv_jitter, midpoint_ridge, noise_tiles, smoothstep
from train.landscapes.textures import bilinear


def draw_sky(frame: Frame) -> None:
    rng = frame.rng
    H = frame.H
    hy = frame.hy
    t = np.clip(frame.ys[:, 0] / max(hy, 1.0), 0.0, 1.0)
    if frame.bank.skies and rng.random() < 0.35 and frame.mood in ("clear", "hazy", "overcast"):
        prof = frame.bank.skies[int(rng.integers(len(frame.bank.skies)))]
        rows = np.interp(t * 0.95, np.linspace(0, 1, len(prof)), np.arange(len(prof)))
        base = prof[rows.astype(int)]
        base = base + (frame.horizon - base) * (smoothstep(0.55, 1.0, t) ** 1.5)[:, None]
    else:
        g = (t ** rng.uniform(1.2, 2.6))[:, None]
        base = frame.zenith + (frame.horizon - frame.zenith) * g
    col = np.broadcast_to(base[:, None, :], (H, frame.W, 3)).copy()
    # sun glow
    if frame.mood != "overcast":
        sx = frame.W * (0.5 + 0.45 * frame.sun_x * rng.uniform(0.5, 1.1))
        sy = hy * rng.uniform(0.1, 0.85)
        d = np.hypot(frame.xs - sx, frame.ys - sy) / frame.W
        glow = np.exp(-d * rng.uniform(3.0, 7.0))[..., None] * rng.uniform(0.1, 0.35)
        col += glow * (frame.sun_col - col * 0.5)
    # a faint large-scale variation
    n1, _ = noise_tiles(rng, 64, 3.5)
    var = bilinear(n1, frame.xs.ravel() * 64 / frame.W, frame.ys.ravel() * 64 / frame.H).reshape(H, frame.W)
    col *= (1.0 + 0.025 * var)[..., None]
    frame.haze_col = np.asarray(base[min(int(hy), H - 1)], dtype=np.float32).copy()
    frame.img[:] = col
    frame.lab[:] = SKY


def draw_clouds(frame: Frame) -> None:
    rng = frame.rng
    if frame.cloud_cover < 0.03:
        return
    W = frame.W
    top = int(min(frame.H, math.ceil(frame.hy)))
    if top < 2:
        return
    ys = frame.ys[:top]
    xs = frame.xs[:top]
    hy = max(frame.hy, 1.0)
    yy = np.maximum(hy - ys, 0.5) / hy  # 1 at the top of the frame, 0 at the horizon
    # a cloud layer seen in perspective, softened so that the horizon does not alias
    soft = rng.uniform(0.25, 0.45)
    zc = (1.0 + soft) / (yy + soft)
    u = (xs - W / 2) / frame.f * zc
    scale = rng.uniform(90.0, 200.0)
    ox, oy = rng.uniform(0, 512, 2)
    tex = frame.bank.clouds[int(rng.integers(len(frame.bank.clouds)))]
    n1, n2 = noise_tiles(rng, 128, 3.2)
    s = (u * scale + ox).ravel()
    t = (zc * scale * rng.uniform(1.0, 1.5) + oy).ravel()
    dens = 0.8 * bilinear(tex, s, t) + 0.5 * bilinear(n1, s * 0.4, t * 0.4) + 0.25 * bilinear(n2, s * 2, t * 2)
    dens = dens.reshape(top, W)
    thr = float(np.quantile(dens, 1.0 - frame.cloud_cover))
    soft_edge = rng.uniform(0.15, 0.45)
    alpha = smoothstep(thr - soft_edge * 0.3, thr + soft_edge, dens)
    # shading: sunlit tops (density rising upwards), darker thick bases, a silver lining at thin edges
    grad = np.zeros_like(dens)
    grad[1:-1] = dens[:-2] - dens[2:]
    thick = np.clip((dens - thr) / 1.5, 0, 1)
    detail = bilinear(tex, s * 2.3 + 91, t * 2.3).reshape(top, W)
    lit = 0.9 - 0.45 * thick + 0.2 * np.tanh(-grad * 3.0) + 0.12 * np.clip(detail, -2, 2)
    if frame.mood == "overcast":
        lit = 0.7 + (lit - 0.7) * 0.6
    white = (0.6 + 0.4 * frame.sun_col) * (1.05 if frame.mood != "overcast" else 0.85)
    shadow = 0.55 * frame.zenith + 0.45 * np.array([0.55, 0.55, 0.6], np.float32)
    c_lit = np.clip(lit, 0, 1)[..., None]
    cloud_col = shadow + (white - shadow) * c_lit
    # distant clouds fade into the horizon haze
    fade = (1.0 - yy) ** 3
    cloud_col = cloud_col + (frame.horizon - cloud_col) * (0.6 * fade)[..., None]
    sky = frame.img[:top]
    frame.img[:top] = sky + (cloud_col - sky) * alpha[..., None]
    frame.lab[:top][alpha >= 0.5] = CLOUD


def draw_far_range(frame: Frame) -> None:
    """A distant, hazy mountain silhouette (1-D midpoint displacement ridge) behind everything else."""
    rng = frame.rng
    W = frame.W
    hy = frame.hy
    dist = rng.uniform(40000, 90000)
    height = max(hy, 8.0) * rng.uniform(0.08, 0.3)
    ridge = midpoint_ridge(rng, W, rng.uniform(0.45, 0.6))
    ridge = (ridge - ridge.min()) / (np.ptp(ridge) + 1e-9)
    top = hy - height * (0.2 + 0.8 * ridge)
    mask = (frame.ys >= top[None, :]) & (frame.ys < hy + 1.0)
    if not mask.any():
        return
    yi, xi = np.nonzero(mask)
    slope = np.gradient(box_blur_1d(top, 2))
    xd = np.clip((xi + (frame.ys[yi, xi] - top[xi]) * 0.7 * np.sign(slope[xi])).astype(int), 0, W - 1)
    nx = np.tanh(-slope[xd] * 1.2)
    shade = 0.75 + 0.25 * nx * frame.sun_x
    base = hsv_jitter((0.40, 0.42, 0.48), rng, 0.05, 0.2, 0.15)
    col = base[None, :] * shade[:, None]
    below = (frame.ys[yi, xi] - top[xi]) / max(height, 1.0)
    labels = np.full(len(yi), MOUNTAIN, np.uint8)
    if frame.has_snow and rng.random() < 0.7:
        snow = below < rng.uniform(0.1, 0.35) + 0.05 * np.sin(xi * 0.7)
        col[snow] = np.array([0.92, 0.94, 0.98], np.float32) * shade[snow, None]
        labels[snow] = SNOW
    col = frame.haze(col, dist)
    frame.img[yi, xi] = col
    frame.lab[yi, xi] = labels
    frame.dist[yi, xi] = dist
