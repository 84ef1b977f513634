"""The fast inference path (``oasis_core.fast``) against the faithful fp32 eager generator, one table per run.

    python -m benchmarks.bench_fast [--rounds 5] [--threads 1] [--no-memory] [--skip-paper]

Speed rows are measured in this process, all configurations of one table interleaved round by round (the median
of ``--rounds``), so every ratio compares figures taken under the same machine load:

- paper-size G (ADE20K config, 74.3M parameters; the seeded official-layout weights of
  ``../shared/reference/official_weights.py`` with spectral norm folded, or unit-gain random weights when that folder
  is absent): eager fp32 (the faithful baseline), eager bf16 autocast + channels-last (the old ``Synthesizer``
  path), fast fp32, fast bf16; max abs difference (fp32) or PSNR (bf16) of each against eager fp32;
- lite G (ch 16, SPADE hidden 32, 12 classes, z 64, 256x256, unit-gain random weights): the same rows;
- app-level rows through ``Synthesizer`` on a lite model file (dtype auto): a plain frame (new seed), the first
  frame after a label edit, the first frame of a label map never seen (its plan built from scratch), a reroll of a
  new region (``reroll`` + ``generate``), 8 variants one at a time and as one ``generate_variants`` call. A new
  seed, an edit and a reroll are each timed right after the frame they change
  (untimed), as in the app, so the fast path can update that frame's plan instead of building one.

Peak resident memory is measured per configuration in a fresh process (``--memory NAME``): peak of the whole
process (construction included) and peak during generation (kernel peak-RSS mark reset after construction).

Label maps are painted-looking scenes (a wavy horizon, a lake, blobs), not per-pixel noise. ``--threads`` sets the
intra-op threads of every row (eager and fast alike); 1 is the default because a machine shared with other jobs
makes multi-threaded small ops wait for busy cores. The fast path uses the machine's second core as the app does:
one image builds its tables there beside the trunk, and a batch of variants runs every step on both cores
(``FastGenerator(cores=...)``, 2 on 2+ cores). Not part of the test run.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from oasis_core import noise as noise_ops
from oasis_core.config import GeneratorConfig, paper_configs
from oasis_core.fast import FastGenerator
from oasis_core.nn import Generator, fold_spectral_norm
from oasis_core.nn.spectral import init_unit_gain
from oasis_core.runtime import cpu_supports_bf16

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
SIZE = 256
LITE = GeneratorConfig(semantic_nc=12, ch=16, spade_hidden=32, z_dim=64)


# ------------------------------------------------------------------------------------------------ setups
def unit_gain(g: Generator, seed: int = 0) -> Generator:
    """Random weights with std 1/sqrt(fan_in), small biases and non-trivial BN statistics (outputs not saturated)."""
    return init_unit_gain(g, seed).eval()


def paper_generator() -> tuple[Generator, str]:
    """The ADE20K-config generator with the parity test's seeded official weights (folded), else random weights."""
    g = Generator(paper_configs("ade20k")[0], spectral_norm=False)
    helper = REFERENCE / "official_weights.py"
    manifest = REFERENCE / "official_ade20k_G.json"
    if helper.is_file() and manifest.is_file():
        spec = importlib.util.spec_from_file_location("official_weights", helper)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        state = fold_spectral_norm(module.seeded_state_dict(json.loads(manifest.read_text()), 7))
        g.load_state_dict(state)
        del state
        return g.eval(), "seeded official weights (seed 7, folded)"
    return unit_gain(g), "unit-gain random weights (shared/reference absent)"


def scene(h: int, w: int, classes: list[int], seed: int = 0) -> np.ndarray:
    """A painted-looking label map of channel indices: sky, a wavy horizon, a lake and a few blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    lab = np.full((h, w), classes[0], np.int64)
    lab[yy > h * 0.45 + 0.05 * h * np.sin(xx / w * 9.4 + rng.uniform(0, 6))] = classes[1]
    lab[((xx - w * 0.6) / (w * 0.25)) ** 2 + ((yy - h * 0.75) / (h * 0.1)) ** 2 < 1] = classes[2]
    for k in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.04, 0.12) * w
        wobble = 1 + 0.2 * np.sin(np.arctan2(yy - cy, xx - cx) * 3)
        lab[np.hypot(xx - cx, yy - cy) * wobble < r] = classes[3 + k % (len(classes) - 3)]
    return lab


ADE_CLASSES = [3, 14, 22, 5, 17, 10, 35]  # sky, ground, water, tree, mountain, grass, rock (ADE20K channels)
LITE_CLASSES = [0, 6, 5, 8, 2, 3, 9]


def onehot(channels: np.ndarray, n: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.from_numpy(channels), n).permute(2, 0, 1)[None].float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(4.0 / ((a.float() - b.float()) ** 2).mean().clamp_min(1e-20)))


def compute_dtype() -> torch.dtype:
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


# ------------------------------------------------------------------------------------------------ timing
def interleaved(
    fns: dict[str, Callable[[], object] | tuple[Callable[[], object], Callable[[], object]]], rounds: int
) -> dict[str, float]:
    """Median ms of each callable, one call of each per round (after one untimed warm-up call each).

    A ``(setup, fn)`` pair runs ``setup`` untimed right before every call of ``fn`` (e.g. the frame on screen
    before an edit of it)."""
    pairs = {k: v if isinstance(v, tuple) else (None, v) for k, v in fns.items()}
    for setup, fn in pairs.values():
        if setup is not None:
            setup()
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, (setup, fn) in pairs.items():
            if setup is not None:
                setup()
            t = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def generator_rows(name: str, g: Generator, classes: list[int], rounds: int, threads: int) -> list[dict]:
    """eager fp32 / eager bf16 autocast / fast fp32 / fast bf16 on one generator, interleaved."""
    cfg = g.config
    channels = scene(SIZE, SIZE, classes)
    ch = torch.from_numpy(channels)
    oh = onehot(channels, cfg.semantic_nc)
    z = noise_ops.sample_field(cfg.z_dim, SIZE, SIZE, 1)[None]
    ohc, zc = oh.contiguous(memory_format=torch.channels_last), z.contiguous(memory_format=torch.channels_last)
    g_cl = Generator(cfg, spectral_norm=False)
    g_cl.load_state_dict(g.state_dict())
    g_cl = g_cl.eval().to(memory_format=torch.channels_last)
    low = compute_dtype()
    fast32 = FastGenerator(g, torch.float32, threads=threads)
    fast_low = FastGenerator(g, low, threads=threads)

    def eager_low() -> torch.Tensor:
        with torch.autocast("cpu", dtype=low, enabled=low != torch.float32):
            return g_cl(ohc, zc).float()

    # rerolled fields, a new region each call (so each call analyses new noise and misses the plan cache)
    rerolled = []
    for k in range(rounds + 1):
        mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        mask[40 + 9 * k : 110 + 9 * k, 20 + 17 * k : 100 + 17 * k] = True
        rerolled.append(noise_ops.reroll(z, mask, 50 + k, 1.0))
    state = {"k": 0}

    def reroll_low() -> torch.Tensor:
        state["k"] = (state["k"] + 1) % len(rerolled)
        return fast_low(ch, rerolled[state["k"]])

    name_low = f"fast {str(low)[6:]}"
    fns = {
        "eager fp32 (faithful baseline)": lambda: g(oh, z),
        f"eager {str(low)[6:]} autocast + channels-last": eager_low,
        "fast fp32": lambda: fast32(ch, z),
        name_low: lambda: fast_low(ch, z),
        f"{name_low}, rerolled noise (new region: new plan)": reroll_low,
    }
    with torch.inference_mode():
        ref = g(oh, z)
        quality = {
            "eager fp32 (faithful baseline)": "reference",
            f"eager {str(low)[6:]} autocast + channels-last": f"PSNR {psnr(eager_low(), ref):.1f} dB",
            "fast fp32": f"max abs diff {float((fast32(ch, z) - ref).abs().max()):.1e}",
            name_low: f"PSNR {psnr(fast_low(ch, z), ref):.1f} dB",
        }
        ms = interleaved(fns, rounds)
    quality[f"{name_low}, rerolled noise (new region: new plan)"] = (
        f"{ms[f'{name_low}, rerolled noise (new region: new plan)'] / ms[name_low]:.2f}x the time of a plain frame"
    )
    base = ms["eager fp32 (faithful baseline)"]
    return [{"group": name, "row": k, "ms": v, "ratio": base / v, "quality": quality[k]} for k, v in ms.items()]


def lite_model_file(folder: Path) -> Path:
    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.labels import LabelSpace

    names = tuple(f"class{i}" for i in range(LITE.semantic_nc))
    colours = tuple((i * 20, 255 - i * 20, (i * 70) % 256) for i in range(LITE.semantic_nc))
    space = LabelSpace("bench12", names, colours, tuple(range(LITE.semantic_nc)), dont_care=None)
    g = unit_gain(Generator(LITE, spectral_norm=False), seed=1)
    return save_checkpoint(folder / "lite.safetensors", g, label_space=space, natural_size=(SIZE, SIZE))


def app_rows(rounds: int, threads: int) -> list[dict]:
    """Synthesizer-level rows on a lite model file (dtype auto): frames, label edits, rerolls, variants."""
    from oasis_core.synthesizer import Synthesizer

    with tempfile.TemporaryDirectory() as tmp:
        path = lite_model_file(Path(tmp))
        syn = Synthesizer.load(path, device="cpu", dtype="auto")
        eager = Synthesizer(syn.model, "cpu", "fp32", fast=False)
    syn.fast_generator.threads = threads
    labels = scene(SIZE, SIZE, LITE_CLASSES).astype(np.uint8)
    state = {"seed": 100, "shift": 0}

    def next_seed() -> int:
        state["seed"] += 1
        return state["seed"]

    base = syn.sample_noise(SIZE, SIZE, 1)

    def plain() -> None:  # a new style seed on the same label map
        syn.generate(labels, syn.sample_noise(SIZE, SIZE, next_seed()))

    def on_screen() -> None:  # untimed: the frame the user edits or rerolls next
        syn.generate(labels, base)

    def label_edit() -> None:  # a stroke moved somewhere new: a label map the plan cache has not seen
        state["shift"] = (state["shift"] + 7) % (SIZE - 40)
        edited = labels.copy()
        edited[20 + state["shift"] // 2 : 40 + state["shift"] // 2, state["shift"] : state["shift"] + 40] = 4
        syn.generate(edited, base)

    def new_scene() -> None:  # a label map the plan cache has never seen (plan built from scratch)
        state["scene"] = state.get("scene", 1000) + 1
        syn.generate(scene(SIZE, SIZE, LITE_CLASSES, seed=state["scene"]).astype(np.uint8), base)

    def reroll() -> None:  # a new region (new plan) with a new seed: field built, then generated
        state["shift"] = (state["shift"] + 11) % (SIZE - 64)
        mask = np.zeros((SIZE, SIZE), bool)
        mask[40 + state["shift"] // 3 : 104 + state["shift"] // 3, state["shift"] : state["shift"] + 64] = True
        syn.generate(labels, syn.reroll(base, mask, next_seed(), 1.0))

    def one_at_a_time() -> None:
        for _ in range(8):
            syn.generate(labels, syn.sample_noise(SIZE, SIZE, next_seed()))

    def batched() -> None:
        syn.generate_variants(labels, seeds=[next_seed() for _ in range(8)])

    def eager_frame() -> None:
        eager.generate(labels, syn.sample_noise(SIZE, SIZE, next_seed()))

    fns = {
        "eager fp32 frame (faithful baseline)": eager_frame,
        "plain frame (new seed)": (on_screen, plain),
        "first frame after a label edit": (on_screen, label_edit),
        "first frame of a new label map (plan from scratch)": (on_screen, new_scene),
        "reroll of a new region (reroll + generate)": (on_screen, reroll),
        "8 variants one at a time, per variant": one_at_a_time,
        "8 variants in one generate_variants, per variant": batched,
    }
    with torch.inference_mode():
        ms = interleaved(fns, rounds)
    for k in fns:
        if "8 variants" in k:
            ms[k] /= 8
    base_ms = ms["eager fp32 frame (faithful baseline)"]
    plain_ms = ms["plain frame (new seed)"]
    one_ms = ms["8 variants one at a time, per variant"]
    reroll_ms = ms["reroll of a new region (reroll + generate)"]
    batch_ms = ms["8 variants in one generate_variants, per variant"]
    cold_ms = ms["first frame of a new label map (plan from scratch)"]
    notes = {
        "reroll of a new region (reroll + generate)": (
            f"{reroll_ms / plain_ms:.2f}x a plain frame, {reroll_ms / cold_ms:.2f}x a new label map's"
        ),
        "8 variants in one generate_variants, per variant": f"{one_ms / batch_ms:.2f}x faster than one at a time",
    }
    dtype = str(syn.dtype)[6:]
    return [
        {
            "group": f"lite via Synthesizer ({dtype})",
            "row": k,
            "ms": v,
            "ratio": base_ms / v,
            "quality": notes.get(k, ""),
        }
        for k, v in ms.items()
    ]


# ------------------------------------------------------------------------------------------------ memory
MEMORY_CONFIGS = {
    "paper eager fp32": ("paper", "eager", torch.float32),
    "paper fast fp32": ("paper", "fast", torch.float32),
    "paper fast bf16": ("paper", "fast", torch.bfloat16),
    "lite fast bf16": ("lite", "fast", torch.bfloat16),
    "lite fast bf16, batch of 8": ("lite", "fast8", torch.bfloat16),
}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_worker(name: str, threads: int) -> dict:
    """Build one configuration, drop what it does not keep, generate twice; report peak RSS figures (MB)."""
    which, mode, dtype = MEMORY_CONFIGS[name]
    if dtype == torch.bfloat16 and not cpu_supports_bf16():
        dtype = torch.float32
    torch.set_num_threads(threads)
    g = paper_generator()[0] if which == "paper" else unit_gain(Generator(LITE, spectral_norm=False))
    classes = ADE_CLASSES if which == "paper" else LITE_CLASSES
    channels = scene(SIZE, SIZE, classes)
    batch = 8 if mode == "fast8" else 1
    z = noise_ops.replicate(noise_ops.sample_vectors(batch, g.config.z_dim, 1), SIZE, SIZE)
    if mode == "eager":
        oh = onehot(channels, g.config.semantic_nc)

        def run() -> object:
            return g(oh, z)
    else:
        fast = FastGenerator(g, dtype, threads=threads)
        del g  # the fast path keeps its own (folded, packed) copies of the weights
        ch = torch.from_numpy(channels)

        def run() -> object:
            return fast(ch, z)

    gc.collect()
    held = _status_mb("VmRSS")
    construction_peak = _status_mb("VmHWM")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak mark: the next peak is generation's
        reset = True
    except OSError:
        reset = False
    with torch.inference_mode():
        for _ in range(2):
            run()
    return {
        "name": name,
        "held_mb": held,
        "generation_peak_mb": _status_mb("VmHWM") if reset else float("nan"),
        "process_peak_mb": max(construction_peak, _status_mb("VmHWM")),
    }


def memory_rows(threads: int) -> list[dict]:
    rows = []
    for name in MEMORY_CONFIGS:
        cmd = [sys.executable, "-m", "benchmarks.bench_fast", "--memory", name, "--threads", str(threads)]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            rows.append({"name": name, "error": out.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


# ------------------------------------------------------------------------------------------------ report
def print_table(rows: list[dict]) -> None:
    print(f"| {'configuration':<58} | {'ms':>9} | {'vs eager fp32':>13} | quality / note")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 15}|{'-' * 40}")
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            print(f"| **{group}**")
        print(f"| {r['row']:<58} | {r['ms']:>9.1f} | {r['ratio']:>12.2f}x | {r['quality']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per row (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for every row")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--skip-paper", action="store_true", help="skip the paper-size speed rows")
    ap.add_argument("--memory", metavar="NAME", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory:
        print(json.dumps(memory_worker(args.memory, args.threads)))
        return 0

    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), compute dtype "
        f"{str(compute_dtype())[6:]}, {SIZE}x{SIZE}, batch 1 unless said; median of {args.rounds} interleaved rounds"
    )
    rows: list[dict] = []
    if not args.skip_paper:
        g, weights = paper_generator()
        print(f"paper-size G: ADE20K config, {sum(p.numel() for p in g.parameters()) / 1e6:.1f}M parameters, {weights}")
        rows += generator_rows("paper-size G (ADE20K)", g, ADE_CLASSES, max(3, args.rounds // 2), args.threads)
        del g
        gc.collect()
    g = unit_gain(Generator(LITE, spectral_norm=False))
    rows += generator_rows("lite G (ch 16, hidden 32, 12 classes)", g, LITE_CLASSES, args.rounds, args.threads)
    rows += app_rows(args.rounds, args.threads)
    print()
    print_table(rows)

    if not args.no_memory:
        print("\npeak resident memory (MB), each configuration in a fresh process:")
        print(
            f"| {'configuration':<28} | {'held before generating':>22} | {'peak while generating':>21} | process peak"
        )
        for r in memory_rows(args.threads):
            if "error" in r:
                print(f"| {r['name']:<28} | failed: {r['error']}")
                continue
            print(
                f"| {r['name']:<28} | {r['held_mb']:>22.0f} | {r['generation_peak_mb']:>21.0f} | "
                f"{r['process_peak_mb']:.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
