"""Training throughput (images/s): the previous training loop against the current default, in one process.

    python -m benchmarks.bench_train [--iters 3] [--rows lite lite256 paper]

One full iteration = G step + D step with LabelMix + EMA, exactly ``train.loop.Run.train_step``, at the precision
``auto`` picks on this machine (bf16 autocast where the CPU has native bf16, else fp32) with channels_last.
"previous" pins the loop as it was before the training-speed work: dense SPADE convolutions
(``grouped_spade=False``), the literal upsample-then-convolve order in the discriminator
(``fast_resample=False``), and a second discriminator call on the fake in the D step
(``reuse_fake_logits=False``; the paper preset regenerates the fake there, so it makes that call either way). "now"
is the default configuration. Label maps are synthetic blobs (no data folder needed) and half of the images get a
second noise region (``mixed_noise=0.5``, as the bundled runs train); the two loops alternate step by step so that
a busy machine slows both alike. Not part of the test run.

``--compile d|all`` instead compares the default eager loop ("eager" column) with the same loop under
``torch.compile`` of D or of both networks ("compiled" column), and prints the first compiled step (compiling included)
and how many steps the compiled loop needs to win that time back.
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
from train.loop import Run, compile_problem


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


# the loop before the training-speed work
PREVIOUS = dict(grouped_spade=False, fast_resample=False, reuse_fake_logits=False)

ROWS = {
    # name: (preset, size, batch)
    "lite": ("lite", (128, 128), 8),
    "lite256": ("lite", (256, 256), 4),
    "paper": ("ade20k", (128, 128), 2),
}


def make_run(
    preset: str, size: tuple[int, int], batch: int, device: str = "cpu", **overrides
) -> tuple[Run, torch.Tensor, torch.Tensor]:
    space = landscapes()
    cfg = make_config(
        preset, dataset="bench", data="", run_dir="/tmp/bench_train", size=size, batch=batch, iters=1000,
        workers=0, device=device, mixed_noise=0.5, **overrides,
    )  # fmt: skip
    data = BlobScenes(64, size, space.num_channels)
    info = du.DistInfo() if device == "cpu" else du.DistInfo(device=torch.device(device))
    run = Run(cfg, info, lambda split: data, space)
    run.compile()
    items = [data[i] for i in range(batch)]
    return run, torch.stack([it["image"] for it in items]), torch.stack([it["label"] for it in items])


def compare(
    preset: str,
    size: tuple[int, int],
    batch: int,
    iters: int,
    old: dict | None = None,
    new: dict | None = None,
    device: str = "cpu",
) -> tuple[float, float, str, float]:
    """Median seconds per iteration of the ``old`` configuration (default: the previous loop) and of ``new``
    (default: the current default), measured alternately; and the first step of ``new`` (its compile time)."""
    old = PREVIOUS if old is None else old
    runs = [make_run(preset, size, batch, device, **old), make_run(preset, size, batch, device, **(new or {}))]
    times: list[list[float]] = [[], []]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(iters + 1):  # the first of each is a warm-up (allocations, oneDNN kernel selection)
        for k, (run, image, label) in enumerate(runs):
            sync()
            t = time.perf_counter()
            run.train_step(image, label)
            run.step += 1
            sync()
            times[k].append(time.perf_counter() - t)
    precision = str(runs[1][0].amp_dtype).replace("torch.", "")
    return statistics.median(times[0][1:]), statistics.median(times[1][1:]), precision, times[1][0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--compile", choices=("d", "all"), help="compare the default loop with it under torch.compile")
    args = ap.parse_args(argv)
    old, new = (PREVIOUS, {}) if args.compile is None else ({}, {"compile": args.compile})
    problem = compile_problem(torch.device("cpu")) if args.compile else None
    if problem:
        print(f"cannot compile here: {problem}")
        return 1
    a, b = ("previous", "now") if args.compile is None else ("eager", "compiled")
    print(f"training throughput, torch {torch.__version__}, {torch.get_num_threads()} threads; {a} = "
          f"{old or 'the default loop'}; {b} = {new or 'the default loop'}")  # fmt: skip
    print(f"{'config':<8} {'size':>9} {'batch':>5} {'dtype':>8} {a + ' s/it':>13} {'img/s':>6} "
          f"{b + ' s/it':>13} {'img/s':>6} {'speed-up':>8}")  # fmt: skip
    for name in args.rows:
        preset, size, batch = ROWS[name]
        t_old, t_new, precision, first = compare(preset, size, batch, args.iters, old, new)
        print(f"{name:<8} {size[0]:>4}x{size[1]:<4} {batch:>5} {precision:>8} {t_old:>13.2f} {batch / t_old:>6.2f} "
              f"{t_new:>13.2f} {batch / t_new:>6.2f} {t_old / t_new:>7.2f}x", flush=True)  # fmt: skip
        if args.compile:
            pays = "never won back"
            if t_new < t_old:
                pays = f"won back after {(first - t_new) / (t_old - t_new):.0f} steps"
            print(f"{'':<8} first compiled step {first:.0f} s (compiling included): {pays}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
