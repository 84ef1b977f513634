"""Texture tiles for the landscapes: the GPL-2+ tiles of ../shared/data/textures by role (grass, rock, snow,
foliage, sky boxes...), mip-mapped, sampled with bilinear filtering and a level of detail."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

# Texture pools, by role. Paths are relative to the textures root; missing files are skipped.
_S3D = "scorched3d_landscape"
_ETR = "etr_terrains"
POOLS: dict[str, list[str]] = {
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
TILE = 256  # every tile is resampled to this size (a power of two, for the mip pyramid)


def default_textures_root() -> Path:
    """``<repo>/../shared/data/textures``, located relative to this file."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "textures"


@dataclass(frozen=True)
class Texture:
    """A seamless tile as a mip pyramid (level 0 = ``TILE`` square, uint8) plus its mean colour in 0..1."""

    name: str
    levels: tuple[np.ndarray, ...]
    mean: np.ndarray

    @classmethod
    def from_image(cls, name: str, img: Image.Image, flatten: float = 0.0) -> Texture:
        """``flatten`` in 0..1 removes that share of the tile's large-scale light/dark blotches (which would
        otherwise repeat visibly across a ground plane), keeping the fine detail."""
        img = img.convert("RGB")
        if img.size != (TILE, TILE):
            img = img.resize((TILE, TILE), Image.Resampling.BICUBIC)
        level = np.asarray(img, dtype=np.float32)
        if flatten > 0:
            # low-pass: 16x16 block means, bilinearly upsampled with wrap-around
            n = TILE // 16
            blocks = level.mean(axis=2).reshape(n, 16, n, 16).mean(axis=(1, 3))
            c = (np.arange(TILE, dtype=np.float64) + 0.5) / 16.0
            yy, xx = np.meshgrid(c, c, indexing="ij")
            low = bilinear(blocks.astype(np.float32), xx.ravel(), yy.ravel()).reshape(TILE, TILE, 1)
            low = np.maximum(low, 1.0)
            level = np.clip(level * (low.mean() / low) ** flatten, 0, 255)
        levels = [np.ascontiguousarray(level.round().astype(np.uint8))]
        while level.shape[0] > 1:
            level = 0.25 * (level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2])
            levels.append(np.ascontiguousarray(level.round().astype(np.uint8)))
        return cls(name, tuple(levels), level.reshape(3) / 255.0)

    def sample(self, s: np.ndarray, t: np.ndarray, lod: np.ndarray | float) -> np.ndarray:
        """Trilinear sample at level-0 texel coordinates (wrapping); returns (N, 3) float32 in 0..1."""
        return mip_sample(self.levels, s, t, lod) * np.float32(1.0 / 255.0)


def mip_levels(tile: np.ndarray, min_size: int = 1) -> tuple[np.ndarray, ...]:
    """A mip pyramid of a float tile by 2x2 averaging."""
    levels = [tile]
    while levels[-1].shape[0] > min_size:
        a = levels[-1]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
    return tuple(levels)


def mip_sample(levels: tuple[np.ndarray, ...], s: np.ndarray, t: np.ndarray, lod) -> np.ndarray:
    """Trilinear lookup in a pyramid at level-0 texel coordinates; ``lod`` a scalar or one value per sample."""
    top = len(levels) - 1
    if np.ndim(lod) == 0:  # one level for every sample
        lv = int(np.clip(math.floor(float(lod)), 0, top))
        fr = float(np.clip(float(lod) - lv, 0.0, 1.0)) if lv < top else 0.0
        k = 0.5**lv
        a = bilinear(levels[lv], s * k, t * k)
        if fr > 0:
            a += (bilinear(levels[lv + 1], s * (k * 0.5), t * (k * 0.5)) - a) * np.float32(fr)
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
        a = bilinear(levels[lv], s[idx] * k, t[idx] * k)
        if lv < top:
            b = bilinear(levels[lv + 1], s[idx] * (k * 0.5), t[idx] * (k * 0.5))
            a += (b - a) * frac[idx]
        out[idx] = a
    return out


def bilinear(img: np.ndarray, s: np.ndarray, t: np.ndarray) -> np.ndarray:
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
        for role, files in POOLS.items():
            if role == "cloud":
                continue
            flat = {"grass": 0.85, "sand": 0.85, "dirt": 0.85, "rock": 0.85, "snow": 0.85, "mountain": 0.6}.get(
                role, 0.0
            )
            pools[role] = [Texture.from_image(f, Image.open(root / f), flat) for f in files if (root / f).is_file()]
            if not pools[role]:
                missing.append(role)
        clouds = []
        for f in POOLS["cloud"]:
            if (root / f).is_file():
                g = np.asarray(Image.open(root / f).convert("L").resize((TILE, TILE)), dtype=np.float32)
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
                f"(expected the files listed in train/landscapes/textures.py POOLS)"
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
