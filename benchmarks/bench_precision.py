"""Does ``auto`` precision pick the faster dtype at every frame size? ms per frame through the ``Synthesizer``.

    python -m benchmarks.bench_precision [--model PATH] [--sizes 256,1024,2048] [--repeats 2] [--threads N]

For each size: fp32, bf16 (where this CPU has native bf16; without it bf16 takes oneDNN's slow path and ``auto`` is
fp32) and ``auto`` (the app's default: the model loaded as the dtype auto resolves to, timed again in its own
column), interleaved so that what else the machine does falls on all alike, each the best of ``--repeats`` frames
after one warm-up. The last column is auto / the fastest: about 1.00 means auto chose it. Issue 18 reported a
2048x2048 frame 1.9x slower in bf16 than in fp32; on an AVX512-BF16 EPYC (session 14) bf16 was faster at every
size (256: 43 against 68 ms; 2048: 3.4 against 7.3 s). The test suite runs it at 64x64 only (it cannot rot).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from oasis_core.runtime import cpu_supports_bf16, resolve_dtype
from oasis_core.synthesizer import Synthesizer

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "resources" / "models" / "landscapes.safetensors"


def scene(n: int) -> np.ndarray:
    """A painted-looking label map of side ``n``: sky, a mountain band, grass (the landscapes file's values)."""
    lab = np.full((n, n), 1, np.uint8)
    lab[n // 3 : n // 2] = 3
    lab[n // 2 :] = 7
    return lab


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--sizes", default="256,1024,2048", help="square frame sides, comma-separated")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    native = cpu_supports_bf16()
    auto = resolve_dtype("auto", torch.device("cpu"))
    names = ["fp32", "bf16", "auto"] if native else ["fp32", "auto"]
    print(f"{args.model.name}; {torch.get_num_threads()} threads; native bf16: {native}; auto is {str(auto)[6:]}")
    syns = {name: Synthesizer.load(args.model, device="cpu", dtype=name) for name in names}
    print(f"{'size':>10} " + " ".join(f"{name:>10}" for name in names) + "   auto / fastest")
    worst = 1.0
    for n in sizes:
        labels = scene(n)
        best = {name: float("inf") for name in names}
        for rep in range(args.repeats + 1):  # the first round warms up (plans, allocations)
            for name in names:
                z = syns[name].sample_noise(n, n, seed=rep)
                t = time.perf_counter()
                syns[name].generate(labels, z)
                if rep:
                    best[name] = min(best[name], time.perf_counter() - t)
        ratio = best["auto"] / min(best[k] for k in names if k != "auto")
        worst = max(worst, ratio)
        cells = " ".join(f"{best[name] * 1000:>8.0f}ms" for name in names)
        print(f"{n:>5}x{n:<4} {cells}   {ratio:.2f}", flush=True)
    if worst < 1.10:
        print(f"auto is within {100 * (worst - 1):.0f}% of the fastest dtype at every size")
    else:
        print(f"auto is {worst:.2f}x the fastest dtype at some size: see oasis_core.runtime.resolve_dtype")
    return 0


if __name__ == "__main__":
    sys.exit(main())
