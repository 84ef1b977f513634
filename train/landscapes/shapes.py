"""Random shapes the layers are built from: power-law noise tiles, midpoint-displacement ridges, smooth steps,
blurs and colour jitter (numpy only, every draw from the scene's generator)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def spectrum(n: int, beta: float) -> np.ndarray:
    f = np.fft.fftfreq(n)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1.0
    amp = r ** (-beta / 2.0)
    amp[0, 0] = 0.0
    return amp


def noise_tiles(rng: np.random.Generator, n: int = 128, beta: float = 3.2) -> tuple[np.ndarray, np.ndarray]:
    """Two independent periodic fractal noise tiles (n, n), zero mean, unit std (1/f^beta power spectrum)."""
    white = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    field = np.fft.ifft2(white * spectrum(n, beta))
    a = field.real
    b = field.imag
    return (
        ((a - a.mean()) / (a.std() + 1e-9)).astype(np.float32),
        ((b - b.mean()) / (b.std() + 1e-9)).astype(np.float32),
    )


def midpoint_ridge(rng: np.random.Generator, n: int, roughness: float, levels: int = 9) -> np.ndarray:
    """1-D fractal midpoint displacement: ``n`` samples, roughly in -1..1."""
    pts = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)])
    amp = 1.0
    for _ in range(levels):
        mids = 0.5 * (pts[:-1] + pts[1:]) + rng.uniform(-amp, amp, size=len(pts) - 1)
        new = np.empty(len(pts) * 2 - 1)
        new[0::2] = pts
        new[1::2] = mids
        pts = new
        amp *= roughness
    xs = np.linspace(0, len(pts) - 1, n)
    out = np.interp(xs, np.arange(len(pts)), pts)
    return out / (np.abs(out).max() + 1e-9)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def box_blur_1d(a: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return a
    k = np.ones(2 * r + 1) / (2 * r + 1)
    return np.convolve(np.pad(a, r, mode="edge"), k, mode="valid")


def hsv_jitter(rgb: np.ndarray, rng: np.random.Generator, hue: float, sat: float, val: float) -> np.ndarray:
    """Random gain on a colour: a hue rotation (small), a saturation and a brightness factor."""
    c = np.asarray(rgb, dtype=np.float32)
    grey = c.mean()
    c = grey + (c - grey) * rng.uniform(1 - sat, 1 + sat)
    h = rng.uniform(-hue, hue)
    # rotate around the grey axis (small angles)
    k = np.array([1.0, 1.0, 1.0]) / math.sqrt(3.0)
    c = c * math.cos(h) + np.cross(k, c) * math.sin(h) + k * np.dot(k, c) * (1 - math.cos(h))
    return np.clip(c * rng.uniform(1 - val, 1 + val), 0.0, 1.5).astype(np.float32)
