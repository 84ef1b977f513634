"""Memory estimates before large allocations: what a generation or a training step of a given size needs, what the
machine has, and one clear sentence when the first does not fit in the second. Standard library only (no torch at
import), so every tier can ask before it allocates.

The estimates are peak resident memory per output pixel, fitted to measurements on this project's CPU machine
(``make bench`` prints the measured peak beside the estimate):

- the eager generator (fp32, batch 1, 512x512): 580 B/px (ch 4, SPADE 8, z 8), 1,846 (lite: 16, 32, 64), 2,519
  (32, 64, 64), 2,326 (16, 128, 64): about ``160 + 4 * (3.5 * (labels + z) + 1.25 * hidden + 8 * top width)``;
- the fast path (``oasis_core.fast``) computes the SPADEs per label neighbourhood, so the hidden width hardly
  counts: 327, 784, 1,427, 798 B/px: about ``160 + 4 * (0.5 * (labels + z) + 10 * top width)``;
- training (generator and discriminator, forward and backward, Adam): the lite run at 128x128, batch 8, peaks at
  1.54 GB, about 9 kB per pixel and image: estimated as 6x the eager generator's inference figure.

Estimates are rounded up by 25%; they are meant to refuse what cannot fit (an 8192x8192 request on a laptop), not to
pack memory tightly.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

MAX_SIDE = 8192  # the largest image side any tool here makes: generation, canvases, training, model sizes
MARGIN = 1.25
FIXED_BYTES = 64 << 20  # scratch, caches and allocator slack beside the per-pixel part
OUTPUT_BYTES_PER_PIXEL = 15  # a finished image kept for the rest of its batch: fp32 and uint8 RGB
ALWAYS_FITS = 256 << 20  # requests this small are not checked (no reading of /proc on every live frame)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class MemoryEstimateError(ValueError):
    """A request needs more memory than the machine has available: refused before anything is allocated."""


@dataclass(frozen=True)
class Widths:
    """What the per-pixel estimate of a generator depends on (from ``GeneratorConfig``)."""

    input_nc: int  # label channels + noise channels
    hidden: int  # SPADE hidden width
    top: int  # channels of the full-resolution block
    # per-pixel grain: its fp32 map, the levels' means and casts (about 12 B/px), and on the fast path the upsampled
    # input of the grained blocks (nearest models otherwise upsample inside a fused pass): about 2.5 x top values
    grain: bool = False
    # output grain: three more fp32 grain channels, and their product with the per-pixel amplitude (fp32 and its
    # cast for the last convolution to accumulate onto): about 28 B/px
    output_grain: bool = False

    @classmethod
    def of(cls, config) -> Widths:
        """From a :class:`oasis_core.config.GeneratorConfig` (or anything with its fields)."""
        top = int(config.ch * config.multipliers[-1])
        grain = bool(getattr(config, "grain_levels", 0))
        out = bool(getattr(config, "output_grain", False))
        return cls(int(config.semantic_nc + config.z_dim), int(config.spade_hidden), top, grain, out)


def generation_bytes_per_pixel(widths: Widths, fast: bool = True, dtype_bytes: int = 4) -> float:
    """Peak bytes per output pixel and image of one generator pass (see the module docstring)."""
    if fast:
        per = 0.5 * widths.input_nc + (12.5 if widths.grain else 10) * widths.top
    else:
        per = 3.5 * widths.input_nc + 1.25 * widths.hidden + 8 * widths.top
    return 160 + dtype_bytes * per + (12 if widths.grain else 0) + (28 if widths.output_grain else 0)


def estimate(pixels: int, bytes_per_pixel: float, fixed: int = FIXED_BYTES) -> int:
    """The estimate of a request: its fixed part plus its per-pixel part, rounded up by :data:`MARGIN`."""
    return int(fixed + MARGIN * int(pixels) * bytes_per_pixel)


def generation_bytes(
    widths: Widths,
    height: int,
    width: int,
    batch: int = 1,
    fast: bool = True,
    dtype_bytes: int = 4,
    at_once: int | None = None,
) -> int:
    """Estimated peak bytes of generating ``batch`` images of ``height`` x ``width``. ``at_once``: how many of
    them are worked on at the same time (the fast path goes through a batch in chunks); the others count only
    their outputs (fp32 and uint8: :data:`OUTPUT_BYTES_PER_PIXEL`). None: the whole batch at once."""
    batch = max(1, int(batch))
    n = batch if at_once is None else max(1, min(batch, int(at_once)))
    per = n * generation_bytes_per_pixel(widths, fast, dtype_bytes) + (batch - n) * OUTPUT_BYTES_PER_PIXEL
    return estimate(int(height) * int(width), per)


def training_bytes(widths: Widths, height: int, width: int, batch: int, dtype_bytes: int = 4) -> int:
    """Estimated peak bytes of one training step (generator and discriminator, forward and backward)."""
    per = 6 * generation_bytes_per_pixel(widths, fast=False, dtype_bytes=dtype_bytes)
    return estimate(int(height) * int(width) * max(1, int(batch)), per, fixed=4 * FIXED_BYTES)


def parse_bytes(text: str) -> int:
    """``"8G"``, ``"512m"``, ``"1073741824"`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 8G, 512M)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{max(n, 0) / 1024:.0f} kB"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    """What a cgroup v2 (or v1) memory limit leaves (containers, CI runners)."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as f:
                raw = f.read().strip()
            if raw == "max":
                return None
            limit = int(raw)
            if limit >= 1 << 60:  # v1's "no limit"
                return None
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
            return max(0, limit - usage)
        except (OSError, ValueError):
            continue
    return None


def _rlimit_available() -> int | None:
    """What this process's address-space limit (``ulimit -v``) leaves."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, ValueError, StopIteration):
        return soft
    return max(0, soft - size)


def _psutil_available() -> int | None:
    try:
        import psutil  # optional; not a dependency
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def available_bytes() -> int | None:
    """Host memory a new allocation can count on now (None: unknown, no check): the least of the system's
    available memory, the cgroup's headroom, the address-space limit and ``$OASIS_MEMORY_LIMIT`` (e.g. ``8G``:
    never plan for more). GPU memory is the caller's to ask (``torch.cuda.mem_get_info``): this module does not
    import torch."""
    found = [_cgroup_available(), _rlimit_available()]
    found.append(_meminfo_available() if sys.platform.startswith("linux") else _psutil_available())
    cap = os.environ.get("OASIS_MEMORY_LIMIT")
    if cap:
        try:
            found.append(parse_bytes(cap))
        except ValueError:
            raise ValueError(f"OASIS_MEMORY_LIMIT={cap!r} is not a memory size (e.g. 8G or 512M)") from None
    known = [x for x in found if x is not None]
    return min(known) if known else None


def require(
    need: int, what: str, have: int | None = None, hint: str = "choose a smaller size", where: str = "memory"
) -> None:
    """Raise :class:`MemoryEstimateError` when ``need`` bytes do not fit in ``have`` (default: the host's
    :func:`available_bytes`; None: unknown, no check). ``what`` completes "… needs about N of memory", e.g.
    "Generating a 8192x8192 image". Requests up to :data:`ALWAYS_FITS` pass unchecked when ``have`` is not given.
    """
    if have is None:
        if need <= ALWAYS_FITS:
            return
        have = available_bytes()
    if have is None or need <= have:
        return
    raise MemoryEstimateError(
        f"{what} needs about {format_bytes(need)} of {where}, but only {format_bytes(have)} is available; {hint}."
    )
