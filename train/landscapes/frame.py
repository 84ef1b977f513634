"""The frame state every layer shares: the label values, the scene plan drawn from the seed (horizon, camera,
light, mood, what the scene holds), and the image, label and distance buffers the layers paint into."""

from __future__ import annotations

import math

import numpy as np

from oasis_core.labels import LabelSpace, landscapes
from train.landscapes.shapes import hsv_jitter
from train.landscapes.textures import Texture, TextureBank

SKY, CLOUD, MOUNTAIN, ROCK, SNOW, WATER, GRASS, SAND, TREE, DIRT = range(10)

LABEL_SPACE: LabelSpace = landscapes()
FAR = 1.0e8  # distance of the sky, metres

_MOODS = {
    # name: (zenith, horizon, sun colour, ambient strength, warmth)
    "clear": ((0.22, 0.45, 0.82), (0.72, 0.82, 0.92), (1.0, 0.97, 0.9), 0.45, 0.0),
    "hazy": ((0.42, 0.58, 0.80), (0.82, 0.85, 0.88), (1.0, 0.96, 0.88), 0.55, 0.02),
    "overcast": ((0.55, 0.58, 0.62), (0.78, 0.79, 0.80), (0.85, 0.86, 0.88), 0.75, 0.0),
    "golden": ((0.30, 0.42, 0.70), (0.98, 0.78, 0.52), (1.0, 0.78, 0.52), 0.40, 0.10),
    "dusk": ((0.16, 0.20, 0.40), (0.90, 0.55, 0.42), (0.95, 0.6, 0.45), 0.50, 0.06),
}
_MOOD_P = {"clear": 0.42, "hazy": 0.2, "overcast": 0.14, "golden": 0.18, "dusk": 0.06}


class Frame:
    """The state every layer of one scene reads and writes: the random generator, the scene plan (horizon, camera,
    light, mood, what the scene holds), and the image, label and distance buffers the layers paint into."""

    def __init__(self, seed: int, size: tuple[int, int], bank: TextureBank) -> None:
        self.rng = np.random.default_rng(seed)
        self.bank = bank
        self.H, self.W = int(size[0]), int(size[1])
        if self.H < 16 or self.W < 16:
            raise ValueError(f"scene size must be at least 16x16, got {size}")
        H, W = self.H, self.W
        self.img = np.zeros((H, W, 3), dtype=np.float32)
        self.lab = np.zeros((H, W), dtype=np.uint8)
        self.dist = np.full((H, W), FAR, dtype=np.float32)  # metres from the camera (sky: FAR)
        self.ys, self.xs = np.mgrid[0:H, 0:W].astype(np.float32)
        self.xs += 0.5
        self.ys += 0.5
        self._plan()

    def _plan(self) -> None:
        rng = self.rng
        H, W = self.H, self.W
        self.hy = H * rng.uniform(0.36, 0.62)  # horizon row
        self.f = W * rng.uniform(0.85, 1.35)  # focal length in pixels
        self.cam_h = rng.uniform(1.4, 3.5)  # camera height, metres
        self.mood = str(rng.choice(list(_MOOD_P), p=list(_MOOD_P.values())))
        zen, hor, sun, amb, warm = _MOODS[self.mood]
        self.zenith = hsv_jitter(zen, rng, 0.12, 0.2, 0.1)
        self.horizon = hsv_jitter(hor, rng, 0.08, 0.2, 0.06)
        self.sun_col = np.array(sun, dtype=np.float32)
        self.ambient = amb
        self.warmth = warm + rng.uniform(-0.04, 0.04)
        self.sun_x = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)  # light from the left (<0) or right
        low = self.mood in ("golden", "dusk")
        elev = math.radians(rng.uniform(5, 20) if low else rng.uniform(20, 60))
        az_z = rng.uniform(-1.0, 0.6)  # < 0: the sun is behind the camera (front-lit scene)
        hor = np.array([self.sun_x, az_z])
        hor = hor / np.linalg.norm(hor) * math.cos(elev)
        self.sun_dir = np.array([hor[0], math.sin(elev), hor[1]], np.float32)
        self.amb_col = (0.55 * self.zenith + 0.45 * self.horizon) / max(float(self.horizon.mean()), 0.3)
        self.amb_col = np.clip(self.amb_col, 0.5, 1.3).astype(np.float32)
        vis = {"hazy": (6000, 18000), "overcast": (12000, 40000)}.get(self.mood, (25000, 80000))
        self.visibility = rng.uniform(*vis)
        self.snow_frac = rng.uniform(0.22, 0.62)
        self.snow_tex = self.bank.pick(rng, "snow")
        cover = {"clear": (0.0, 0.35), "hazy": (0.0, 0.3), "overcast": (0.55, 0.95), "golden": (0.1, 0.5)}
        self.cloud_cover = rng.uniform(*cover.get(self.mood, (0.1, 0.5)))
        self.has_mountains = rng.random() < 0.72
        self.has_snow = self.has_mountains and rng.random() < 0.68
        self.has_hills = rng.random() < 0.55
        self.far_range = rng.random() < 0.35
        r = rng.random()
        self.water_kind = "lake" if r < 0.5 else ("sea" if r < 0.62 else "none")
        r = rng.random()
        self.ground_kind = "grass" if r < 0.74 else ("sand" if r < 0.84 else ("dirt" if r < 0.93 else "rock"))
        self.forest = rng.random() < 0.72
        self.path = rng.random() < 0.3
        self.dirt_patches = rng.random() < 0.4
        self.rock_patches = rng.random() < 0.3
        self.boulders = rng.random() < 0.45
        self.conifer_share = rng.uniform(0, 1) ** 0.7
        self.autumn = rng.random() < 0.08

    def haze(self, colour: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
        t = 1.0 - np.exp(-np.asarray(depth, dtype=np.float32) / self.visibility)
        t = np.asarray(t, dtype=np.float32)
        if t.ndim:
            t = t[..., None]
        return colour + (self.haze_col - colour) * t

    def light(self, n_x: np.ndarray, n_up: np.ndarray | float = 0.4) -> np.ndarray:
        """Lambert-ish factor from a horizontal normal component and an upward component."""
        d = np.clip(n_x * self.sun_x * 0.8 + np.asarray(n_up) * 0.6, 0.0, None)
        return (self.ambient + (1.0 - self.ambient) * d)[..., None] * (0.35 + 0.65 * self.sun_col)

    def tex_screen(self, tex: Texture, xs: np.ndarray, ys: np.ndarray, scale: float) -> np.ndarray:
        """Sample a texture at screen positions with ``scale`` texels per pixel."""
        lod = max(0.0, math.log2(max(scale, 1e-6)))
        return tex.sample(xs * scale, ys * scale, lod)

    def grass_colour(self) -> np.ndarray:
        if not hasattr(self, "_grass_c"):
            dry = self.rng.uniform(0, 1) ** 2
            c = np.array([0.30, 0.45, 0.16]) * (1 - dry) + np.array([0.55, 0.52, 0.28]) * dry
            self._grass_c = hsv_jitter(c, self.rng, 0.08, 0.2, 0.15)
        return self._grass_c

    def tree_colour(self) -> np.ndarray:
        if not hasattr(self, "_tree_c"):
            c = np.array([0.13, 0.24, 0.10])
            if self.autumn:
                c = np.array([0.45, 0.28, 0.08])
            self._tree_c = hsv_jitter(c, self.rng, 0.1, 0.2, 0.15)
        return self._tree_c
