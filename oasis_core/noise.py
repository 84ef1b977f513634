"""Noise fields for the generator: seeded sampling, replication, masked resampling with a strength.

Every random draw takes an explicit seed or ``torch.Generator`` (CPU), so a scene plus its seeds reproduces the same
noise bit for bit on every machine. Two forms of the same numbers:

- dense ``(z, H, W)`` tensors and the pure functions over them (``replicate``, ``resample_in_mask``, ``reroll``);
- :class:`NoiseField`, the compact form: a few distinct vectors and a map of which one each pixel holds. A style
  seed is one vector; each reroll adds a vector per vector it covers. The Synthesizer, its fast path and training
  work on this form; ``.dense()`` gives the dense tensor, equal bit for bit to the dense functions' result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"a seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def sample_vector(z_dim: int, seed: int | torch.Generator) -> torch.Tensor:
    """One standard-normal noise vector ``(z_dim,)``."""
    return torch.randn(z_dim, generator=_generator(seed))


def sample_vectors(batch: int, z_dim: int, seed: int | torch.Generator) -> torch.Tensor:
    """``(batch, z_dim)`` standard-normal vectors from one seed."""
    return torch.randn(batch, z_dim, generator=_generator(seed))


def replicate(z: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The paper's behaviour: one vector repeated over the image.

    ``(z,)`` -> ``(z, H, W)``; ``(B, z)`` -> ``(B, z, H, W)``.
    """
    return z[..., None, None].expand(*z.shape, height, width).contiguous()


def sample_field(z_dim: int, height: int, width: int, seed: int | torch.Generator) -> torch.Tensor:
    """A ``(z_dim, H, W)`` field holding one seeded vector everywhere."""
    return replicate(sample_vector(z_dim, seed), height, width)


def blend(old: torch.Tensor, new: torch.Tensor, strength: float) -> torch.Tensor:
    """``cos(s*pi/2) old + sin(s*pi/2) new``: unit variance is kept for independent unit-variance inputs."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    a = math.cos(strength * math.pi / 2)
    b = math.sin(strength * math.pi / 2)
    if strength == 1.0:
        a = 0.0
    return a * old + b * new


def resample_in_mask(noise: torch.Tensor, mask: torch.Tensor, new: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Blend ``new`` into ``noise`` where ``mask`` is true; outside the mask the result equals ``noise`` exactly.

    noise, new: ``(z, H, W)`` or ``(B, z, H, W)``; mask: ``(H, W)`` bool (or broadcastable to the noise's last axes).
    """
    if noise.shape != new.shape:
        raise ValueError(f"noise shapes differ: {tuple(noise.shape)} vs {tuple(new.shape)}")
    mask = torch.as_tensor(mask, dtype=torch.bool, device=noise.device)
    if mask.shape[-2:] != noise.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match the noise size {tuple(noise.shape[-2:])}")
    return torch.where(mask, blend(noise, new, strength), noise)


MAX_FEATHER = 256
# the soft border the app gives new rerolls, px: on the bundled landscapes model the seam of a rerolled box
# (train/quality.py) fell from 2.4 with a hard edge to 1.47 at 16 px, 1.38 at 24 and 1.30 at 32 (16 images,
# 256x256), the box still clearly redrawn (mean CIE76 dE inside 21 -> 16.6 at 24 px)
DEFAULT_FEATHER = 24
# the form of a soft border's ramp: the strength steps from the edge in (each ring of pixels holds one step, so the
# field stays piecewise constant for the fast path's look-ups):
# - "smooth" (the default since session 14): up to 16 steps (one per px on narrow borders) along a smoothstep
#   3t^2 - 2t^3, so the first steps at the edge are small. Measured on the bundled landscapes file (16 images,
#   256x256, 24-px border, train/quality.py): box-reroll seam 1.20 / 1.33 (centre / off the 32-px grid) with 4
#   linear steps, 1.17 / 1.30 with 8, 1.13 / 1.25 with 16, 1.13 / 1.22 with 16 along the smoothstep; dE inside
#   17.5 -> 16.7 (still clearly redrawn); frame time unchanged (63 ms with a cached plan, 17 vectors against 5);
# - "steps": 4 equal steps, the soft borders' first form (project files from before keep it, and their images).
FEATHER_RAMPS = ("smooth", "steps")
DEFAULT_RAMP = "smooth"
SMOOTH_LEVELS = 16


def check_ramp(ramp: str) -> None:
    if ramp not in FEATHER_RAMPS:
        raise ValueError(f"unknown soft border ramp {ramp!r}: use one of {', '.join(FEATHER_RAMPS)}")


def ramp_levels(width: int, ramp: str = DEFAULT_RAMP) -> list[tuple[int, float]]:
    """The steps of a soft border ``width`` px wide: (distance in px from the edge where the step begins, the fraction
    of the strength it holds), the first at distance 0 and the last at full strength. A hard edge (``width`` 0, or
    a smooth border 1 px wide) is ``[(0, 1.0)]``."""
    check_ramp(ramp)
    levels = 4 if ramp == "steps" else min(SMOOTH_LEVELS, width)
    if width == 0 or levels < 2:
        return [(0, 1.0)]
    frac = (lambda t: t) if ramp == "steps" else (lambda t: t * t * (3.0 - 2.0 * t))
    return [(round(k * width / levels), frac((k + 1) / levels)) for k in range(levels - 1)] + [
        (round((levels - 1) * width / levels), 1.0)
    ]


def feather_rings(mask, width: int, ramp: str = DEFAULT_RAMP) -> list[tuple[torch.Tensor, float]]:
    """A soft border for a reroll region: ``mask`` (H, W) bool split into disjoint rings by the distance to its edge
    (chessboard distance; the image border is not an edge), each with the fraction of the strength it gets
    (:func:`ramp_levels`; empty rings are left out).

    With ``ramp="steps"``, pixels within ``width / 4`` px of the edge get 1/4 of the strength, the next band 2/4,
    and so on up to the full strength from ``width * 3 / 4`` px in; ``"smooth"`` has up to 16 bands along a
    smoothstep. ``width`` 0: the whole mask at full strength.
    """
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if mask.dim() != 2:
        raise ValueError(f"a reroll mask must be (H, W), got {tuple(mask.shape)}")
    if not 0 <= width <= MAX_FEATHER:
        raise ValueError(f"the soft border must be 0 to {MAX_FEATHER} px, got {width}")
    steps = ramp_levels(width, ramp)
    rings, current, done = [], mask, 0
    for (_, fraction), (r, _) in zip(steps, steps[1:]):
        # eroded by r px: no outside pixel within r. Erosions by square windows add up, so each band erodes the last
        # one by the difference (max pooling pads with -inf, so the image border is no edge); the window as a
        # column pass then a row pass: 2 (2d + 1) comparisons a pixel for d px more
        inner = current
        if r > done:
            d = r - done
            outside = (~current).float()[None, None]
            near = torch.nn.functional.max_pool2d(outside, (2 * d + 1, 1), 1, (d, 0))
            inner = current & (torch.nn.functional.max_pool2d(near, (1, 2 * d + 1), 1, (0, d))[0, 0] == 0)
            done = r
        rings.append((current & ~inner, fraction))
        current = inner
    rings.append((current, 1.0))
    return [(m, f) for m, f in rings if m.any()]


def reroll(
    noise: torch.Tensor,
    mask: torch.Tensor,
    seed: int | torch.Generator,
    strength: float = 1.0,
    feather: int = 0,
    ramp: str = DEFAULT_RAMP,
) -> torch.Tensor:
    """Resample the noise inside ``mask`` with a fresh seeded vector (replicated over the region); with
    ``feather`` px, the strength ramps up from the region's edge (:func:`feather_rings` with ``ramp``)."""
    z_dim, h, w = noise.shape[-3:]
    new = replicate(sample_vector(z_dim, seed), h, w).to(noise)
    if noise.dim() == 4:
        new = new.expand_as(noise)
    if not feather:
        return resample_in_mask(noise, mask, new, strength)
    for ring, fraction in feather_rings(torch.as_tensor(mask, dtype=torch.bool).cpu(), feather, ramp):
        noise = resample_in_mask(noise, ring, new, strength * fraction)
    return noise


def reroll_per_class(
    noise: torch.Tensor,
    channels: torch.Tensor,
    classes: list[int],
    seed: int | torch.Generator,
    strength: float = 1.0,
) -> torch.Tensor:
    """Give each class in ``classes`` (channel indices of ``channels`` (H, W)) its own fresh vector."""
    gen = _generator(seed)
    out = noise
    for c in classes:
        out = reroll(out, channels == c, gen, strength)
    return out


# ----------------------------------------------------------------------------------------------- the compact form
@dataclass(frozen=True, eq=False)
class NoiseField:
    """A ``(z, H, W)`` noise field as ``vectors`` ``(K, z)`` float32 and ``ids`` ``(H, W)`` int64 in ``[0, K)``
    (``None`` when ``K == 1``: one vector everywhere, the paper's noise). Immutable: every operation returns a new
    field; ``vectors`` holds only vectors some pixel uses, no two equal."""

    vectors: torch.Tensor
    ids: torch.Tensor | None
    height: int
    width: int

    def __post_init__(self) -> None:
        v = self.vectors
        if v.dim() != 2 or v.shape[0] < 1 or v.dtype != torch.float32:
            raise ValueError(f"noise vectors must be (K >= 1, z) float32, got {tuple(v.shape)} {v.dtype}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"a noise field needs a positive size, got {self.height}x{self.width}")
        if self.ids is None:
            if v.shape[0] != 1:
                raise ValueError("a noise field of several vectors needs an id map")
        elif self.ids.shape != (self.height, self.width) or self.ids.dtype != torch.long:
            raise ValueError(f"the id map must be ({self.height}, {self.width}) int64, got {tuple(self.ids.shape)}")

    # ------------------------------------------------------------------ making one
    @classmethod
    def constant(cls, vector: torch.Tensor, height: int, width: int) -> NoiseField:
        """One vector ``(z,)`` over the whole field."""
        return cls(vector.detach().reshape(1, -1).to("cpu", torch.float32).contiguous(), None, int(height), int(width))

    @classmethod
    def sample(cls, z_dim: int, height: int, width: int, seed: int | torch.Generator) -> NoiseField:
        """One seeded vector over the field: :func:`sample_field`'s numbers."""
        return cls.constant(sample_vector(z_dim, seed), height, width)

    # ------------------------------------------------------------------ reading it
    @property
    def z_dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def num_vectors(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.z_dim, self.height, self.width)

    @property
    def ndim(self) -> int:
        return 3

    @property
    def nbytes(self) -> int:
        return self.vectors.numel() * 4 + (0 if self.ids is None else self.ids.numel() * 8)

    def id_map(self) -> torch.Tensor:
        """``(H, W)`` int64: the vector of each pixel (zeros for a one-vector field)."""
        if self.ids is None:
            return torch.zeros(self.height, self.width, dtype=torch.long)
        return self.ids

    def dense(self) -> torch.Tensor:
        """The ``(z, H, W)`` float32 field."""
        if self.ids is None:
            return replicate(self.vectors[0], self.height, self.width)
        return self.vectors.t().index_select(1, self.ids.reshape(-1)).reshape(self.z_dim, self.height, self.width)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.dense().numpy()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"NoiseField({self.z_dim}x{self.height}x{self.width}, {self.num_vectors} vectors)"

    # ------------------------------------------------------------------ changing it (each returns a new field)
    def reroll(
        self, mask, seed: int | torch.Generator, strength: float = 1.0, feather: int = 0, ramp: str = DEFAULT_RAMP
    ) -> NoiseField:
        """:func:`reroll` on the compact form, the same numbers bit for bit: every vector the mask covers gets one
        successor blended with the new seeded vector (per ring of the soft border when ``feather`` > 0)."""
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        m = torch.as_tensor(np.asarray(mask, dtype=bool) if not torch.is_tensor(mask) else mask, dtype=torch.bool)
        if m.shape != (self.height, self.width):
            raise ValueError(f"mask {tuple(m.shape)} does not match the noise size {(self.height, self.width)}")
        new = sample_vector(self.z_dim, seed)
        out = self
        for ring, fraction in feather_rings(m, feather, ramp):
            out = out._blend_in(ring, new, strength * fraction)
        return out

    def _blend_in(self, mask: torch.Tensor, new: torch.Tensor, strength: float) -> NoiseField:
        flat = mask.reshape(-1)
        ids = self.id_map().reshape(-1)
        inside = ids[flat]
        if inside.numel() == 0:
            return self
        k = self.num_vectors
        used = torch.unique(inside)
        blended = blend(self.vectors[used], new[None].expand(used.numel(), -1), strength)
        # equal successors (strength 1 makes them all the new vector) share one row; compared bit for bit
        distinct, first = torch.unique(blended.contiguous().view(torch.int32), dim=0, return_inverse=True)
        succ = torch.full((k,), -1, dtype=torch.long)
        succ[used] = k + first
        ids = ids.clone()
        ids[flat] = succ[inside]
        return _compacted(torch.cat((self.vectors, distinct.view(torch.float32))), ids, self.height, self.width)

    def pad(self, bottom: int, right: int) -> NoiseField:
        """The field grown by ``bottom`` rows and ``right`` columns, each new pixel holding its nearest edge
        pixel's vector (as ``np.pad(..., mode="edge")`` pads the label map)."""
        if bottom < 0 or right < 0:
            raise ValueError(f"padding must be non-negative, got {bottom}, {right}")
        if not (bottom or right):
            return self
        h, w = self.height + bottom, self.width + right
        if self.ids is None:
            return NoiseField(self.vectors, None, h, w)
        rows = torch.arange(h).clamp_(max=self.height - 1)
        cols = torch.arange(w).clamp_(max=self.width - 1)
        return NoiseField(self.vectors, self.ids[rows][:, cols].contiguous(), h, w)

    def crop(self, height: int, width: int) -> NoiseField:
        """The top-left ``height`` x ``width`` of the field."""
        if not (0 < height <= self.height and 0 < width <= self.width):
            raise ValueError(f"cannot crop a {self.height}x{self.width} field to {height}x{width}")
        if (height, width) == (self.height, self.width):
            return self
        if self.ids is None:
            return NoiseField(self.vectors, None, height, width)
        return _compacted(self.vectors, self.ids[:height, :width].reshape(-1), height, width)


def _compacted(vectors: torch.Tensor, ids: torch.Tensor, height: int, width: int) -> NoiseField:
    """A field from vectors and flat ids: equal vectors (bit for bit) merged, keeping the order in which they first
    appear (so a reroll leaves the ids of untouched vectors as they were), and vectors no pixel uses dropped."""
    k = vectors.shape[0]
    uniq, inverse = torch.unique(vectors.contiguous().view(torch.int32), dim=0, return_inverse=True)
    if uniq.shape[0] < k:
        first = torch.full((uniq.shape[0],), k, dtype=torch.long).scatter_reduce_(
            0, inverse, torch.arange(k), "amin"
        )
        order = torch.argsort(first)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(order.numel())
        vectors, ids = vectors[first[order]], rank[inverse][ids]
    present = torch.bincount(ids, minlength=vectors.shape[0]) > 0
    if not bool(present.all()):
        vectors = vectors[present]
        ids = (torch.cumsum(present, 0) - 1)[ids]
    vectors = vectors.contiguous()
    if vectors.shape[0] == 1:
        return NoiseField(vectors, None, height, width)
    return NoiseField(vectors, ids.reshape(height, width).contiguous(), height, width)


# ----------------------------------------------------------------------------------------------- per-pixel grain
# A generator with ``grain_levels`` > 0 also takes one channel of per-pixel standard-normal noise (StyleGAN's noise
# inputs, for fine stochastic texture the piecewise-constant field cannot give). It is not a second noise to keep:
# it is a function of the noise field, ``grain[y, x] = normal(hash(the vector at (y, x)), y, x)``, so a scene and
# its seeds still reproduce every image, a reroll redraws the grain exactly where it changes vectors, and padding
# or cropping a field leaves the grain of the pixels it keeps as it was. A generator with ``output_grain`` takes three
# more channels of it, added to its output (per class and colour channel: the sensor noise of real images). Integer
# hashing (SplitMix64) and a
# float32 Box-Muller transform in numpy: the same numbers on every machine, up to libm's last bit in log and cos.
_GRAIN_PIXELS = 1 << 18  # pixels hashed at a time (whole rows): the temporaries of a band stay near 12 MB
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_ROW_STEP, _COL_STEP = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on a uint64 array (products wrap modulo 2**64)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def vector_keys(vectors: torch.Tensor) -> np.ndarray:
    """(K,) uint64: a 64-bit key per noise vector ``(K, z)``, from its float32 bits (equal vectors, equal keys)."""
    v = vectors.detach().to("cpu", torch.float32) + 0.0  # -0.0 -> +0.0: the keys see values, as == does
    bits = np.ascontiguousarray(v.numpy()).view(np.uint32).astype(np.uint64)
    k = np.full(bits.shape[0], 0x243F6A8885A308D3, dtype=np.uint64)
    for j in range(bits.shape[1]):  # z (64) vectorised steps over K vectors
        k = _mix64(k ^ bits[:, j])
    return k


GRAIN_CHANNELS = 4  # the most channels one pixel's hash gives (two Box-Muller pairs)
_SECOND_PAIR = np.uint64(0x6A09E667F3BCC909)  # rehashes a pixel's key for channels 2 and 3


def grain(vectors: torch.Tensor, ids: torch.Tensor | None, height: int, width: int, channels: int = 1) -> torch.Tensor:
    """(H, W) float32 standard-normal grain of the field ``vectors`` (K, z) and ``ids`` (H, W) / (H*W,) int64 in
    ``[0, K)`` (``None``: vector 0 everywhere): each pixel's value depends only on its vector and position.

    ``channels`` > 1 (at most :data:`GRAIN_CHANNELS`): ``(channels, H, W)`` independent grains of the same pixels;
    channel 0 is the one-channel grain, bit for bit (channel 1 is its Box-Muller partner, 2 and 3 a rehash's pair).
    """
    if not 1 <= channels <= GRAIN_CHANNELS:
        raise ValueError(f"grain has 1 to {GRAIN_CHANNELS} channels, got {channels}")
    keys = vector_keys(vectors)
    flat = None if ids is None else ids.detach().to("cpu").reshape(height, width).numpy()
    out = np.empty((channels, height, width), np.float32)
    cols = np.arange(width, dtype=np.uint64) * _COL_STEP
    two_pi = np.float32(2.0 * np.pi)
    with np.errstate(over="ignore"):
        band = max(1, _GRAIN_PIXELS // width)
        for r0 in range(0, height, band):
            r1 = min(height, r0 + band)
            rows = np.arange(r0, r1, dtype=np.uint64)[:, None] * _ROW_STEP
            k = keys[0] if flat is None else keys[flat[r0:r1]]
            x = _mix64((rows + cols) ^ k)
            for c in range(0, channels, 2):
                if c:
                    x ^= _SECOND_PAIR
                    x = _mix64(x)
                # Box-Muller in float32 on two 24-bit uniforms from one hash: u1 in (0, 1], u2 in [0, 1)
                u1 = ((x >> np.uint64(40)).astype(np.float32) + np.float32(0.5)) * np.float32(2.0**-24)
                u2 = ((x >> np.uint64(16)) & np.uint64(0xFFFFFF)).astype(np.float32) * np.float32(2.0**-24)
                r = np.sqrt(np.float32(-2.0) * np.log(u1))
                out[c, r0:r1] = r * np.cos(two_pi * u2)
                if c + 1 < channels:
                    out[c + 1, r0:r1] = r * np.sin(two_pi * u2)
    return torch.from_numpy(out[0] if channels == 1 else out)


def grain_of_field(field: NoiseField, channels: int = 1) -> torch.Tensor:
    """(H, W) float32 (``(channels, H, W)`` for more than one): :func:`grain` of a compact field."""
    return grain(field.vectors, field.ids, field.height, field.width, channels)


def _group_ids(code: torch.Tensor, few: int = 16) -> torch.Tensor:
    """Dense ids ``0..K-1`` of the distinct values of ``code`` (1-D int64): by repeated max while there are at most
    ``few`` of them (no sort: the common case, a field of a few vectors), else by a sort."""
    ids = torch.full_like(code, -1)
    rest = code.clone()
    low = torch.iinfo(torch.long).min  # marks a value as taken (a code equal to it is left to the sort)
    for j in range(few):
        top = rest.max()
        if int(top) == low:
            break
        hit = rest == top
        ids.masked_fill_(hit, j)
        rest.masked_fill_(hit, low)
    if int(rest.max()) == low and not bool((ids < 0).any()):
        return ids
    return torch.unique(code, return_inverse=True)[1]


def distinct_vectors(
    field: torch.Tensor, max_vectors: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """The distinct per-pixel vectors of one dense field ``(z, H, W)``: ``(vectors (K, z) float32, ids (H*W,) int64,
    None where one value fills the field)``, or ``None`` when there are more than ``max_vectors``.

    Pixels are grouped by a hash of the bits of a few channels; every pixel is then compared exactly, all channels,
    with its group's vector, and only where that fails (a hash collision) are the vectors found by an exact sort.
    -0.0 counts as +0.0 (as ``==`` does); NaN vectors are told apart by their bits.
    """
    z, h, w = field.shape
    rows = field.reshape(z, h * w).float()
    if z == 0 or torch.equal(rows.amin(1), rows.amax(1)):  # one vector everywhere (NaN never compares equal)
        return rows[:, :1].t() + 0.0, None
    bits = (rows[:8] + 0.0).contiguous().view(torch.int32)
    code = torch.zeros(h * w, dtype=torch.long, device=field.device)
    for c in range(bits.shape[0]):  # wrapping int64 arithmetic: a collision is caught by the exact check below
        code.mul_(0x9E3779B97F4A7C1).add_(bits[c])
    ids = _group_ids(code)
    k = int(ids.max()) + 1
    if max_vectors is not None and k > max_vectors:
        return None
    some = torch.empty(k, dtype=torch.long, device=field.device).scatter_(
        0, ids, torch.arange(h * w, device=field.device)
    )  # one pixel of each group (any: all are checked below)
    vectors = rows[:, some]  # (z, K)
    for c in range(0, z, 8):  # exactly, a few channels at a time (NaN never matches)
        if float(vectors[c : c + 8].index_select(1, ids).sub_(rows[c : c + 8]).abs_().amax()) != 0.0:
            break
    else:
        return vectors.t() + 0.0, ids
    vectors, ids = torch.unique((rows.t() + 0.0).contiguous().view(torch.int32), dim=0, return_inverse=True)
    if max_vectors is not None and vectors.shape[0] > max_vectors:
        return None
    return vectors.view(torch.float32), ids


def grain_of_dense(noise: torch.Tensor, channels: int = 1) -> torch.Tensor:
    """(B, channels, H, W) float32: :func:`grain` of dense fields ``(B, z, H, W)`` (or one ``(z, H, W)``), from
    their distinct per-pixel vectors (:func:`distinct_vectors`)."""
    if noise.dim() == 3:
        noise = noise[None]
    _, _, h, w = noise.shape
    out = []
    for field in noise.detach().to("cpu", torch.float32):
        vectors, ids = distinct_vectors(field)
        out.append(grain(vectors, ids, h, w, channels).reshape(channels, h, w))
    return torch.stack(out)
