"""Training throughput (images/s): paper-size and lite configs, fp32 NCHW vs bf16 autocast + channels_last.

    python -m benchmarks.bench_train [--iters 3] [--rows lite paper]

One full iteration = G step + D step with LabelMix + EMA, exactly ``train.loop.Run.train_step``. Label maps are
synthetic blobs (no data folder needed); every configuration is measured in this process, and each bf16 row is
given as a ratio to the fp32 row of the same config. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch.utils.data import Dataset

from oasis_core.labels import landscapes
from train import distributed as du
from train.config import make_config
from train.loop import Run


class BlobScenes(Dataset):
    """Deterministic synthetic pairs: a few rectangles of classes over a background, image = noise."""

    def __init__(self, n: int, size: tuple[int, int], classes: int):
        self.n, self.size, self.classes = n, size, classes

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        h, w = self.size
        label = torch.zeros(h, w, dtype=torch.long)
        for _ in range(6):
            c = int(torch.randint(0, self.classes, (1,), generator=g))
            y, x = (int(v) for v in torch.randint(0, h // 2, (2,), generator=g))
            label[y : y + h // 2, x : x + w // 2] = c
        return {"image": torch.rand(3, h, w, generator=g) * 2 - 1, "label": label, "name": str(i)}


ROWS = {
    # name: (preset, size, batch)
    "lite": ("lite", (128, 128), 8),
    "lite256": ("lite", (256, 256), 4),
    "paper": ("ade20k", (128, 128), 2),
}


def seconds_per_iter(preset: str, size: tuple[int, int], batch: int, precision: str, cl: bool, iters: int) -> float:
    space = landscapes()
    cfg = make_config(
        preset, dataset="bench", data="", run_dir="/tmp/bench_train", size=size, batch=batch, iters=iters,
        precision=precision, channels_last=cl, workers=0, device="cpu",
    )  # fmt: skip
    data = BlobScenes(64, size, space.num_channels)
    run = Run(cfg, du.DistInfo(), lambda split: data, space)
    items = [data[i] for i in range(batch)]
    image = torch.stack([it["image"] for it in items])
    label = torch.stack([it["label"] for it in items])
    run.train_step(image, label)  # warm-up (allocations, oneDNN kernel selection)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        run.train_step(image, label)
        run.step += 1
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args(argv)
    print(f"training throughput, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'config':<10} {'size':>9} {'batch':>5} {'fp32 s/it':>10} {'fp32 img/s':>10} {'bf16+CL s/it':>12} "
          f"{'bf16+CL img/s':>13} {'speed-up':>8}")  # fmt: skip
    for name in args.rows:
        preset, size, batch = ROWS[name]
        fp32 = seconds_per_iter(preset, size, batch, "fp32", False, args.iters)
        fast = seconds_per_iter(preset, size, batch, "bf16", True, args.iters)
        print(f"{name:<10} {size[0]:>4}x{size[1]:<4} {batch:>5} {fp32:>10.2f} {batch / fp32:>10.2f} {fast:>12.2f} "
              f"{batch / fast:>13.2f} {fp32 / fast:>7.2f}x", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
