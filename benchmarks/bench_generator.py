"""Generator speed and memory: ms per frame and peak resident memory, one table row per configuration.

    python -m benchmarks.bench_generator [--repeats 5] [--size 256x256] [--threads N] [--rows NAME ...]

The baseline row is the paper-size generator (ADE20K config, 74.3M parameters) with seeded weights, eval mode,
no_grad, fp32 eager, batch 1, 256x256: the figure the performance work improves on. Other rows (optimised paths,
lite models) are added to ``ROWS``: a name and a function that builds the setup and returns the callable to time.
Every row gets its ratio to the first row measured in the same process. Not part of the test run.
"""

from __future__ import annotations

import argparse
import gc
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from oasis_core import noise as noise_ops
from oasis_core.config import GeneratorConfig, paper_configs
from oasis_core.nn import Generator
from oasis_core.nn.spectral import init_unit_gain

# The official code on this kind of machine (2 CPU cores, torch 2.13 CPU, fp32, batch 1, ADE20K, 256x256):
# G forward, eval, no grad: 1.95 s (reference/OASIS.md).
OFFICIAL_G_SECONDS = 1.95


# ------------------------------------------------------------------------------------------------ measuring
def measure(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (since the last reset, where resets work)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


@dataclass
class Row:
    name: str
    seconds: list[float]
    peak_rss_mb: float
    batch: int = 1
    note: str = ""

    @property
    def ms_per_frame(self) -> float:
        return 1000 * statistics.median(self.seconds) / self.batch


def print_table(rows: list[Row]) -> None:
    """Median ms per frame, spread, frames per second, peak RSS, and speed-up over the first row."""
    if not rows:
        return
    base = rows[0].ms_per_frame
    header = ("row", "ms/frame", "min..max ms", "frames/s", "peak RSS MiB", "vs first", "note")
    lines = []
    for r in rows:
        per = [1000 * s / r.batch for s in r.seconds]
        lines.append(
            (
                r.name,
                f"{r.ms_per_frame:.1f}",
                f"{min(per):.0f}..{max(per):.0f}",
                f"{1000 / r.ms_per_frame:.2f}",
                f"{r.peak_rss_mb:.0f}",
                f"{base / r.ms_per_frame:.2f}x",
                r.note,
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i in (0, 6) else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*header).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(fmt.format(*line).rstrip())


# ------------------------------------------------------------------------------------------------ setups
def seeded_generator(config: GeneratorConfig, seed: int = 0) -> Generator:
    """An inference generator (plain convs, as loaded from a model file) with seeded unit-gain weights."""
    return init_unit_gain(Generator(config, spectral_norm=False), seed).eval()


def label_map(semantic_nc: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A blocky random label map as a one-hot (1, N, H, W) tensor (painted-scene-like regions of 32 px)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randint(1, semantic_nc, (max(1, height // 32), max(1, width // 32)), generator=gen)
    labels = coarse.repeat_interleave(32, 0).repeat_interleave(32, 1)[:height, :width]
    return F.one_hot(labels, semantic_nc).permute(2, 0, 1)[None].float().contiguous()


def paper_fp32_eager(height: int, width: int) -> tuple[Callable[[], object], str]:
    """The baseline: paper ADE20K generator, eval, no_grad, fp32 eager, batch 1."""
    gcfg, _ = paper_configs("ade20k")
    g = seeded_generator(gcfg)
    onehot = label_map(gcfg.semantic_nc, height, width)
    z = noise_ops.replicate(noise_ops.sample_vector(gcfg.z_dim, 1), height, width)[None]

    def run() -> torch.Tensor:
        with torch.no_grad():
            return g(onehot, z)

    n = sum(p.numel() for p in g.parameters())
    return run, f"ADE20K config, {n / 1e6:.1f}M params"


# name -> setup(height, width) returning (callable to time, note). Add optimised paths and lite models here.
ROWS: dict[str, Callable[[int, int], tuple[Callable[[], object], str]]] = {
    "paper G fp32 eager": paper_fp32_eager,
}


# ------------------------------------------------------------------------------------------------ main
def _size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per row (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    ap.add_argument("--size", type=_size, default=(256, 256), help="HxW (default 256x256)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--rows", nargs="*", choices=sorted(ROWS), help="rows to run (default: all)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    h, w = args.size
    print(
        f"generator benchmark: {h}x{w}, batch 1, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    rows = []
    for name in args.rows or list(ROWS):
        gc.collect()
        reset_peak_rss()
        fn, note = ROWS[name](h, w)
        seconds = measure(fn, repeats=args.repeats, warmup=args.warmup)
        rows.append(Row(name, seconds, peak_rss_mb(), note=note))
        del fn
    print_table(rows)
    if (h, w) == (256, 256) and rows:
        print(
            f"official OASIS code on this kind of machine: {1000 * OFFICIAL_G_SECONDS:.0f} ms per frame "
            f"(reference/OASIS.md); first row is {1000 * OFFICIAL_G_SECONDS / rows[0].ms_per_frame:.2f}x that speed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
