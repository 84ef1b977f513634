"""Procedurally rendered landscapes whose label map is exact.

Every scene is drawn layer by layer (sky, clouds, mountain ranges, hills, the ground plane with meadows, paths, lakes
and shores, trees, rocks, water reflections) and every layer writes its class into the label map at the same time as
it writes colour, so each pixel's label is exactly what was painted there. Surfaces are textured with the GPL-2+
tiles in ``../shared/data/textures`` (Extreme Tux Racer and Scorched3D game data); ground textures are sampled through
a ground-plane projection with mip-mapping, so their scale shrinks toward the horizon.

Labels use :func:`oasis_core.labels.landscapes`: file values 0..9 = sky, cloud, mountain, rock, snow, water, grass,
sand, tree, dirt. Everything is pure numpy + Pillow and deterministic per seed (one ``numpy.random.default_rng``).

Public API: :class:`TextureBank`, :func:`render_scene`, :func:`write_dataset`, :func:`make_sample_sheet`.

Longer than 500 lines: the renderer is one class whose layers share the scene's random state and its frame (horizon,
depth map, label map); splitting it into a package passing one frame-state object between layer modules is planned
(the rendered datasets must stay bit-identical per seed).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from oasis_core.files import atomic_write_bytes, atomic_write_text
from oasis_core.imageio import encode_image, indexed_label_image, png_bytes
from oasis_core.labels import LabelSpace, landscapes

SKY, CLOUD, MOUNTAIN, ROCK, SNOW, WATER, GRASS, SAND, TREE, DIRT = range(10)

LABEL_SPACE: LabelSpace = landscapes()

# Texture pools, by role. Paths are relative to the textures root; missing files are skipped.
_S3D = "scorched3d_landscape"
_ETR = "etr_terrains"
_POOLS: dict[str, list[str]] = {
    "grass": [
        f"{_ETR}/grass01.png",
        f"{_ETR}/grass02.png",
        f"{_ETR}/grass03.png",
        f"{_S3D}/asianspring/texture1.jpg",
        f"{_S3D}/asianspring/texture4.jpg",
        f"{_S3D}/tropical/texture2.jpg",
        f"{_S3D}/tropical/texture4.jpg",
        f"{_S3D}/tuscan/texture0.jpg",
    ],
    "foliage": [
        f"{_S3D}/castle/texture2.jpg",
        f"{_S3D}/china/texture4.jpg",
        f"{_S3D}/tropical/texture3.jpg",
        f"{_S3D}/tropical/rockside.jpg",
        f"{_ETR}/grass02.png",
    ],
    "rock": [
        f"{_ETR}/rock.png",
        f"{_ETR}/rock01.png",
        f"{_ETR}/rock02.png",
        f"{_ETR}/rock03.png",
        f"{_ETR}/rock05.png",
        f"{_ETR}/rock06.png",
        f"{_ETR}/rock07.png",
        f"{_S3D}/asianspring/rockside.jpg",
        f"{_S3D}/denali/rockside.jpg",
        f"{_S3D}/snow/rockside.jpg",
        f"{_S3D}/storm/texture1.jpg",
        f"{_S3D}/storm/texture2.jpg",
        f"{_S3D}/sand/rockside.jpg",
        f"{_S3D}/china/texture3.jpg",
    ],
    "mountain": [
        f"{_ETR}/rock.png",
        f"{_ETR}/rock01.png",
        f"{_ETR}/rock06.png",
        f"{_ETR}/rock07.png",
        f"{_S3D}/asianspring/rockside.jpg",
        f"{_S3D}/denali/rockside.jpg",
        f"{_S3D}/denali/texture0.jpg",
        f"{_S3D}/storm/texture1.jpg",
        f"{_S3D}/storm/texture3.jpg",
        f"{_S3D}/storm/rockside.jpg",
        f"{_S3D}/sand/texture0.jpg",
        f"{_S3D}/castle/rockside.jpg",
        f"{_S3D}/arizona/texture2.jpg",
    ],
    "snow": [
        f"{_ETR}/snow.png",
        f"{_ETR}/snow01.png",
        f"{_ETR}/snow02.png",
        f"{_ETR}/snow03.png",
        f"{_S3D}/denali/texture4.jpg",
        f"{_S3D}/snow/texture3.jpg",
        f"{_S3D}/snow/texture4.jpg",
        f"{_S3D}/ice/texture3.jpg",
    ],
    "sand": [
        f"{_ETR}/sand01.png",
        f"{_S3D}/sahara/texture1.jpg",
        f"{_S3D}/sahara/texture2.jpg",
        f"{_S3D}/tropical/shore.jpg",
        f"{_S3D}/tropical/texture1.jpg",
        f"{_S3D}/sand/shore.jpg",
        f"{_S3D}/asianspring/shore.jpg",
        f"{_S3D}/default/shore.jpg",
        f"{_S3D}/china/texture1.jpg",
    ],
    "dirt": [
        f"{_ETR}/dirt01.png",
        f"{_ETR}/mud01.png",
        f"{_ETR}/floor01.png",
        f"{_ETR}/floor02.png",
        f"{_S3D}/castle/texture0.jpg",
        f"{_S3D}/denali/texture1.jpg",
        f"{_S3D}/denali/texture3.jpg",
        f"{_S3D}/default/texture0.jpg",
        f"{_S3D}/china/texture0.jpg",
        f"{_S3D}/sahara/shore.jpg",
    ],
    "water": [
        f"{_S3D}/asianspring/water.jpg",
        f"{_S3D}/castle/water.jpg",
        f"{_S3D}/default/water.jpg",
        f"{_S3D}/denali/water.jpg",
        f"{_S3D}/ice/water.jpg",
        f"{_S3D}/plage/water.jpg",
        f"{_S3D}/tuscan/water.jpg",
    ],
    "cloud": [
        f"{_S3D}/default/cloud1.jpg",
        f"{_S3D}/castle/cloud1.jpg",
        f"{_S3D}/denali/cloud1.jpg",
        f"{_S3D}/snow/cloud1.jpg",
        f"{_S3D}/sand/cloud1.jpg",
        f"{_S3D}/china/cloud1.jpg",
        f"{_S3D}/ice/cloud1.jpg",
        f"{_S3D}/storm/cloud1.jpg",
    ],
}
_SKYBOX_FACES = ("front.png", "left.png", "right.png")
_SKYBOX_MOODS = ("sunny", "cloudy")
_FAR = 1.0e8  # distance of the sky, metres
_TILE = 256  # every tile is resampled to this size (a power of two, for the mip pyramid)


def default_textures_root() -> Path:
    """``<repo>/../shared/data/textures``, located relative to this file."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "textures"


# --------------------------------------------------------------------------------------------- textures
@dataclass(frozen=True)
class Texture:
    """A seamless tile as a mip pyramid (level 0 = ``_TILE`` square, uint8) plus its mean colour in 0..1."""

    name: str
    levels: tuple[np.ndarray, ...]
    mean: np.ndarray

    @classmethod
    def from_image(cls, name: str, img: Image.Image, flatten: float = 0.0) -> Texture:
        """``flatten`` in 0..1 removes that share of the tile's large-scale light/dark blotches (which would
        otherwise repeat visibly across a ground plane), keeping the fine detail."""
        img = img.convert("RGB")
        if img.size != (_TILE, _TILE):
            img = img.resize((_TILE, _TILE), Image.Resampling.BICUBIC)
        level = np.asarray(img, dtype=np.float32)
        if flatten > 0:
            # low-pass: 16x16 block means, bilinearly upsampled with wrap-around
            n = _TILE // 16
            blocks = level.mean(axis=2).reshape(n, 16, n, 16).mean(axis=(1, 3))
            c = (np.arange(_TILE, dtype=np.float64) + 0.5) / 16.0
            yy, xx = np.meshgrid(c, c, indexing="ij")
            low = _bilinear(blocks.astype(np.float32), xx.ravel(), yy.ravel()).reshape(_TILE, _TILE, 1)
            low = np.maximum(low, 1.0)
            level = np.clip(level * (low.mean() / low) ** flatten, 0, 255)
        levels = [np.ascontiguousarray(level.round().astype(np.uint8))]
        while level.shape[0] > 1:
            level = 0.25 * (level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2])
            levels.append(np.ascontiguousarray(level.round().astype(np.uint8)))
        return cls(name, tuple(levels), level.reshape(3) / 255.0)

    def sample(self, s: np.ndarray, t: np.ndarray, lod: np.ndarray | float) -> np.ndarray:
        """Trilinear sample at level-0 texel coordinates (wrapping); returns (N, 3) float32 in 0..1."""
        return _mip_sample(self.levels, s, t, lod) * np.float32(1.0 / 255.0)


def _mip_levels(tile: np.ndarray, min_size: int = 1) -> tuple[np.ndarray, ...]:
    """A mip pyramid of a float tile by 2x2 averaging."""
    levels = [tile]
    while levels[-1].shape[0] > min_size:
        a = levels[-1]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return tuple(levels)


def _mip_sample(levels: tuple[np.ndarray, ...], s: np.ndarray, t: np.ndarray, lod) -> np.ndarray:
    """Trilinear lookup in a pyramid at level-0 texel coordinates; ``lod`` a scalar or one value per sample."""
    top = len(levels) - 1
    if np.ndim(lod) == 0:  # one level for every sample
        lv = int(np.clip(math.floor(float(lod)), 0, top))
        fr = float(np.clip(float(lod) - lv, 0.0, 1.0)) if lv < top else 0.0
        k = 0.5**lv
        a = _bilinear(levels[lv], s * k, t * k)
        if fr > 0:
            a += (_bilinear(levels[lv + 1], s * (k * 0.5), t * (k * 0.5)) - a) * np.float32(fr)
        return a
    lod = np.clip(np.asarray(lod, dtype=np.float32), 0.0, top)
    base = np.floor(lod).astype(np.int64)
    frac = (lod - base).astype(np.float32)[:, None]
    out = np.empty((s.shape[0],) + levels[0].shape[2:], dtype=np.float32)
    if out.ndim == 1:
        frac = frac[:, 0]
    for lv in range(int(base.min()), int(base.max()) + 1):
        idx = np.flatnonzero(base == lv)
        if not len(idx):
            continue
        k = 0.5**lv
        a = _bilinear(levels[lv], s[idx] * k, t[idx] * k)
        if lv < top:
            b = _bilinear(levels[lv + 1], s[idx] * (k * 0.5), t[idx] * (k * 0.5))
            a += (b - a) * frac[idx]
        out[idx] = a
    return out


def _bilinear(img: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around; ``img`` (h, w) or (h, w, c) with power-of-two sides; texel coordinates."""
    h, w = img.shape[:2]
    flat = img.reshape(h * w, -1)
    s = s - 0.5
    t = t - 0.5
    x0f = np.floor(s)
    y0f = np.floor(t)
    fx = (s - x0f).astype(np.float32)[:, None]
    fy = (t - y0f).astype(np.float32)[:, None]
    x0 = x0f.astype(np.int64)
    y0 = y0f.astype(np.int64)
    x1 = (x0 + 1) & (w - 1)
    x0 &= w - 1
    y1 = ((y0 + 1) & (h - 1)) * w
    y0 = (y0 & (h - 1)) * w
    a = np.take(flat, y0 + x0, axis=0).astype(np.float32)
    b = np.take(flat, y0 + x1, axis=0).astype(np.float32)
    a += (b - a) * fx
    c = np.take(flat, y1 + x0, axis=0).astype(np.float32)
    b = np.take(flat, y1 + x1, axis=0).astype(np.float32)
    c += (b - c) * fx
    a += (c - a) * fy
    return a if img.ndim == 3 else a[:, 0]


@dataclass
class TextureBank:
    """All tiles a renderer needs, loaded once: pools of :class:`Texture` by role, sky colour profiles and cloud
    density maps. Build it with :meth:`load` and pass it to :func:`render_scene` for every scene."""

    root: Path
    pools: dict[str, list[Texture]]
    skies: list[np.ndarray]  # (rows, 3) float32 colour profiles, zenith first
    clouds: list[np.ndarray]  # (256, 256) float32 density maps, zero mean, unit std
    copyright_files: list[Path]

    @classmethod
    def load(cls, root: Path | str | None = None) -> TextureBank:
        root = Path(root) if root is not None else default_textures_root()
        if not root.is_dir():
            raise FileNotFoundError(
                f"landscape textures folder not found: {root} (expected etr_terrains/, etr_skyboxes/ and "
                f"scorched3d_landscape/ from ../shared/data/textures)"
            )
        pools: dict[str, list[Texture]] = {}
        missing: list[str] = []
        for role, files in _POOLS.items():
            if role == "cloud":
                continue
            flat = {"grass": 0.85, "sand": 0.85, "dirt": 0.85, "rock": 0.85, "snow": 0.85, "mountain": 0.6}.get(
                role, 0.0
            )
            pools[role] = [Texture.from_image(f, Image.open(root / f), flat) for f in files if (root / f).is_file()]
            if not pools[role]:
                missing.append(role)
        clouds = []
        for f in _POOLS["cloud"]:
            if (root / f).is_file():
                g = np.asarray(Image.open(root / f).convert("L").resize((_TILE, _TILE)), dtype=np.float32)
                clouds.append(((g - g.mean()) / (g.std() + 1e-6)).astype(np.float32))
        skies = []
        for mood in _SKYBOX_MOODS:
            for face in _SKYBOX_FACES:
                p = root / "etr_skyboxes" / mood / face
                if p.is_file():
                    arr = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255.0
                    top = arr[: int(arr.shape[0] * 0.3)]
                    skies.append(top.mean(axis=1).astype(np.float32))
        if not clouds:
            missing.append("cloud")
        if missing:
            raise FileNotFoundError(
                f"landscape textures folder {root} lacks the tiles for: {', '.join(missing)} "
                f"(expected the files listed in train/data/landscapes.py _POOLS)"
            )
        copyrights = sorted(p for p in root.rglob("COPYRIGHT*") if p.is_file())
        return cls(root, pools, skies, clouds, copyrights)

    def pick(self, rng: np.random.Generator, role: str) -> Texture:
        pool = self.pools[role]
        return pool[int(rng.integers(len(pool)))]


@lru_cache(maxsize=4)
def _cached_bank(root: str) -> TextureBank:
    return TextureBank.load(Path(root))


def default_bank() -> TextureBank:
    """The bank for the default textures folder, loaded on first use and cached."""
    return _cached_bank(str(default_textures_root()))


# --------------------------------------------------------------------------------------------- noise helpers
@lru_cache(maxsize=8)
def _spectrum(n: int, beta: float) -> np.ndarray:
    f = np.fft.fftfreq(n)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1.0
    amp = r ** (-beta / 2.0)
    amp[0, 0] = 0.0
    return amp


def _noise_tiles(rng: np.random.Generator, n: int = 128, beta: float = 3.2) -> tuple[np.ndarray, np.ndarray]:
    """Two independent periodic fractal noise tiles (n, n), zero mean, unit std (1/f^beta power spectrum)."""
    white = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    field = np.fft.ifft2(white * _spectrum(n, beta))
    a = field.real
    b = field.imag
    return (
        ((a - a.mean()) / (a.std() + 1e-9)).astype(np.float32),
        ((b - b.mean()) / (b.std() + 1e-9)).astype(np.float32),
    )


def _midpoint_ridge(rng: np.random.Generator, n: int, roughness: float, levels: int = 9) -> np.ndarray:
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


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _box_blur_1d(a: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return a
    k = np.ones(2 * r + 1) / (2 * r + 1)
    return np.convolve(np.pad(a, r, mode="edge"), k, mode="valid")


def _hsv_jitter(rgb: np.ndarray, rng: np.random.Generator, hue: float, sat: float, val: float) -> np.ndarray:
    """Random gain on a colour: a hue rotation (small), a saturation and a brightness factor."""
    c = np.asarray(rgb, dtype=np.float32)
    grey = c.mean()
    c = grey + (c - grey) * rng.uniform(1 - sat, 1 + sat)
    h = rng.uniform(-hue, hue)
    # rotate around the grey axis (small angles)
    k = np.array([1.0, 1.0, 1.0]) / math.sqrt(3.0)
    c = c * math.cos(h) + np.cross(k, c) * math.sin(h) + k * np.dot(k, c) * (1 - math.cos(h))
    return np.clip(c * rng.uniform(1 - val, 1 + val), 0.0, 1.5).astype(np.float32)


# --------------------------------------------------------------------------------------------- the renderer
_MOODS = {
    # name: (zenith, horizon, sun colour, ambient strength, warmth)
    "clear": ((0.22, 0.45, 0.82), (0.72, 0.82, 0.92), (1.0, 0.97, 0.9), 0.45, 0.0),
    "hazy": ((0.42, 0.58, 0.80), (0.82, 0.85, 0.88), (1.0, 0.96, 0.88), 0.55, 0.02),
    "overcast": ((0.55, 0.58, 0.62), (0.78, 0.79, 0.80), (0.85, 0.86, 0.88), 0.75, 0.0),
    "golden": ((0.30, 0.42, 0.70), (0.98, 0.78, 0.52), (1.0, 0.78, 0.52), 0.40, 0.10),
    "dusk": ((0.16, 0.20, 0.40), (0.90, 0.55, 0.42), (0.95, 0.6, 0.45), 0.50, 0.06),
}
_MOOD_P = {"clear": 0.42, "hazy": 0.2, "overcast": 0.14, "golden": 0.18, "dusk": 0.06}


class _Renderer:
    def __init__(self, seed: int, size: tuple[int, int], bank: TextureBank) -> None:
        self.rng = np.random.default_rng(seed)
        self.bank = bank
        self.H, self.W = int(size[0]), int(size[1])
        if self.H < 16 or self.W < 16:
            raise ValueError(f"scene size must be at least 16x16, got {size}")
        H, W = self.H, self.W
        self.img = np.zeros((H, W, 3), dtype=np.float32)
        self.lab = np.zeros((H, W), dtype=np.uint8)
        self.dist = np.full((H, W), _FAR, dtype=np.float32)  # metres from the camera (sky: _FAR)
        self.ys, self.xs = np.mgrid[0:H, 0:W].astype(np.float32)
        self.xs += 0.5
        self.ys += 0.5
        self._plan()

    # ------------------------------------------------------------------ scene parameters
    def _plan(self) -> None:
        rng = self.rng
        H, W = self.H, self.W
        self.hy = H * rng.uniform(0.36, 0.62)  # horizon row
        self.f = W * rng.uniform(0.85, 1.35)  # focal length in pixels
        self.cam_h = rng.uniform(1.4, 3.5)  # camera height, metres
        self.mood = str(rng.choice(list(_MOOD_P), p=list(_MOOD_P.values())))
        zen, hor, sun, amb, warm = _MOODS[self.mood]
        self.zenith = _hsv_jitter(zen, rng, 0.12, 0.2, 0.1)
        self.horizon = _hsv_jitter(hor, rng, 0.08, 0.2, 0.06)
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

    # ------------------------------------------------------------------ helpers

    def _haze(self, colour: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
        t = 1.0 - np.exp(-np.asarray(depth, dtype=np.float32) / self.visibility)
        t = np.asarray(t, dtype=np.float32)
        if t.ndim:
            t = t[..., None]
        return colour + (self.haze_col - colour) * t

    def _light(self, n_x: np.ndarray, n_up: np.ndarray | float = 0.4) -> np.ndarray:
        """Lambert-ish factor from a horizontal normal component and an upward component."""
        d = np.clip(n_x * self.sun_x * 0.8 + np.asarray(n_up) * 0.6, 0.0, None)
        return (self.ambient + (1.0 - self.ambient) * d)[..., None] * (0.35 + 0.65 * self.sun_col)

    def _tex_screen(self, tex: Texture, xs: np.ndarray, ys: np.ndarray, scale: float) -> np.ndarray:
        """Sample a texture at screen positions with ``scale`` texels per pixel."""
        lod = max(0.0, math.log2(max(scale, 1e-6)))
        return tex.sample(xs * scale, ys * scale, lod)

    # ------------------------------------------------------------------ layers
    def _sky(self) -> None:
        rng = self.rng
        H = self.H
        hy = self.hy
        t = np.clip(self.ys[:, 0] / max(hy, 1.0), 0.0, 1.0)
        if self.bank.skies and rng.random() < 0.35 and self.mood in ("clear", "hazy", "overcast"):
            prof = self.bank.skies[int(rng.integers(len(self.bank.skies)))]
            rows = np.interp(t * 0.95, np.linspace(0, 1, len(prof)), np.arange(len(prof)))
            base = prof[rows.astype(int)]
            base = base + (self.horizon - base) * (_smoothstep(0.55, 1.0, t) ** 1.5)[:, None]
        else:
            g = (t ** rng.uniform(1.2, 2.6))[:, None]
            base = self.zenith + (self.horizon - self.zenith) * g
        col = np.broadcast_to(base[:, None, :], (H, self.W, 3)).copy()
        # sun glow
        if self.mood != "overcast":
            sx = self.W * (0.5 + 0.45 * self.sun_x * rng.uniform(0.5, 1.1))
            sy = hy * rng.uniform(0.1, 0.85)
            d = np.hypot(self.xs - sx, self.ys - sy) / self.W
            glow = np.exp(-d * rng.uniform(3.0, 7.0))[..., None] * rng.uniform(0.1, 0.35)
            col += glow * (self.sun_col - col * 0.5)
        # a faint large-scale variation
        n1, _ = _noise_tiles(rng, 64, 3.5)
        var = _bilinear(n1, self.xs.ravel() * 64 / self.W, self.ys.ravel() * 64 / self.H).reshape(H, self.W)
        col *= (1.0 + 0.025 * var)[..., None]
        self.haze_col = np.asarray(base[min(int(hy), H - 1)], dtype=np.float32).copy()
        self.img[:] = col
        self.lab[:] = SKY

    def _clouds(self) -> None:
        rng = self.rng
        if self.cloud_cover < 0.03:
            return
        W = self.W
        top = int(min(self.H, math.ceil(self.hy)))
        if top < 2:
            return
        ys = self.ys[:top]
        xs = self.xs[:top]
        hy = max(self.hy, 1.0)
        yy = np.maximum(hy - ys, 0.5) / hy  # 1 at the top of the frame, 0 at the horizon
        # a cloud layer seen in perspective, softened so that the horizon does not alias
        soft = rng.uniform(0.25, 0.45)
        zc = (1.0 + soft) / (yy + soft)
        u = (xs - W / 2) / self.f * zc
        scale = rng.uniform(90.0, 200.0)
        ox, oy = rng.uniform(0, 512, 2)
        tex = self.bank.clouds[int(rng.integers(len(self.bank.clouds)))]
        n1, n2 = _noise_tiles(rng, 128, 3.2)
        s = (u * scale + ox).ravel()
        t = (zc * scale * rng.uniform(1.0, 1.5) + oy).ravel()
        dens = 0.8 * _bilinear(tex, s, t) + 0.5 * _bilinear(n1, s * 0.4, t * 0.4) + 0.25 * _bilinear(n2, s * 2, t * 2)
        dens = dens.reshape(top, W)
        thr = float(np.quantile(dens, 1.0 - self.cloud_cover))
        soft_edge = rng.uniform(0.15, 0.45)
        alpha = _smoothstep(thr - soft_edge * 0.3, thr + soft_edge, dens)
        # shading: sunlit tops (density rising upwards), darker thick bases, a silver lining at thin edges
        grad = np.zeros_like(dens)
        grad[1:-1] = dens[:-2] - dens[2:]
        thick = np.clip((dens - thr) / 1.5, 0, 1)
        detail = _bilinear(tex, s * 2.3 + 91, t * 2.3).reshape(top, W)
        lit = 0.9 - 0.45 * thick + 0.2 * np.tanh(-grad * 3.0) + 0.12 * np.clip(detail, -2, 2)
        if self.mood == "overcast":
            lit = 0.7 + (lit - 0.7) * 0.6
        white = (0.6 + 0.4 * self.sun_col) * (1.05 if self.mood != "overcast" else 0.85)
        shadow = 0.55 * self.zenith + 0.45 * np.array([0.55, 0.55, 0.6], np.float32)
        c_lit = np.clip(lit, 0, 1)[..., None]
        cloud_col = shadow + (white - shadow) * c_lit
        # distant clouds fade into the horizon haze
        fade = (1.0 - yy) ** 3
        cloud_col = cloud_col + (self.horizon - cloud_col) * (0.6 * fade)[..., None]
        sky = self.img[:top]
        self.img[:top] = sky + (cloud_col - sky) * alpha[..., None]
        self.lab[:top][alpha >= 0.5] = CLOUD

    def _far_range(self) -> None:
        """A distant, hazy mountain silhouette (1-D midpoint displacement ridge) behind everything else."""
        rng = self.rng
        W = self.W
        hy = self.hy
        dist = rng.uniform(40000, 90000)
        height = max(hy, 8.0) * rng.uniform(0.08, 0.3)
        ridge = _midpoint_ridge(rng, W, rng.uniform(0.45, 0.6))
        ridge = (ridge - ridge.min()) / (np.ptp(ridge) + 1e-9)
        top = hy - height * (0.2 + 0.8 * ridge)
        mask = (self.ys >= top[None, :]) & (self.ys < hy + 1.0)
        if not mask.any():
            return
        yi, xi = np.nonzero(mask)
        slope = np.gradient(_box_blur_1d(top, 2))
        xd = np.clip((xi + (self.ys[yi, xi] - top[xi]) * 0.7 * np.sign(slope[xi])).astype(int), 0, W - 1)
        nx = np.tanh(-slope[xd] * 1.2)
        shade = 0.75 + 0.25 * nx * self.sun_x
        base = _hsv_jitter((0.40, 0.42, 0.48), rng, 0.05, 0.2, 0.15)
        col = base[None, :] * shade[:, None]
        below = (self.ys[yi, xi] - top[xi]) / max(height, 1.0)
        labels = np.full(len(yi), MOUNTAIN, np.uint8)
        if self.has_snow and rng.random() < 0.7:
            snow = below < rng.uniform(0.1, 0.35) + 0.05 * np.sin(xi * 0.7)
            col[snow] = np.array([0.92, 0.94, 0.98], np.float32) * shade[snow, None]
            labels[snow] = SNOW
        col = self._haze(col, dist)
        self.img[yi, xi] = col
        self.lab[yi, xi] = labels
        self.dist[yi, xi] = dist

    def _terrain(self, kind: str) -> None:
        """A heightfield range (``kind`` "mountain" or "hill") ray-marched column by column (voxel-space style).

        Mountains are labelled mountain/snow, hills grass/tree by a cover map. Normals from the heightfield give
        the shading; snow lies above an altitude where the slope is gentle enough.
        """
        rng = self.rng
        H, W = self.H, self.W
        hy, f, ch = self.hy, self.f, self.cam_h
        mountain = kind == "mountain"
        if mountain:
            d0 = rng.uniform(2500, 9000)
            d1 = d0 * rng.uniform(5, 12)
            target_px = max(hy, 8.0) * rng.uniform(0.22, 0.85)
            amp = target_px * d0 * rng.uniform(1.4, 2.2) / f
            tile_m = rng.uniform(14000, 30000) * (d0 / 5000) ** 0.5
        else:
            d0 = rng.uniform(350, 1500)
            d1 = d0 * rng.uniform(4, 10)
            target_px = max(hy, 8.0) * rng.uniform(0.05, 0.2)
            amp = target_px * d0 * rng.uniform(1.3, 2.0) / f
            tile_m = rng.uniform(1500, 5000)
        n_big, n_mod = (_mip_levels(a, 8) for a in _noise_tiles(rng, 256, 4.2))
        n_det, n_cov = (_mip_levels(a, 8) for a in _noise_tiles(rng, 128, 3.0))
        ox, oz = rng.uniform(0, 1e5, 2)
        k = 256.0 / tile_m
        forest_thr = rng.uniform(-0.8, 0.8) if self.forest else 9.0
        sharp = rng.uniform(0.35, 0.65)

        def height(u: np.ndarray, d: np.ndarray) -> np.ndarray:
            s = (u + ox) * k
            t = (d + oz) * k
            lod = np.log2(np.maximum(d / f * k, 1e-6)) + 0.5  # tile texels per pixel at that distance
            n = _mip_sample(n_big, s, t, lod)
            m = _mip_sample(n_mod, s * 0.5, t * 0.5, lod - 1)
            det = _mip_sample(n_det, s * 2.5, t * 2.5, lod + 1.32)
            if mountain:
                r = np.clip(1.0 - np.abs(n) * sharp, 0.0, 1.0) ** 1.25
                body = np.clip(0.5 + 0.3 * m, 0.0, 1.0)
                h = amp * (0.35 * body + 0.65 * r * (0.55 + 0.45 * np.clip(m, -1, 1))) + amp * 0.04 * det
            else:
                h = amp * (0.5 + 0.3 * n + 0.2 * m) + amp * 0.08 * det
                cov = _bilinear(n_cov[0], s * 1.5, t * 1.5)
                h = h + _smoothstep(forest_thr, forest_thr + 0.3, cov) * 0.25 * amp * (0.8 + 0.2 * det)
            return np.maximum(h, 0.0) * _smoothstep(d0, d0 * 1.6, d)

        steps = 200
        ds = d0 * (d1 / d0) ** np.linspace(0.0, 1.0, steps)
        xc = self.xs[0]
        uu = (xc[None, :] - W / 2) * ds[:, None] / f
        dd = np.broadcast_to(ds[:, None], uu.shape)
        hh = height(uu.ravel(), dd.ravel()).reshape(uu.shape)
        yraw = hy - f * (hh - ch) / ds[:, None]
        ybuf = np.minimum.accumulate(yraw, axis=0)
        # pixel (y, x) is terrain hit at the first step whose running silhouette reaches it
        top = int(min(H, math.ceil(hy) + 1))
        if top <= 0:
            return
        span = float(H + np.abs(ybuf).max() + 10.0)
        keys = (np.arange(W)[:, None] * 4 * span - ybuf.T).ravel()
        ys = self.ys[:top]
        q = (np.arange(W)[None, :] * 4 * span - ys).ravel()
        idx = np.searchsorted(keys, q, side="left").reshape(top, W) - np.arange(W)[None, :] * steps
        hit = (idx < steps) & (self.ys[:top] < hy + 1.0)
        if not hit.any():
            return
        yi, xi = np.nonzero(hit)
        i = idx[yi, xi]
        yc = ys[yi, xi]
        # refine the distance between the previous and the hitting step
        ip = np.maximum(i - 1, 0)
        yprev = np.where(i > 0, ybuf[ip, xi], yraw[i, xi] - 1.0)
        frac = np.clip((yprev - yc) / np.maximum(yprev - yraw[i, xi], 1e-6), 0.0, 1.0)
        d = ds[ip] + (ds[i] - ds[ip]) * np.where(i > 0, frac, 1.0)
        x = self.xs[yi, xi]
        u = (x - W / 2) * d / f
        h = height(u, d)
        e = np.maximum(tile_m / 256.0, d / f)
        hu = (height(u + e, d) - height(u - e, d)) / (2 * e)
        hd = (height(u, d + e) - height(u, d - e)) / (2 * e)
        norm = np.sqrt(hu * hu + hd * hd + 1.0)
        nx, ny, nz = -hu / norm, 1.0 / norm, -hd / norm
        sun = self.sun_dir
        direct = np.clip(nx * sun[0] + ny * sun[1] + nz * sun[2], 0.0, None)
        sky_light = self.ambient * (0.55 + 0.45 * ny)
        light = direct[:, None] * self.sun_col * (1 - self.ambient) * 1.25 + sky_light[:, None] * self.amb_col
        labels = np.empty(len(x), np.uint8)
        c = np.empty((len(x), 3), np.float32)
        tex_k = 256.0 / (rng.uniform(500, 1500) if mountain else rng.uniform(150, 500))
        lod = np.log2(np.maximum(d / f * tex_k, 1e-6))
        if mountain:
            tex = self.bank.pick(rng, "mountain")
            c = tex.sample(u * tex_k, h * tex_k * 1.5, lod)
            desert = self.ground_kind == "sand"
            target = np.array([0.62, 0.45, 0.32] if desert else [0.42, 0.40, 0.38], np.float32)
            target = _hsv_jitter(target, rng, 0.06, 0.2, 0.15)
            c = c / (tex.mean + 1e-3) * (0.3 * tex.mean + 0.7 * target)
            if self.forest and not desert:
                veg_h = amp * rng.uniform(0.1, 0.4)
                vn = _bilinear(n_cov[0], u * k * 3, d * k * 3)
                veg = _smoothstep(0.0, 1.0, (veg_h - h) / (0.15 * amp) + 0.5 * vn)
                veg = veg * _smoothstep(0.55, 0.8, ny)
                c = c + (self._tree_colour() * 0.8 - c) * (veg * 0.85)[:, None]
            labels[:] = MOUNTAIN
            if self.has_snow and not desert:
                snow_h = amp * self.snow_frac
                sn = _bilinear(n_cov[0], u * k * 4, d * k * 4)
                snow = (h > snow_h + amp * 0.08 * sn) & (ny > 0.42 + 0.12 * sn)
                if snow.any():
                    st = self.snow_tex
                    sc = st.sample(u[snow] * tex_k * 2, d[snow] * tex_k * 2, lod[snow] + 1)
                    c[snow] = sc / (st.mean + 1e-3) * 0.95
                    labels[snow] = SNOW
        else:
            cov = _bilinear(n_cov[0], (u + ox) * k * 1.5, (d + oz) * k * 1.5)
            forest = cov > forest_thr + 0.15
            labels[:] = np.where(forest, TREE, GRASS)
            tg = self.bank.pick(rng, "grass")
            tf = self.bank.pick(rng, "foliage")
            if (~forest).any():
                cg = tg.sample(u[~forest] * tex_k * 4, d[~forest] * tex_k * 4, lod[~forest] + 2)
                c[~forest] = cg / (tg.mean + 1e-3) * self._grass_colour()
            if forest.any():
                cf = tf.sample(u[forest] * tex_k * 8, h[forest] * tex_k * 8, lod[forest] + 3)
                c[forest] = cf / (tf.mean + 1e-3) * self._tree_colour()
        col = c * light
        col = self._haze(col, d)
        self.img[yi, xi] = col
        self.lab[yi, xi] = labels
        self.dist[yi, xi] = d

    def _grass_colour(self) -> np.ndarray:
        if not hasattr(self, "_grass_c"):
            dry = self.rng.uniform(0, 1) ** 2
            c = np.array([0.30, 0.45, 0.16]) * (1 - dry) + np.array([0.55, 0.52, 0.28]) * dry
            self._grass_c = _hsv_jitter(c, self.rng, 0.08, 0.2, 0.15)
        return self._grass_c

    def _tree_colour(self) -> np.ndarray:
        if not hasattr(self, "_tree_c"):
            c = np.array([0.13, 0.24, 0.10])
            if self.autumn:
                c = np.array([0.45, 0.28, 0.08])
            self._tree_c = _hsv_jitter(c, self.rng, 0.1, 0.2, 0.15)
        return self._tree_c

    # ------------------------------------------------------------------ ground plane
    def _ground(self) -> None:
        rng = self.rng
        H, W = self.H, self.W
        hy = self.hy
        y0 = int(math.floor(hy))
        self.y0 = y0
        self.water = np.zeros((H, W), bool)
        if y0 >= H:
            return
        ys = self.ys[y0:]
        xs = self.xs[y0:]
        yy = np.maximum(ys - hy, 0.3)
        z = np.minimum(self.f * self.cam_h / yy, 50000.0)  # distance along the ground, metres
        u = (xs - W / 2) / self.f * z  # lateral position, metres
        a = (xs - W / 2) / self.f
        lz = np.log(z)
        n1, n2 = _noise_tiles(rng, 128, 3.0)
        m1, m2 = _noise_tiles(rng, 128, 2.4)
        uf, zf = u.ravel(), z.ravel()

        def gnoise(tile: np.ndarray, metres: float, off: float = 0.0) -> np.ndarray:
            k = 128.0 / metres
            v = _bilinear(tile, uf * k + off, zf * k + off * 0.7)
            v += 0.18 * _bilinear(tile, uf * (k * 7.3) + off * 3, zf * (k * 7.3))  # ragged edges at all scales
            return v.reshape(u.shape)

        base_cls = {"grass": GRASS, "sand": SAND, "dirt": DIRT, "rock": ROCK}[self.ground_kind]
        lab = np.full(u.shape, base_cls, np.uint8)
        if self.ground_kind == "rock":
            lab[gnoise(n1, rng.uniform(20, 60)) > rng.uniform(-0.2, 0.6)] = GRASS
        elif self.ground_kind == "sand":
            lab[gnoise(n1, rng.uniform(30, 90)) > rng.uniform(0.6, 1.5)] = GRASS
        elif self.ground_kind == "dirt":
            lab[gnoise(n1, rng.uniform(10, 50)) > rng.uniform(-0.3, 0.8)] = GRASS
        if self.dirt_patches:
            lab[gnoise(n2, rng.uniform(6, 30), 31.0) > rng.uniform(0.8, 1.6)] = DIRT
        if self.rock_patches:
            lab[gnoise(m1, rng.uniform(5, 25), 7.0) > rng.uniform(1.0, 1.8)] = ROCK
        if self.path:
            zmax = rng.uniform(30, 400)
            zc = np.minimum(z, zmax)
            amp = rng.uniform(1, 8)
            centre = rng.uniform(-3, 3) + amp * np.sin(zc / rng.uniform(8, 30) + rng.uniform(0, 6.3))
            centre += rng.uniform(-0.15, 0.15) * zc
            half = rng.uniform(0.4, 1.2) * (1 + 0.25 * gnoise(m2, 4.0, 3.0))
            lab[(np.abs(u - centre) < half) & (z < zmax)] = DIRT
        # lake or sea: a smooth field in (screen angle, log distance) with a wiggly ground-space shoreline
        water = np.zeros(u.shape, bool)
        if self.water_kind != "none":
            wn = gnoise(m2, rng.uniform(15, 60), 13.0) * 0.6 + gnoise(m1, rng.uniform(3, 8), 5.0) * 0.06
            if self.water_kind == "sea":
                zn = rng.uniform(6, 60)
                field = (lz - math.log(zn)) * 1.2 + wn * 0.5
            else:
                zn = rng.uniform(4, 40)
                zfar = 1e7 if rng.random() < 0.2 else zn * math.exp(rng.uniform(1.0, 3.5))
                lc = 0.5 * (math.log(zn) + math.log(zfar))
                rl = 0.5 * (math.log(zfar) - math.log(zn))
                ac = rng.uniform(-0.4, 0.4)
                ra = rng.uniform(0.35, 1.6)
                p = np.abs((a - ac) / ra)
                q = np.abs((lz - lc) / rl)
                field = 1.0 - (p**4 + q**4) ** 0.25 + wn * 0.1
            water = field > 0
            band = rng.uniform(0.03, 0.2) * (1.0 + 0.7 * np.clip(gnoise(n2, 25.0, 9.0), -1, 1))
            shore = (field > -band) & ~water
            r = rng.random()
            lab[shore] = SAND if r < 0.72 else (ROCK if r < 0.86 else GRASS)
            lab[water] = WATER
        # textures by class, sampled through the ground-plane projection with mip-mapping
        col = np.zeros(u.shape + (3,), np.float32)
        fx = self.f
        foot_h = z / fx
        foot_v = z * z / (fx * self.cam_h)
        texel_m = foot_h**0.75 * foot_v**0.25  # between the horizontal and vertical footprints
        macro = gnoise(n1, rng.uniform(15, 50), 40.0) * 0.7 + gnoise(n2, rng.uniform(3, 8), 20.0) * 0.3
        hue_n = gnoise(m1, rng.uniform(10, 40), 60.0)
        cloud_shadow = 1.0 - 0.25 * _smoothstep(0.2, 1.2, gnoise(m2, rng.uniform(80, 250), 90.0)) * (
            self.cloud_cover > 0.15
        )
        targets = {
            GRASS: self._grass_colour(),
            SAND: _hsv_jitter((0.72, 0.63, 0.47), rng, 0.05, 0.2, 0.1),
            DIRT: _hsv_jitter((0.40, 0.31, 0.22), rng, 0.06, 0.2, 0.15),
            ROCK: _hsv_jitter((0.48, 0.46, 0.44), rng, 0.04, 0.15, 0.15),
        }
        roles = {GRASS: "grass", SAND: "sand", DIRT: "dirt", ROCK: "rock"}
        tiles = {GRASS: (1.0, 2.2), SAND: (1.0, 3.0), DIRT: (0.8, 2.0), ROCK: (0.8, 2.5)}
        for cls in (GRASS, SAND, DIRT, ROCK):
            sel = lab == cls
            if not sel.any():
                continue
            c = np.zeros((int(sel.sum()), 3), np.float32)
            mix = _smoothstep(-0.6, 0.6, gnoise(n2, rng.uniform(8, 40), 50.0 + cls)[sel])
            for j in range(2):
                tex = self.bank.pick(rng, roles[cls])
                tm = rng.uniform(*tiles[cls])
                k = _TILE / tm
                ang = rng.uniform(0, 2 * math.pi)
                ca, sa = math.cos(ang), math.sin(ang)
                uu, zz = u[sel], z[sel]
                su = (uu * ca - zz * sa) * k + rng.uniform(0, 256)
                sz = (uu * sa + zz * ca) * k
                lod = np.log2(np.maximum(texel_m[sel] * k, 1e-6)) + 0.2
                t1 = tex.sample(su, sz, lod)
                tgt = targets[cls] * (_hsv_jitter((1.0, 1.0, 1.0), rng, 0.06, 0.15, 0.12) if j else 1.0)
                ratio = t1 / (tex.mean + 1e-3)
                ratio = 0.45 * ratio + 0.55 * ratio.mean(axis=1, keepdims=True)  # tame the tiles' colour speckle
                t1 = ratio * (0.6 * tgt + 0.4 * tex.mean)
                w = mix if j == 0 else 1.0 - mix
                c += t1 * w[:, None]
            mac = np.clip(macro[sel], -2.5, 2.5)
            c *= (1.0 + 0.2 * mac)[:, None]
            if cls == GRASS:  # patches of drier, yellower grass
                c *= 1.0 + 0.12 * np.clip(hue_n[sel], -2, 2)[:, None] * np.array([1.0, 0.35, -0.9], np.float32)
            col[sel] = c
        # light: sun on a flat ground plus sky light, cloud shadows
        direct = max(float(self.sun_dir[1]), 0.0)
        light = self.sun_col * (1 - self.ambient) * 1.25 * direct + self.ambient * self.amb_col
        col *= light * cloud_shadow[..., None]
        col = self._haze(col, z)
        land = lab != WATER
        self.img[y0:][land] = col[land]
        self.lab[y0:] = lab
        self.dist[y0:] = z
        self.ground_z = z
        self.ground_u = u
        self.water[y0:] = water
        self.water_tile = m1

    # ------------------------------------------------------------------ trees and rocks
    def _objects(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Trees and boulders as groups ``(kind, distance, base row, centre x, conifer, height m)``, one group per
        forest row, single tree or boulder, sorted far to near by the group's first distance."""
        rng = self.rng
        W = self.W
        hy, f, ch = self.hy, self.f, self.cam_h
        groups = []

        def trees(z: np.ndarray, us: np.ndarray) -> None:
            conifer = rng.random(len(us)) < self.conifer_share
            hm = np.where(conifer, rng.uniform(9, 24, len(us)), rng.uniform(6, 16, len(us)))
            groups.append(("tree", z, hy + f * ch / z, W / 2 + us / z * f, conifer, hm))

        if self.forest:
            for _ in range(int(rng.integers(1, 3))):
                z_far = rng.uniform(120, 1500)
                z_near = z_far * rng.uniform(0.25, 0.8)
                a0 = rng.uniform(-1.0, 0.6)
                a1 = a0 + rng.uniform(0.4, 2.0)
                if rng.random() < 0.35:
                    a0, a1 = -2.0, 2.0
                spacing = rng.uniform(3.0, 7.0)
                z = z_far
                while z > z_near:
                    # one row of the forest: trees every ``spacing`` metres across its lateral span
                    u0, u1 = max(a0, -0.6) * z, min(a1, 0.6) * z
                    n = min(int((u1 - u0) / spacing), 500)
                    if n > 0:
                        trees(z * rng.uniform(0.97, 1.03, n), rng.uniform(u0, u1, n))
                    z *= rng.uniform(0.7, 0.9)
            for _ in range(int(rng.integers(0, 5))):  # a few single trees in front
                z = rng.uniform(12, 80)
                trees(np.array([z]), np.array([rng.uniform(-0.6, 0.6) * z]))
        if self.boulders:
            for _ in range(int(rng.integers(2, 14))):
                z = np.array([math.exp(rng.uniform(math.log(6), math.log(150)))])
                u = rng.uniform(-0.6, 0.6) * z
                groups.append(("rock", z, hy + f * ch / z, W / 2 + u / z * f, np.zeros(1, bool), np.zeros(1)))
        groups.sort(key=lambda g: -float(g[1][0]))
        return groups

    def _draw_tree_batch(self, z, yb, cx, conifer, hm, tex: Texture) -> None:
        """Small, distant trees of one forest row in one vectorised pass (canopy silhouettes)."""
        rng = self.rng
        H, W = self.H, self.W
        h = self.f * hm / z
        w = h * np.where(conifer, rng.uniform(0.3, 0.45, len(h)), rng.uniform(0.6, 0.95, len(h)))
        x0 = int(max(0, math.floor((cx - w / 2).min())))
        x1 = int(min(W, math.ceil((cx + w / 2).max())))
        y0 = int(max(0, math.floor((yb - h).min())))
        y1 = int(min(H, math.ceil(yb.max())))
        if x0 >= x1 or y0 >= y1:
            return
        X = self.xs[0, x0:x1]
        d = (X[None, :] - cx[:, None]) / (w[:, None] / 2)
        inside = np.abs(d) < 1.0
        shape = np.where(conifer[:, None], 1.0 - np.abs(d), np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0)) * 0.9 + 0.1)
        toprow = np.where(inside, yb[:, None] - h[:, None] * shape, np.inf)
        win = toprow.argmin(0)
        cols = np.arange(x1 - x0)
        top = toprow[win, cols]
        base = yb[win]
        yg = self.ys[y0:y1, x0:x1]
        mask = (yg >= top[None, :]) & (yg < base[None, :]) & np.isfinite(top)[None, :]
        if not mask.any():
            return
        yi, xi = np.nonzero(mask)
        wt = win[xi]
        nx = d[wt, xi]
        tb = np.clip((base[xi] - yg[yi, xi]) / np.maximum(h[wt], 1.0), 0, 1)  # 0 at the base, 1 at the top
        bright = rng.uniform(0.8, 1.2, len(h)).astype(np.float32)
        tint = np.where(conifer[:, None], np.array([0.8, 0.95, 1.0]), np.array([1.3, 1.32, 1.0])).astype(np.float32)
        leaf = self._tex_screen(tex, X[xi], yg[yi, xi], float(np.clip(z.mean() / self.f * 64.0, 0.5, 64)))
        detail = 1.0 + (leaf / (tex.mean + 1e-3) - 1.0) * 0.5
        c = self._tree_colour() * tint[wt] * bright[wt, None] * detail
        light = self._light(nx, 0.1 + 0.4 * tb) * (0.7 + 0.3 * tb)[:, None]
        c = self._haze(c * light, z[wt])
        gy, gx = yi + y0, xi + x0
        self.img[gy, gx] = c
        self.lab[gy, gx] = TREE
        self.dist[gy, gx] = z[wt]

    def _draw_tree(self, yb: float, cx: float, z: float, conifer: bool, height_m: float, tex: Texture) -> None:
        rng = self.rng
        H, W = self.H, self.W
        kind = "conifer" if conifer else "broadleaf"
        h = self.f * height_m / z
        if h < 1.2:
            return
        w = h * (rng.uniform(0.28, 0.42) if kind == "conifer" else rng.uniform(0.6, 0.95))
        x0 = int(max(0, math.floor(cx - w * 0.7 - 1)))
        x1 = int(min(W, math.ceil(cx + w * 0.7 + 1)))
        y0 = int(max(0, math.floor(yb - h - 1)))
        y1 = int(min(H, math.ceil(yb)))
        if x0 >= x1 or y0 >= y1:
            return
        xs = self.xs[y0:y1, x0:x1]
        ys = self.ys[y0:y1, x0:x1]
        t = (yb - ys) / h  # 0 at the base, 1 at the top
        dx = xs - cx
        trunk_w = max(0.6, w * 0.06)
        big = h > 10
        # foliage detail: leaves have a fixed size in the world, so the texture scale follows the distance
        scale = float(np.clip(z / self.f * 64.0, 0.5, 64.0))  # a 4 m tile
        if big:
            leaf = self._tex_screen(tex, (xs + cx * 3.1).ravel(), (ys + cx).ravel(), scale).reshape(xs.shape + (3,))
            detail = leaf / (tex.mean + 1e-3)
            lum = self._tex_screen(tex, (xs * 0.5 + cx).ravel(), (ys * 0.5).ravel(), scale * 2.0).mean(1)
            rough = np.clip(lum.reshape(xs.shape) / (tex.mean.mean() + 1e-3) - 1.0, -1.0, 0.5)
        else:
            detail = None
            rough = 0.0
        if kind == "conifer" and h > 40:
            trunk_top = rng.uniform(0.03, 0.1)
            crown, nx, up, occl = self._conifer_branches(dx, ys, yb, h, w, trunk_top, rough)
            tint = np.array([0.8, 0.95, 1.0], np.float32)
        elif kind == "conifer":
            trunk_top = rng.uniform(0.03, 0.12)
            tc = np.clip((t - trunk_top) / (1 - trunk_top), 0, 1)
            tiers = rng.uniform(6, 14) if big else 3.0
            ph = rng.uniform(0, 1)
            tier_pos = (tc * tiers + ph) % 1.0  # 0 at the bottom of a tier, 1 at its top
            env = w / 2 * (1 - tc) ** rng.uniform(0.85, 1.1)
            knots = rng.uniform(0.55, 1.0, (2, 40))
            grid = np.linspace(0, 1, 40)
            left = np.interp(tc, grid, knots[0])
            right = np.interp(tc, grid, knots[1])
            branch = np.where(dx < 0, left, right)
            half = env * branch * (0.8 + 0.2 * (1 - tier_pos)) * (1 + 0.2 * rough)
            crown = (np.abs(dx) <= half) & (t >= trunk_top) & (t <= 1)
            nx = np.clip(dx / np.maximum(env, 0.5), -1, 1)
            up = 0.5 - 0.45 * (1 - tier_pos) ** 2  # the top of each tier catches the light
            occl = 0.65 + 0.35 * np.clip(np.abs(nx) * 0.5 + tc, 0, 1)
            tint = np.array([0.8, 0.95, 1.0], np.float32)
        else:
            cy = yb - h * rng.uniform(0.58, 0.66)
            ry = h * rng.uniform(0.32, 0.4)
            rx = w / 2
            if big:
                huge = h > 40
                n_cl = int(rng.integers(16, 30)) if huge else int(rng.integers(6, 13))
                ang = rng.uniform(0, 2 * math.pi, n_cl)
                rad = np.sqrt(rng.uniform(0, 1, n_cl)) * (0.72 if huge else 0.6)
                ccx = cx + np.cos(ang) * rad * rx
                ccy = cy + np.sin(ang) * rad * ry
                crr = rng.uniform(0.22, 0.4, n_cl) if huge else rng.uniform(0.35, 0.55, n_cl)
            else:
                ccx, ccy, crr = np.array([cx]), np.array([cy]), np.array([1.0])
            ddx = (xs[None] - ccx[:, None, None]) / (crr[:, None, None] * rx)
            ddy = (ys[None] - ccy[:, None, None]) / (crr[:, None, None] * ry)
            rr = np.sqrt(ddx**2 + ddy**2)
            best = rr.argmin(0)
            rmin = np.take_along_axis(rr, best[None], 0)[0]
            clump = rmin <= 1.0 + 0.3 * rough
            inner = np.sqrt((dx / rx) ** 2 + ((ys - cy) / ry) ** 2) < 0.75  # the shaded inside of the crown
            crown = clump | inner
            bx = np.take_along_axis(ddx, best[None], 0)[0]
            by = np.take_along_axis(ddy, best[None], 0)[0]
            gx = np.clip(dx / rx, -1, 1)
            nx = np.clip(0.6 * bx + 0.5 * gx, -1, 1)
            up = np.clip(-by, -1, 1) * 0.45 + 0.15 - 0.3 * np.clip((ys - cy) / ry, 0, 1)
            occl = np.where(clump, 0.65 + 0.35 * np.clip(1 - rmin, 0, 1) ** 0.5, 0.45)
            trunk_top = (yb - cy) / h
            tint = np.array([1.3, 1.32, 1.0], np.float32)
        trunk = (np.abs(dx) <= trunk_w / 2) & (t >= -0.02) & (t < trunk_top + 0.05)
        mask = crown | trunk
        if not mask.any():
            return
        if detail is None:
            c = self._tex_screen(tex, xs[mask] + cx * 3.1, ys[mask] + cx, scale)
            d = c / (tex.mean + 1e-3)
            d = 1.0 + (d - 1.0) * 0.5
        else:
            d = np.clip(detail[mask], 0.3, 2.0)
            d = 1.0 + (d - 1.0) * 0.7
        base = self._tree_colour() * tint * _hsv_jitter((1.0, 1.0, 1.0), rng, 0.05, 0.1, 0.12)
        c = d * base
        up_m = up if np.isscalar(up) else up[mask]
        light = self._light(nx[mask], up_m) * (occl if np.isscalar(occl) else occl[mask])[:, None]
        c = c * light
        tr = trunk[mask] & ~crown[mask]
        if tr.any():
            shade = 0.5 + 0.5 * np.clip(dx[mask][tr] / (trunk_w / 2) * self.sun_x, 0, 1)
            c[tr] = np.array([0.24, 0.2, 0.16], np.float32) * shade[:, None] * (0.4 + 0.6 * self.sun_col)
        c = self._haze(c, z)
        self.img[y0:y1, x0:x1][mask] = c
        self.lab[y0:y1, x0:x1][mask] = TREE
        self.dist[y0:y1, x0:x1][mask] = z

    def _conifer_branches(self, dx, ys, yb: float, h: float, w: float, trunk_top: float, rough):
        """A large conifer as whorls of drooping branch sprays around a dense core: returns the crown mask and the
        shading inputs (horizontal normal, upward factor, occlusion) per pixel of the box."""
        rng = self.rng
        n_whorls = int(rng.integers(11, 19))
        tw = np.linspace(trunk_top + 0.02, 0.96, n_whorls) + rng.uniform(-0.2, 0.2, n_whorls) / n_whorls
        spacing = h * (0.96 - trunk_top) / n_whorls
        sides, t_b, lens, thick, droop, shift = [], [], [], [], [], []
        for tt in tw:
            env = w / 2 * (1 - (tt - trunk_top) / (1 - trunk_top)) ** 0.95 + 0.6
            for side in (-1.0, 1.0, -1.0, 1.0, 0.0):
                sides.append(side)
                t_b.append(tt + rng.uniform(-0.3, 0.3) / n_whorls)
                lens.append(env * (rng.uniform(0.75, 1.08) if side else rng.uniform(0.35, 0.6)))
                thick.append(spacing * rng.uniform(0.45, 0.85))
                droop.append(rng.uniform(0.15, 0.55))
                shift.append(rng.uniform(-0.4, 0.4) * env if side == 0 else 0.0)
        f32 = np.float32
        sides, t_b, lens = np.array(sides, f32), np.array(t_b, f32), np.array(lens, f32)
        thick, droop, shift = np.array(thick, f32), np.array(droop, f32), np.array(shift, f32)
        dx = dx.astype(f32)
        ys = ys.astype(f32)
        by = yb - t_b * h  # the row where each branch leaves the trunk
        seen = (by + droop * lens + thick >= ys.min() - 1) & (by - thick <= ys.max() + 1)  # cull off-screen ones
        if not seen.any():
            seen[:] = True
        sides, by, lens, thick, droop, shift = (a[seen] for a in (sides, by, lens, thick, droop, shift))
        # each branch is tested inside its own small window, back to front; the last one drawn shades the pixel
        bh, bw = dx.shape
        top_row = float(ys[0, 0])
        cols = dx[0]
        any_in = np.zeros(dx.shape, bool)
        up = np.full(dx.shape, -0.1, np.float32)
        occl = np.full(dx.shape, 0.45, np.float32)
        for i in range(len(sides)):
            side, L, th = sides[i], lens[i], thick[i]
            if side != 0:
                lo, hi = (0.0, L) if side > 0 else (-L, 0.0)
            else:
                lo, hi = shift[i] - L, shift[i] + L
            c0 = int(np.searchsorted(cols, lo - 1))
            c1 = int(np.searchsorted(cols, hi + 1))
            r0 = max(0, int(by[i] - th - top_row) - 1)
            r1 = min(bh, int(by[i] + droop[i] * L + th - top_row) + 2)
            if c0 >= c1 or r0 >= r1:
                continue
            ddx = dx[r0:r1, c0:c1]
            yy = ys[r0:r1, c0:c1]
            along = ddx * side if side != 0 else np.abs(ddx - shift[i])
            frac = along / L
            centre = by[i] + droop[i] * np.abs(along)
            half = th * (1 - 0.55 * np.clip(frac, 0, 1)) * np.sqrt(np.clip(1 - frac**6, 0, 1))
            half = half * (1 + 0.35 * rough[r0:r1, c0:c1])
            inside = (np.abs(yy - centre) <= half) & (frac <= 1) & ((along >= -0.5) | (side == 0))
            if not inside.any():
                continue
            v = np.clip((centre - yy) / np.maximum(half, 0.5), -1, 1)  # +1 at the top surface of the spray
            any_in[r0:r1, c0:c1] |= inside
            up[r0:r1, c0:c1][inside] = (0.3 + 0.45 * v)[inside]
            occl[r0:r1, c0:c1][inside] = (0.6 + 0.4 * np.clip(frac, 0, 1))[inside]
        core_w = (w / 2) * 0.22 * (1 - np.clip(((yb - ys) / h - trunk_top) / (1 - trunk_top), 0, 1))
        core = (np.abs(dx) <= core_w) & ((yb - ys) / h >= trunk_top) & ((yb - ys) / h <= 1)
        crown = any_in | core
        nx = np.clip(dx / (w / 2), -1, 1)
        return crown, nx, up, occl

    def _draw_rock(self, yb: float, cx: float, z: float, tex: Texture) -> None:
        """A boulder: a lumpy half-ellipse sitting on the ground, bump-shaded from its texture, with a contact
        shadow on the ground beneath it."""
        rng = self.rng
        H, W = self.H, self.W
        size_m = rng.uniform(0.3, 1.0) * rng.uniform(1.0, 2.6)
        h = self.f * size_m * rng.uniform(0.45, 0.85) / z
        w = self.f * size_m / z
        if h < 1.0:
            return
        x0 = int(max(0, math.floor(cx - w * 0.7 - 1)))
        x1 = int(min(W, math.ceil(cx + w * 0.7 + 1)))
        y0 = int(max(0, math.floor(yb - h * 1.3 - 1)))
        y1 = int(min(H, math.ceil(yb + h * 0.3 + 1)))
        if x0 >= x1 or y0 >= y1:
            return
        xs = self.xs[y0:y1, x0:x1]
        ys = self.ys[y0:y1, x0:x1]
        dx = (xs - cx) / (w / 2)
        dy = (yb - ys) / h
        ang = np.arctan2(dy, dx)
        ph = rng.uniform(0, 6.3, 4)
        wob = (
            1
            + 0.13 * np.sin(3 * ang + ph[0])
            + 0.08 * np.sin(5 * ang + ph[1])
            + 0.05 * np.sin(9 * ang + ph[2])
            + 0.03 * np.sin(17 * ang + ph[3])
        )
        r = np.sqrt(dx**2 + dy**2)
        base = -0.1 - 0.04 * np.sin(dx * 7 + ph[0])
        mask = (r <= wob) & (dy >= base)
        if not mask.any():
            return
        # contact shadow on the ground just below and around the base
        shadow = (~mask) & (dy < 0.05) & (dy > -0.35) & (np.abs(dx) < 1.15)
        ground = shadow & np.isin(self.lab[y0:y1, x0:x1], (GRASS, SAND, DIRT, ROCK, SNOW))
        if ground.any():
            k = np.clip(1.0 - (np.abs(dx[ground]) / 1.15) ** 2, 0, 1) * np.clip(1.0 + dy[ground] / 0.35, 0, 1)
            self.img[y0:y1, x0:x1][ground] *= (1.0 - 0.45 * k)[:, None]
        scale = max(0.5, z / self.f * 256 / 1.5)
        c = self._tex_screen(tex, xs.ravel() + cx * 7, ys.ravel(), scale).reshape(xs.shape + (3,))
        lum = c.mean(2)
        gy, gx = np.gradient(lum)
        bump = 2.5 / (tex.mean.mean() + 1e-3)
        c = c[mask]
        tgt = _hsv_jitter((0.42, 0.40, 0.37), rng, 0.05, 0.2, 0.2)
        c = c / (tex.mean + 1e-3) * (0.35 * tex.mean + 0.65 * tgt)
        nx = np.clip(dx[mask] / np.maximum(wob[mask], 0.5) - gx[mask] * bump, -1.5, 1.5)
        up = np.clip(dy[mask] / np.maximum(wob[mask], 0.5), 0, 1) + gy[mask] * bump
        light = self._light(nx, np.clip(up, -0.5, 1.2) * 0.8)
        c = c * light * (0.55 + 0.45 * np.clip(dy[mask] * 2 + 0.3, 0, 1))[:, None]
        c = self._haze(c, z)
        self.img[y0:y1, x0:x1][mask] = c
        self.lab[y0:y1, x0:x1][mask] = ROCK
        self.dist[y0:y1, x0:x1][mask] = z

    def _draw_objects(self, groups: list, foliage: Texture, rock: Texture) -> None:
        for kind, z, yb, cx, conifer, hm in groups:
            if kind == "rock":
                for i in range(len(z)):
                    self._draw_rock(float(yb[i]), float(cx[i]), float(z[i]), rock)
                continue
            small = self.f * hm / z < 7.0
            if small.any():
                self._draw_tree_batch(z[small], yb[small], cx[small], conifer[small], hm[small], foliage)
            for i in np.flatnonzero(~small)[np.argsort(-z[~small])]:
                self._draw_tree(float(yb[i]), float(cx[i]), float(z[i]), bool(conifer[i]), float(hm[i]), foliage)

    # ------------------------------------------------------------------ water
    def _water(self) -> None:
        """Reflections: every pixel above the water is mirrored about the water line at its own distance
        (row ``2 * b - y`` where ``b`` is the row of the water surface under it), nearest first; then ripples,
        a vertical smear, darkening, a tint toward the water colour and a little wave texture."""
        rng = self.rng
        water = self.water & (self.lab == WATER)
        if not water.any():
            return
        H, W = self.H, self.W
        hy, f, ch = self.hy, self.f, self.cam_h
        # the distant mirror (everything at infinity reflects about the horizon) as the fallback
        rows = np.clip(np.floor(2 * hy - self.ys[:, 0]).astype(np.int64), 0, H - 1)
        refl = self.img[rows].copy()
        # splat what stands above the water at its own mirror row, the nearest source winning
        src = ~self.water
        sy, sx = np.nonzero(src)
        dist = self.dist[sy, sx]
        b = hy + f * ch / np.maximum(dist, 1e-3)
        ty = np.floor(2 * b - (sy + 0.5)).astype(np.int64)
        ok = (ty > sy) & (ty < H)
        sy, sx, ty, dist = sy[ok], sx[ok], ty[ok], dist[ok]
        ok = water[ty, sx]
        sy, sx, ty, dist = sy[ok], sx[ok], ty[ok], dist[ok]
        if len(sy):
            key = ty * W + sx
            order = np.lexsort((dist, key))
            _, first = np.unique(key[order], return_index=True)
            win = order[first]
            refl[ty[win], sx[win]] = self.img[sy[win], sx[win]]
        yi, xi = np.nonzero(water)
        z = self.ground_z[yi - self.y0, xi]
        u = self.ground_u[yi - self.y0, xi]
        near = np.clip((yi + 0.5 - hy) / max(H - hy, 1.0), 0, 1)
        calm = rng.uniform(0.0, 1.0) ** 1.5
        # ripples: a smooth horizontal displacement, stronger close to the viewer
        tile = self.water_tile
        wave = _bilinear(tile, u * rng.uniform(6, 20), z * rng.uniform(30, 90))
        shift = wave * (0.2 + 2.5 * near) * (0.3 + 2.0 * calm)
        xs = np.clip(xi + shift, 0, W - 1.001)
        x0 = np.floor(xs).astype(np.int64)
        fr = (xs - x0)[:, None].astype(np.float32)
        r = refl[yi, x0] * (1 - fr) + refl[yi, x0 + 1] * fr
        # vertical smear (wave facets reflect a range of rows)
        ya = np.clip(yi - 1, 0, H - 1)
        yb = np.clip(yi + 1, 0, H - 1)
        sm = 0.25 + 0.5 * calm
        r = r * (1 - sm) + 0.5 * sm * (refl[ya, x0] + refl[yb, x0])
        tint = _hsv_jitter((0.10, 0.20, 0.24), rng, 0.2, 0.3, 0.3)
        dark = rng.uniform(0.6, 0.88)
        fres = (0.55 + 0.4 * (1 - near) ** 2)[:, None]  # grazing angles reflect more
        col = r * dark * fres + tint * (1 - fres)
        tex = self.bank.pick(rng, "water")
        k = _TILE / rng.uniform(2.0, 6.0)
        lod = np.log2(np.maximum(z / f * np.sqrt(z / ch) * k, 1e-6))
        wt = tex.sample(u * k, z * k * 0.5, lod).mean(1) / (tex.mean.mean() + 1e-3) - 1.0
        col = col * (1 + (0.12 * wt + 0.06 * wave * calm)[:, None])
        col = self._haze(col, z)
        self.img[yi, xi] = col

    # ------------------------------------------------------------------ final look
    def _grade(self) -> np.ndarray:
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

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        self._sky()
        self._clouds()
        if self.far_range:
            self._far_range()
        if self.has_mountains:
            self._terrain("mountain")
        if self.has_hills:
            self._terrain("hill")
        self._ground()
        groups = self._objects()
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
        self._draw_objects(behind, foliage, rock)
        self._water()
        self._draw_objects(front, foliage, rock)
        return self._grade(), self.lab.copy()


def render_scene(
    seed: int, size: tuple[int, int] = (256, 256), textures: TextureBank | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render one landscape. Returns ``(image (H, W, 3) uint8, labels (H, W) uint8 file values)``; ``size`` is
    (height, width). The same seed always gives the same arrays."""
    bank = textures if textures is not None else default_bank()
    return _Renderer(int(seed), size, bank).render()


# --------------------------------------------------------------------------------------------- dataset writing
def is_val(index: int, val_fraction: float) -> bool:
    """Whether scene ``index`` belongs to the validation split (low-discrepancy, independent of the count)."""
    return ((index * 0.6180339887498949) % 1.0) < val_fraction


def classes_txt() -> str:
    return "".join(f"{v} {n} {c[0]} {c[1]} {c[2]}\n" for v, n, c in LABEL_SPACE.paintable())


def copy_licences(textures_root: Path, out_dir: Path) -> list[Path]:
    """Copy every COPYRIGHT file under ``textures_root`` into ``out_dir/LICENSES``."""
    dest = Path(out_dir) / "LICENSES"
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted(Path(textures_root).rglob("COPYRIGHT*")):
        if p.is_file():
            rel = p.relative_to(textures_root)
            target = dest / "_".join(rel.parts)
            shutil.copyfile(p, target)
            out.append(target)
    (dest / "NOTICE.txt").write_text(
        "The images in this dataset were rendered by train/data/landscapes.py (OASIS Studio) from texture tiles of\n"
        "the Debian packages extremetuxracer-data and scorched3d-data, which are licensed GPL-2+.\n"
        "Their COPYRIGHT files are reproduced here; the derived images carry the same licence.\n",
        encoding="utf-8",
    )
    return out


def write_dataset(
    out_dir: str | Path,
    count: int,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    val_fraction: float = 0.1,
    textures_root: str | Path | None = None,
    progress: bool = True,
    image_format: str = "png",
) -> dict[str, int]:
    """Render ``count`` scenes into the generic folder layout (``train|val/images|labels``), resumably.

    Scene ``i`` uses seed ``seed + i`` and goes to ``val`` when :func:`is_val` says so. Files are written under a
    temporary name and renamed, so an interrupted run leaves no partial file; scenes whose image and label both
    exist are skipped. Also writes ``classes.txt`` and copies the textures' COPYRIGHT files into ``LICENSES/``.
    Returns ``{"written": n, "skipped": m, "train": a, "val": b}``.
    """
    from tqdm import tqdm

    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    out = Path(out_dir)
    root = Path(textures_root) if textures_root is not None else default_textures_root()
    bank = TextureBank.load(root)
    for split in ("train", "val"):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labels").mkdir(parents=True, exist_ok=True)
    cls_path = out / "classes.txt"
    atomic_write_text(cls_path, classes_txt())
    copy_licences(root, out)
    stats = {"written": 0, "skipped": 0, "train": 0, "val": 0}
    for i in tqdm(range(count), desc="landscapes", unit="scene", disable=not progress):
        split = "val" if is_val(i, val_fraction) else "train"
        stats[split] += 1
        stem = f"scene_{seed + i:07d}"
        img_path = out / split / "images" / f"{stem}.{image_format}"
        lab_path = out / split / "labels" / f"{stem}.png"
        have_img, have_lab = img_path.exists(), lab_path.exists()
        if have_img and have_lab:
            stats["skipped"] += 1
            continue
        # rendering is deterministic, so a half-written scene is completed without touching the existing file
        img, lab = render_scene(seed + i, size, bank)
        if not have_lab:
            atomic_write_bytes(lab_path, png_bytes(indexed_label_image(lab, LABEL_SPACE)))
        if not have_img:
            if image_format == "jpg":
                atomic_write_bytes(img_path, encode_image(img, img_path, quality=95))
            else:
                atomic_write_bytes(img_path, encode_image(img, img_path))
        stats["written"] += 1
    return stats


def make_sample_sheet(
    path: str | Path,
    seeds: list[int] | range,
    size: tuple[int, int] = (256, 256),
    textures: TextureBank | None = None,
    pairs_per_row: int = 3,
    max_colours: int | None = None,
) -> Path:
    """A PNG grid of (label map in class colours | rendered image) pairs, one pair per seed. ``max_colours``
    (e.g. 256) stores it as an adaptive-palette PNG, a third of the size, for READMEs."""
    seeds = list(seeds)
    bank = textures if textures is not None else default_bank()
    H, W = size
    gap = 4
    cols = max(1, min(pairs_per_row, len(seeds)))
    rows = max(1, math.ceil(len(seeds) / cols))
    sheet = np.full((rows * (H + gap) + gap, cols * (2 * W + 3 * gap) + gap, 3), 255, np.uint8)
    for n, s in enumerate(seeds):
        img, lab = render_scene(s, size, bank)
        r, c = divmod(n, cols)
        y = gap + r * (H + gap)
        x = gap + c * (2 * W + 3 * gap)
        sheet[y : y + H, x : x + W] = LABEL_SPACE.colourize(lab)
        sheet[y : y + H, x + W + gap : x + 2 * W + gap] = img
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(sheet)
    if max_colours is not None:
        im = im.quantize(int(max_colours), dither=Image.Dither.FLOYDSTEINBERG)
    im.save(path, optimize=True)
    return path
