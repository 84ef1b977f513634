"""The prepared check of the CUDA path (``make gpu-check OUT=DIR``): one command, one table, minutes of GPU time.

    python -m benchmarks.gpu_check --out DIR [--reference DIR] [--tiny] [--device cuda|cpu]

On CUDA it runs, each step on its own (a failing step is reported and the next one runs):
  1. parity: the seeded official-layout ADE20K weights (``../shared/reference``, or a copy passed as
     ``--reference``) imported, generated and discriminated on CUDA in fp32, against the official networks' CPU
     outputs in the reference ``.npz``; without the reference, against this project's eager CPU outputs;
  2. the fast path on CUDA against the eager generator (max abs difference in fp32, PSNR in fp16 and bf16);
  3. ms per frame of the paper-size and the bundled lite generator in each dtype, eager and fast; 8 variants, a
     reroll and the discriminator's segmentation of a photo; peak GPU memory; and on the machine's CPU (2
     threads) the lite frame in fp32 and bf16 from 256x256 to 2048x2048, against what ``auto`` picks;
  4. 30-step training runs with fp16 (and its grad scaler) and with bf16; a run killed (SIGKILL) and resumed
     against the same run uninterrupted (bitwise); a one-node torchrun (NCCL, one process per GPU, sync BatchNorm,
     the replica check every step); an export of it that the app's Synthesizer opens and generates with.
Where there is no CUDA it says so in one line and runs the same steps on the CPU with tiny sizes (``--tiny``;
that mode runs in the test suite, so the script cannot rot). The table is printed last and written, with every
figure, to ``DIR/gpu_check.md`` and ``DIR/gpu_check.json``; the subprocess logs and tracebacks to
``DIR/gpu_check_logs.tar.gz``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPO.parent / "shared" / "reference"
LITE_MODEL = REPO / "resources" / "models" / "landscapes.safetensors"
IMAGE_TOL = 1e-3  # as the CPU parity test: max abs difference of the image in [-1, 1]
LOGIT_TOL = 1e-3  # relative to max |logit|


class Check:
    """Runs named steps, each timed and caught; keeps the table rows and the figures."""

    def __init__(self, out: Path, device: torch.device, tiny: bool, logs: Path):
        self.out, self.device, self.tiny = out, device, tiny
        self.rows: list[dict] = []
        self.figures: dict[str, object] = {}
        self.logs = logs  # packed into one archive in ``out`` at the end (a device machine returns few files)
        self.logs.mkdir(parents=True, exist_ok=True)

    def step(self, name: str, fn: Callable[[], tuple[bool | None, str]]) -> None:
        t0 = time.perf_counter()
        try:
            ok, result = fn()
        except Exception as exc:  # noqa: BLE001 - every step reports, the next one runs
            ok, result = False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            (self.logs / f"{_slug(name)}.traceback.txt").write_text(traceback.format_exc())
        ok = None if ok is None else bool(ok)  # numpy booleans too
        row = {"step": name, "ok": ok, "result": result, "seconds": round(time.perf_counter() - t0, 1)}
        self.rows.append(row)
        mark = {True: "ok", False: "FAIL", None: "--"}[ok]
        print(f"[{mark:>4}] {name}: {result} ({row['seconds']} s)", flush=True)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time_ms(self, fn: Callable[[], object], repeat: int) -> float:
        """Median wall time of ``fn`` in ms after warm-up calls (two; one when tiny), synchronised on CUDA."""
        for _ in range(1 if self.tiny else 2):
            fn()
        self.sync()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            self.sync()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    def table(self) -> str:
        lines = ["| step | result | s |", "|---|---|---|"]
        for r in self.rows:
            mark = {True: "ok", False: "**FAIL**", None: "--"}[r["ok"]]
            lines.append(f"| {r['step']} | {mark}: {r['result']} | {r['seconds']} |")
        return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")[:60]


def _dtypes(c: Check) -> list[str]:
    """The inference dtypes to compare: fp16 is CUDA-only; bf16 where the GPU has it."""
    if c.device.type != "cuda":
        return ["fp32", "bf16"]
    return ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (peak-to-peak 2)."""
    mse = float((a.float() - b.float()).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def _env_python() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _run(args: list[str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    """A subprocess from the repository root; its output goes to ``log``; raises on a non-zero exit."""
    with open(log, "w") as f:
        r = subprocess.run(args, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           env=_env_python())  # fmt: skip
    if r.returncode != 0:
        tail = log.read_text()[-400:].strip().splitlines()
        raise RuntimeError(f"exit {r.returncode}: {tail[-1] if tail else ''} (log: {log.name})")
    return r


# ------------------------------------------------------------------------------------------------ the steps
def step_environment(c: Check) -> tuple[bool | None, str]:
    parts = [f"torch {torch.__version__}", f"python {sys.version.split()[0]}"]
    if c.device.type == "cuda":
        p = torch.cuda.get_device_properties(c.device)
        bf16 = "yes" if torch.cuda.is_bf16_supported() else "no"
        parts += [p.name, f"{p.total_memory / 2**30:.0f} GiB", f"sm_{p.major}{p.minor}", f"bf16 {bf16}",
                  f"{torch.cuda.device_count()} GPU(s)"]  # fmt: skip
    else:
        parts.append(f"CPU, {os.cpu_count()} cores (tiny sizes)")
    c.figures["environment"] = parts
    return None, ", ".join(parts)


def _paper_model(c: Check, reference: Path | None, work: Path) -> tuple[Path, dict | None]:
    """The seeded official-layout ADE20K weights as a model file, and the reference outputs (or None)."""
    from oasis_core.checkpoint import convert_official, save_checkpoint

    if reference is not None:
        spec = importlib.util.spec_from_file_location("official_weights", reference / "official_weights.py")
        official = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(official)
        for which, seed in (("G", 7), ("D", 8)):
            manifest = json.loads((reference / f"official_ade20k_{which}.json").read_text())
            torch.save(official.seeded_state_dict(manifest, seed), work / f"{which}.pth")
        path = convert_official(work / "G.pth", work / "D.pth", "ade20k", work / "paper.safetensors")
        with np.load(reference / "parity_ade20k_seed7.npz", allow_pickle=False) as f:
            return path, {k: f[k] for k in f.files}
    # no reference: seeded weights of the paper's (or, tiny, a small) configuration in this project's layout
    from oasis_core.config import DiscriminatorConfig, GeneratorConfig, paper_configs
    from oasis_core.labels import get
    from oasis_core.nn import Discriminator, Generator

    space = get("ade20k")
    if c.tiny:
        gcfg = GeneratorConfig(semantic_nc=space.num_channels, ch=4, spade_hidden=8, z_dim=64)
        dcfg = DiscriminatorConfig(semantic_nc=space.num_channels, channels=(3, 8, 8, 16, 16, 32, 32))
    else:
        gcfg, dcfg = paper_configs("ade20k")
    torch.manual_seed(7)
    g, d = Generator(gcfg), Discriminator(dcfg)
    g.init_weights(1.0)
    with torch.no_grad():
        for name, buf in g.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    path = save_checkpoint(work / "paper.safetensors", g.eval(), d.eval(), label_space=space, name="seeded paper")
    return path, None


def step_parity(c: Check, reference: Path | None, work: Path) -> tuple[bool | None, str]:
    from oasis_core import noise as noise_ops
    from oasis_core.checkpoint import load_checkpoint
    from oasis_core.synthesizer import Synthesizer

    torch.backends.cuda.matmul.allow_tf32 = False  # parity is fp32 against fp32
    torch.backends.cudnn.allow_tf32 = False
    path, ref = _paper_model(c, reference, work)
    c.figures["paper_model"] = str(path)
    mf = load_checkpoint(path)
    if ref is not None:
        labels, z, d_input = ref["labels"], torch.from_numpy(ref["z"]), ref["d_input"]
        want_img, want_logits, against = ref["image"], ref["d_logits"], "the official CPU outputs"
    else:
        size = 64 if c.tiny else 256
        rng = np.random.default_rng(7)
        labels = np.repeat(np.repeat(rng.integers(1, 151, (size // 16, size // 16)), 16, 0), 16, 1).astype(np.uint8)
        z = torch.randn(64, generator=torch.Generator().manual_seed(7))
        d_input = rng.uniform(-1, 1, (3, size, size)).astype(np.float32)
        cpu = Synthesizer(mf, "cpu", "fp32", fast=False)
        h, w = labels.shape
        want_img = cpu.generate_tensor(labels, noise_ops.replicate(z, h, w))[0].numpy()
        want_logits = cpu.discriminate(d_input)[0].numpy()
        against = "this project's eager CPU outputs (no reference folder)"
    dev = Synthesizer(mf, c.device, "fp32", fast=False)
    h, w = labels.shape
    img = dev.generate_tensor(labels, noise_ops.replicate(z, h, w))[0].cpu().numpy()
    logits = dev.discriminate(d_input)[0].cpu().numpy()
    d_img = float(np.abs(img - want_img).max())
    d_log = float(np.abs(logits - want_logits).max()) / float(np.abs(want_logits).max())
    c.figures["parity"] = {"image_max_abs": d_img, "logits_max_rel": d_log, "against": against}
    ok = d_img <= IMAGE_TOL and d_log <= LOGIT_TOL
    return ok, f"image max abs {d_img:.1e} (tol {IMAGE_TOL}), logits max rel {d_log:.1e} (tol {LOGIT_TOL}), {against}"


def _scene(size: int, space) -> np.ndarray:
    """A painted-looking label map: sky over ground with two shapes (file values of ``space``)."""
    v = space.file_values
    lab = np.full((size, size), v[1 % len(v)], np.uint8)
    lab[size // 2 :] = v[2 % len(v)]
    lab[size // 4 : size // 2, size // 5 : size // 2] = v[3 % len(v)]
    lab[size * 5 // 8 : size * 7 // 8, size // 2 : size * 7 // 8] = v[4 % len(v)]
    return lab


def step_fast_vs_eager(c: Check, path: Path) -> tuple[bool | None, str]:
    from oasis_core.checkpoint import load_checkpoint
    from oasis_core.synthesizer import Synthesizer

    mf = load_checkpoint(path)
    size = 64 if c.tiny else 256
    labels = _scene(size, mf.label_space)
    eager = Synthesizer(mf, c.device, "fp32", fast=False)
    field = eager.sample_noise(size, size, 3)
    ref = eager.generate_tensor(labels, field).cpu()
    out = {}
    for dt in _dtypes(c):
        syn = Synthesizer(mf, c.device, dt, fast=True)
        if syn.fast_generator is None:
            return False, f"the fast path is not available: {syn.fast_reason}"
        img = syn.generate_tensor(labels, field).cpu()
        out[dt] = float((img - ref).abs().max()) if dt == "fp32" else _psnr(img, ref)
    c.figures[f"fast_vs_eager_{mf.name}"] = out
    ok = out["fp32"] < 1e-3 and all(v > 30 for k, v in out.items() if k != "fp32")
    rest = ", ".join(f"{k} PSNR {v:.1f} dB" for k, v in out.items() if k != "fp32")
    return ok, f"{mf.name}: fp32 max abs {out['fp32']:.1e}; {rest}"


def step_speed(c: Check, path: Path, label: str) -> tuple[bool | None, str]:
    from oasis_core.checkpoint import load_checkpoint
    from oasis_core.synthesizer import Synthesizer

    mf = load_checkpoint(path)
    size = 64 if c.tiny else 256
    repeat = 2 if c.tiny else 10
    labels = _scene(size, mf.label_space)
    rows = {}
    for fast in (False, True):
        for dt in _dtypes(c):
            syn = Synthesizer(mf, c.device, dt, fast=fast)
            field = syn.sample_noise(size, size, 1)
            name = f"{'fast' if fast else 'eager'} {dt}"
            rows[name] = c.time_ms(lambda s=syn, f=field: s.generate(labels, f), repeat)
    c.figures[f"ms_per_frame_{label}"] = {"size": size, **rows}
    return None, f"{label} {size}x{size} ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in rows.items())


def step_app_operations(c: Check, path: Path) -> tuple[bool | None, str]:
    from oasis_core.checkpoint import load_checkpoint
    from oasis_core.synthesizer import Synthesizer

    mf = load_checkpoint(path)
    size = 64 if c.tiny else 256
    repeat = 2 if c.tiny else 10
    syn = Synthesizer(mf, c.device, "auto", fast=True)
    labels = _scene(size, mf.label_space)
    field = syn.sample_noise(size, size, 1)
    mask = np.zeros((size, size), bool)
    mask[size // 4 : size * 3 // 4, size // 4 : size * 3 // 4] = True
    variants = c.time_ms(lambda: syn.generate_variants(labels, seeds=list(range(8))), repeat)
    reroll = c.time_ms(lambda: syn.generate(labels, syn.reroll(field, mask, 5, 1.0, 24)), repeat)
    photo = syn.generate(labels, field)
    seg = syn.segment(photo)
    agree = float((seg.labels == labels).mean())
    segment = c.time_ms(lambda: syn.segment(photo), repeat)
    peak = torch.cuda.max_memory_allocated(c.device) / 2**20 if c.device.type == "cuda" else None
    c.figures["app_operations"] = {"dtype": str(syn.dtype), "variants_8_ms": variants, "reroll_ms": reroll,
                                   "segment_ms": segment, "segment_agreement": agree, "peak_gpu_mib": peak}  # fmt: skip
    mem = f", peak GPU memory {peak:.0f} MiB (all steps so far)" if peak is not None else ""
    return None, (f"{mf.name} ({syn.dtype}): 8 variants {variants:.1f} ms, reroll + frame {reroll:.1f} ms, D "
                  f"segmentation {segment:.1f} ms (agrees with the map on {agree:.0%}){mem}")  # fmt: skip


def step_cpu_precision(c: Check, path: Path) -> tuple[bool | None, str]:
    """The machine's CPU, 2 threads (a laptop's budget): the lite fast path in fp32 and bf16 by frame size, and what
    ``auto`` picks there (the app-as-a-user issue: auto was the slower one at 2048x2048 on a CPU with bf16)."""
    from oasis_core.checkpoint import load_checkpoint
    from oasis_core.runtime import cpu_supports_bf16, resolve_dtype
    from oasis_core.synthesizer import Synthesizer

    mf = load_checkpoint(path)
    sizes = (64, 128) if c.tiny else (256, 512, 1024, 2048)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows = {}
        syns = {dt: Synthesizer(mf, "cpu", dt) for dt in ("fp32", "bf16")}
        for size in sizes:
            labels = _scene(size, mf.label_space)
            field = syns["fp32"].sample_noise(size, size, 1)
            repeat = 2 if (c.tiny or size >= 1024) else 5
            rows[size] = {
                dt: c.time_ms(lambda s=syn, lab=labels, f=field: s.generate(lab, f), repeat) for dt, syn in syns.items()
            }
    finally:
        torch.set_num_threads(old)
    auto = resolve_dtype("auto", torch.device("cpu"))
    c.figures["cpu_precision_ms"] = {"native_bf16": cpu_supports_bf16(), "auto": str(auto), **rows}
    slower = [s for s, r in rows.items() if r["bf16" if auto == torch.bfloat16 else "fp32"] > min(r.values()) * 1.1]
    text = "; ".join(f"{s}: fp32 {r['fp32']:.0f}, bf16 {r['bf16']:.0f} ms" for s, r in rows.items())
    return None, f"CPU (2 threads, native bf16 {'yes' if cpu_supports_bf16() else 'no'}, auto {auto}): {text}" + (
        f"; auto is >10% slower at {', '.join(map(str, slower))}" if slower else "; auto is never >10% slower"
    )


def _train_args(c: Check, data: Path, run_dir: Path, iters: int, precision: str, extra: list[str] = ()) -> list[str]:
    size, batch = ("64x64", 2) if c.tiny else ("128x128", 8)
    preset = "tiny" if c.tiny else "lite"
    return ["fit", "--dataset", "landscapes", "--data", str(data), "--preset", preset, "--size", size,
            "--batch", str(batch), "--iters", str(iters), "--run-dir", str(run_dir), "--precision", precision,
            "--device", c.device.type, "--workers", "0", "--sample-every", "0", "--log-every", "1", *extra]  # fmt: skip


def _last_metrics(run_dir: Path) -> dict:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def step_train(c: Check, data: Path, work: Path, precision: str) -> tuple[bool | None, str]:
    if precision == "fp16" and c.device.type != "cuda":
        return None, "fp16 training (with its grad scaler) is for CUDA: not run on the CPU"
    iters = 6 if c.tiny else 30
    run_dir = work / f"train_{precision}"
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "train", *_train_args(c, data, run_dir, iters, precision)],
         c.logs / f"train_{precision}.log", 900)  # fmt: skip
    seconds = time.perf_counter() - t0
    m = _last_metrics(run_dir)
    finite = all(math.isfinite(m[k]) for k in ("g", "d"))
    c.figures[f"train_{precision}"] = {"iters": iters, "seconds": seconds, **m}
    return finite, (f"{iters} steps in {seconds:.0f} s (start-up included), {m.get('images_per_s', 0):.1f} images/s "
                    f"at the end, losses G {m['g']:.3f} D {m['d']:.3f}")  # fmt: skip


def step_compile(c: Check) -> tuple[bool | None, str]:
    """The training step eager against ``--compile d`` and ``--compile all`` (lite 128x128 batch 32, as GPU training
    runs), with each first step (compiling included): the figures that decide whether compile is worth a default
    on CUDA. On a 2-core CPU both were slower (1.82 and 1.97 s/it against 1.53)."""
    from benchmarks.bench_train import compare
    from train.loop import compile_problem

    problem = compile_problem(c.device)
    if problem:
        return None, f"not measured: {problem}"
    parts = []
    preset, size, batch = ("tiny", (64, 64), 2) if c.tiny else ("lite", (128, 128), 32)
    for what in ("d", "all"):
        t_eager, t_comp, precision, first = compare(preset, size, batch, 5, {}, {"compile": what}, c.device.type)
        c.figures[f"compile_{what}"] = {"eager_s": t_eager, "compiled_s": t_comp, "first_s": first, "dtype": precision}
        parts.append(f"{what}: {t_comp * 1000:.0f} ms/it against eager {t_eager * 1000:.0f} "
                     f"({t_eager / t_comp:.2f}x; first step {first:.0f} s)")  # fmt: skip
    return None, f"{preset} {size[0]}x{size[1]} batch {batch}, {precision}: " + "; ".join(parts)


def step_kill_resume(c: Check, data: Path, work: Path) -> tuple[bool | None, str]:
    from train.loop import load_state

    iters, every = (6, 2) if c.tiny else (30, 5)
    straight, killed = work / "straight", work / "killed"
    _run([sys.executable, "-m", "train", *_train_args(c, data, straight, iters, "fp32", ["--save-every", str(every)])],
         c.logs / "straight.log", 900)  # fmt: skip
    args = _train_args(c, data, killed, 100_000, "fp32", ["--save-every", str(every)])
    with open(c.logs / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "train", *args], cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, env=_env_python())  # fmt: skip
        deadline = time.time() + 600
        while time.time() < deadline and not (killed / "state.pt").exists() and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    at_kill = int(load_state(killed / "state.pt")["step"])
    if at_kill > iters:
        return None, f"the killed run passed step {iters} before the kill (step {at_kill}): nothing compared"
    _run([sys.executable, "-m", "train", *_train_args(c, data, killed, iters, "fp32", ["--save-every", str(every),
          "--resume"])], c.logs / "resumed.log", 900)  # fmt: skip
    a, b = load_state(straight / "state.pt"), load_state(killed / "state.pt")
    same = all(torch.equal(a[p][k], b[p][k]) for p in ("G", "D", "EMA") for k in a[p]) and a["step"] == b["step"]
    differ = "" if same else "; weights differ (a nondeterministic kernel?)"
    verdict = "bitwise identical" if same else "NOT identical"
    return same, f"killed at step {at_kill}, resumed to {iters}: {verdict}{differ}"


def step_torchrun(c: Check, data: Path, work: Path) -> tuple[bool | None, str]:
    n = max(1, torch.cuda.device_count()) if c.device.type == "cuda" else 2
    iters = 3 if c.tiny else 10
    run_dir = work / "ddp"
    args = _train_args(c, data, run_dir, iters, "auto", ["--check-every", "1", "--save-every", str(iters)])
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", "train",
          *args], c.logs / "torchrun.log", 900)  # fmt: skip
    log = (c.logs / "torchrun.log").read_text()
    backend = "NCCL" if c.device.type == "cuda" else "gloo"
    norm = "plain BatchNorm per process" if "plain BatchNorm per process" in log else "sync BatchNorm"
    c.figures["torchrun"] = {"processes": n, "backend": backend, "iters": iters}
    return True, f"{n} process(es), {backend}, {norm}, replicas compared after each of {iters} steps: equal"


def step_export(c: Check, work: Path) -> tuple[bool | None, str]:
    from oasis_core.synthesizer import Synthesizer

    out = work / "exported.safetensors"
    _run([sys.executable, "-m", "train", "export", str(work / "ddp"), "-o", str(out), "--dtype", "fp16"],
         c.logs / "export.log", 900)  # fmt: skip
    syn = Synthesizer.load(out, device=c.device.type, dtype="auto")
    size = 64
    img = syn.generate(_scene(size, syn.label_space), syn.sample_noise(size, size, 1))
    ok = img.shape == (size, size, 3) and img.dtype == np.uint8 and img.std() > 0
    mib = out.stat().st_size / 2**20
    return ok, f"{mib:.1f} MiB fp16 file opened by the Synthesizer on {c.device.type}, a {size}x{size} image made"


def pack_logs(folder: Path, archive: Path) -> None:
    """The logs of a check in one ``.tar.gz`` (a device machine hands back at most a few files)."""
    import tarfile

    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=str(p.relative_to(folder)))


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the table, the figures and the logs")
    ap.add_argument("--reference", type=Path, help=f"the parity reference folder (default: {DEFAULT_REFERENCE})")
    ap.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda where there is one")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (the default on the CPU)")
    ap.add_argument(
        "--compile", action="store_true", help="also time the training step under torch.compile (minutes of compiling)"
    )
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: --device cuda cannot run", file=sys.stderr)
        return 2
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        print("no CUDA here: running the same steps on the CPU with tiny sizes", flush=True)
    tiny = args.tiny or device.type == "cpu"
    # the official parity converts the paper-size model (300 MB): on CUDA, or where asked for
    reference = args.reference or (DEFAULT_REFERENCE if DEFAULT_REFERENCE.is_dir() and not tiny else None)
    if reference is not None and not (reference / "parity_ade20k_seed7.npz").is_file():
        print(f"{reference} holds no parity_ade20k_seed7.npz: parity is checked against the CPU instead", flush=True)
        reference = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    c = Check(args.out, device, tiny, work / "logs")
    try:
        from train.data.synthetic import make_synthetic_landscapes

        data = make_synthetic_landscapes(work / "data", train=8 if tiny else 64, val=2, size=64 if tiny else 128)
        paper = work / "paper.safetensors"
        c.step("environment", lambda: step_environment(c))
        c.step("parity (fp32, seeded official-layout ADE20K)", lambda: step_parity(c, reference, work))
        if paper.is_file():
            c.step("fast path against eager, paper model", lambda: step_fast_vs_eager(c, paper))
            c.step("speed, paper model", lambda: step_speed(c, paper, "paper"))
        c.step("fast path against eager, lite model", lambda: step_fast_vs_eager(c, LITE_MODEL))
        c.step("speed, lite model", lambda: step_speed(c, LITE_MODEL, "lite"))
        c.step("variants, reroll, segmentation, memory", lambda: step_app_operations(c, LITE_MODEL))
        c.step("CPU precision by frame size, lite model", lambda: step_cpu_precision(c, LITE_MODEL))
        for precision in ("fp16", "bf16"):
            c.step(f"training, {precision}", lambda p=precision: step_train(c, data, work, p))
        if args.compile:
            c.step("training step, eager against torch.compile", lambda: step_compile(c))
        c.step("kill and resume (bitwise)", lambda: step_kill_resume(c, data, work))
        c.step("torchrun, one node", lambda: step_torchrun(c, data, work))
        c.step("export, opened by the Synthesizer", lambda: step_export(c, work))
    finally:
        pack_logs(c.logs, args.out / "gpu_check_logs.tar.gz")
        shutil.rmtree(work, ignore_errors=True)
    table = c.table()
    failed = [r["step"] for r in c.rows if r["ok"] is False]
    summary = f"{len(c.rows)} steps on {device.type}{' (tiny)' if tiny else ''}: " + (
        f"{len(failed)} failed ({', '.join(failed)})" if failed else "none failed"
    )
    (args.out / "gpu_check.md").write_text(f"{table}\n\n{summary}\n")
    (args.out / "gpu_check.json").write_text(json.dumps({"rows": c.rows, "figures": c.figures}, indent=2, default=str))
    print(f"\n{table}\n\n{summary}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
