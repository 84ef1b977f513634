"""One scene: the layers in order, far to near, then the colour grade; :func:`render_scene` is the entry point."""

from __future__ import annotations

import numpy as np

from train.landscapes.frame import SKY, Frame
from train.landscapes.ground import draw_ground, draw_water
from train.landscapes.objects import draw_objects, place_objects
from train.landscapes.sky import draw_clouds, draw_far_range, draw_sky
from train.landscapes.terrain import draw_terrain
from train.landscapes.textures import TextureBank, default_bank


class Renderer(Frame):
    """One scene: the layers painted in order (far to near), then graded."""

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        draw_sky(self)
        draw_clouds(self)
        if self.far_range:
            draw_far_range(self)
        if self.has_mountains:
            draw_terrain(self, "mountain")
        if self.has_hills:
            draw_terrain(self, "hill")
        draw_ground(self)
        groups = place_objects(self)
        foliage = self.bank.pick(self.rng, "foliage")
        rock = self.bank.pick(self.rng, "rock")
        # objects behind the water's far edge are drawn first (and reflected); the rest after the water;
        # nothing stands on the water
        H, W = self.H, self.W
        water_top = np.where(self.water.any(0), self.water.argmax(0), H)
        behind, front = [], []
        for g in groups:
            yb, cx = g[2], g[3]
            xi = np.clip(cx, 0, W - 1).astype(np.int64)
            yi = np.clip(yb, 0, H - 1).astype(np.int64)
            keep = (yb < H + 0.5 * (H - self.hy)) & (cx > -W) & (cx < 2 * W) & ~self.water[yi, xi]
            back = keep & (yb <= water_top[xi])
            for sel, out in ((back, behind), (keep & ~back, front)):
                if sel.any():
                    out.append(tuple(a[sel] if isinstance(a, np.ndarray) else a for a in g))
        draw_objects(self, behind, foliage, rock)
        draw_water(self)
        draw_objects(self, front, foliage, rock)
        return self.grade(), self.lab.copy()

    def grade(self) -> np.ndarray:
        rng = self.rng
        img = self.img
        warm = self.warmth
        img = img * np.array([1 + warm, 1 + warm * 0.2, 1 - warm], np.float32)
        grey = img.mean(axis=2, keepdims=True)
        img = grey + (img - grey) * rng.uniform(0.8, 1.2)
        lum = img.mean(axis=2)
        key = float(np.median(lum[self.lab != SKY])) if (self.lab != SKY).any() else float(np.median(lum))
        target = rng.uniform(0.3, 0.45) if self.mood != "dusk" else rng.uniform(0.22, 0.32)
        img = img * float(np.clip(target / max(key, 1e-3), 0.8, 2.2))
        c = rng.uniform(0.9, 1.2)
        img = 0.5 + (img - 0.5) * c
        vig = rng.uniform(0.0, 0.25)
        if vig > 0:
            d = ((self.xs / self.W - 0.5) ** 2 + (self.ys / self.H - 0.5) ** 2) * 2
            img = img * (1 - vig * d)[..., None]
        img = img + rng.normal(0, 0.008, img.shape).astype(np.float32)
        knee = 0.72
        hi = img > knee
        img[hi] = knee + (1 - knee) * (1 - np.exp(-(img[hi] - knee) / (1 - knee)))
        return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_scene(
    seed: int, size: tuple[int, int] = (256, 256), textures: TextureBank | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render one landscape. Returns ``(image (H, W, 3) uint8, labels (H, W) uint8 file values)``; ``size`` is
    (height, width). The same seed always gives the same arrays."""
    bank = textures if textures is not None else default_bank()
    return Renderer(int(seed), size, bank).render()
