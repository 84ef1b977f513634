"""The OASIS training loop: G step, D step with LabelMix, EMA, logging, samples, atomic resumable state.

Determinism: every random draw of a step (noise, LabelMix coins, data augmentation) derives from
``(seed, step, rank)`` or ``(seed, epoch, index)``, and the data order from ``(seed, epoch)``; so a run killed at
any moment and resumed from its last state reaches exactly the weights of an uninterrupted run.

Longer than 500 lines: the ``Run`` (networks, optimisers, EMA, the noise and the step) and ``fit`` (the loop, its
checks, samples and atomic state) share one state dictionary; data sampling and precision are elsewhere.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, Sampler

from oasis_core import losses, memory
from oasis_core.config import DiscriminatorConfig, GeneratorConfig
from oasis_core.files import LockedError, atomic_write_bytes, exclusive_lock
from oasis_core.labels import LabelSpace
from oasis_core.nn import Discriminator, Generator
from oasis_core.nn.discriminator import DResBlock
from oasis_core.nn.grouped import SegCodes
from oasis_core.noise import NoiseField, sample_vectors
from oasis_core.noise import grain as noise_grain
from oasis_core.runtime import available_memory, resolve_dtype
from train import distributed as du
from train.config import COMPILE_CHOICES, DIVERSITY_FAR, MIXED_NOISE_SHAPES, TrainConfig
from train.grain import calibrate_output_grain

STATE_FILE = "state.pt"
LOCK_FILE = ".lock"  # held by the training process (`oasis_core.files.exclusive_lock`)
STATE_VERSION = 1


class TrainingError(RuntimeError):
    """A run cannot go on (diverged, incompatible resume state, ...)."""


# ------------------------------------------------------------------------------------------------ data order
def _mix(*xs: int) -> int:
    """A 63-bit seed from integers (splitmix-style), stable across platforms."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h ^= (int(x) + 0x9E3779B97F4A7C15 + (h << 6) + (h >> 2)) & 0xFFFFFFFFFFFFFFFF
        h = (h * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class InfiniteShardedSampler(Sampler[int]):
    """An endless stream of ``epoch * n + index`` codes: shuffled per epoch from (seed, epoch), sharded by rank.

    Starting at ``start_sample`` (samples this rank already consumed) resumes the stream exactly.
    """

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool = True, start_sample: int = 0):
        self.n, self.rank, self.world, self.seed, self.shuffle = n, rank, world, seed, shuffle
        self.per_rank = math.ceil(n / world)
        self.start_sample = start_sample

    def epoch_indices(self, epoch: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        order += order[: self.per_rank * self.world - self.n]  # pad so every rank gets the same count
        return order[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start_sample, self.per_rank)
        while True:
            idx = self.epoch_indices(epoch)
            for i in idx[offset:]:
                yield epoch * self.n + i
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:  # nominal; the stream is endless
        return self.per_rank


class SeededItems(Dataset):
    """Runs the inner dataset's random augmentation under a seed derived from (seed, epoch, index)."""

    def __init__(self, inner: Dataset, seed: int):
        self.inner, self.seed = inner, seed
        self.n = len(inner)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, code: int):
        epoch, index = divmod(int(code), self.n)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_mix(self.seed, epoch, index))
            item = self.inner[index]
        return item["image"], item["label"]


# ------------------------------------------------------------------------------------------------ models
GRAIN_EVERY = 100  # steps between re-estimates of the training generator's output grain (train.grain)
GRAIN_BATCHES = 4  # batches of training images each estimate uses


def is_grain_parameter(name: str) -> bool:
    """The generator's grain entries (block grain weights, output grain amplitudes): zero at the start, a warm
    start may add or drop them; the weights learn at ``g_grain_lr`` times the generator's rate."""
    return name.endswith(".grain_weight") or name == "grain_rgb"


def model_configs(cfg: TrainConfig, space: LabelSpace) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    h, w = cfg.size
    gcfg = GeneratorConfig(
        semantic_nc=space.num_channels,
        ch=cfg.ch,
        spade_hidden=cfg.spade_hidden,
        z_dim=cfg.z_dim,
        norm=cfg.norm,
        aspect_ratio=w / h,
        **({"multipliers": tuple(cfg.g_multipliers)} if cfg.g_multipliers else {}),
        upsample=cfg.g_upsample,
        grain_levels=cfg.g_grain,
        output_grain=cfg.g_grain_out,
    )
    return gcfg, DiscriminatorConfig(semantic_nc=space.num_channels, channels=cfg.d_channels)


def check_training_memory(cfg: TrainConfig, device: torch.device, space: LabelSpace) -> None:
    """Refuse (one sentence) a training size and batch whose step cannot fit in the memory the device has
    available, before the networks or the first batch are built (``oasis_core.memory``)."""
    gcfg, _ = model_configs(cfg, space)
    h, w = cfg.size
    need = memory.training_bytes(memory.Widths.of(gcfg), h, w, cfg.batch)
    have, where = available_memory(device)
    memory.require(
        need, f"Training at {w}x{h} with batch {cfg.batch}", have, "choose a smaller --size or --batch", where
    )


def build_models(cfg: TrainConfig, space: LabelSpace) -> tuple[Generator, Discriminator]:
    gcfg, dcfg = model_configs(cfg, space)
    torch.manual_seed(_mix(cfg.seed, 0xA11CE))
    g, d = Generator(gcfg), Discriminator(dcfg)
    g.init_weights(cfg.init_gain_g)
    d.init_weights(cfg.init_gain_d)
    return g, d


def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """EMA over every state entry (parameters, spectral-norm vectors, BN statistics); integer entries copied."""
    with torch.no_grad():
        src = model.state_dict()
        for k, v in ema.state_dict().items():
            s = src[k]
            if v.is_floating_point():
                v.lerp_(s.to(v.dtype), 1.0 - decay)
            else:
                v.copy_(s)


def refresh_bn(
    generator: Generator, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> None:
    """Re-estimate BN statistics of (a copy of) the EMA generator: cumulative averages over ``batches``.

    Only the BN layers run in train mode, so spectral-norm vectors are not touched by power iterations. ``batches``
    may be a generator: one batch is held at a time (50 batches of one-hot maps and noise at 256x256 would be 8 GB).
    """
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = iter(batches)
    first = next(batches, None)
    if not bns or first is None:
        return
    generator.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for onehot, noise in itertools.chain([first], batches):
            generator(onehot.to(device), noise.to(device))
    for m in bns:
        m.momentum = 0.1
    generator.eval()


def plain_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the folded (model-file) weights of a module with spectral-norm parametrizations."""
    suffix = ".parametrizations.weight.original"
    out = {}
    for key, v in module.state_dict().items():
        if key.endswith((".parametrizations.weight.0._u", ".parametrizations.weight.0._v")):
            continue
        out[key[: -len(suffix)] + ".weight" if key.endswith(suffix) else key] = tuple(v.shape)
    return out


def grow_plain_state(
    plain: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], seed: int = 0, scale: float = 0.01
) -> dict[str, torch.Tensor]:
    """Folded weights widened to ``shapes`` (each at least as large) so that the network computes (almost) the
    same function: a new output channel gets a copy of a random existing one scaled by ``scale`` (so it can learn),
    a new input channel a zero weight (so nothing reads the new channels yet); new biases and BN means are 0, new
    BN variances 1. Spectral norm barely moves: the added rows are small."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key not in plain:
            raise TrainingError(f"cannot widen: the model file has no {key}")
        t = plain[key]
        if tuple(t.shape) == tuple(shape):
            out[key] = t
            continue
        if t.dim() != len(shape) or any(a > b for a, b in zip(t.shape, shape)):
            raise TrainingError(f"cannot widen {key} from {tuple(t.shape)} to {tuple(shape)}")
        if key.endswith("running_var"):
            new = torch.ones(shape, dtype=t.dtype)
        else:
            new = torch.zeros(shape, dtype=t.dtype)
        if t.dim() >= 2 and key.endswith("weight"):
            o, i = t.shape[:2]
            new[:o, :i] = t
            extra = shape[0] - o
            if extra:
                pick = torch.randint(0, o, (extra,), generator=g)
                new[o:, :i] = scale * t[pick]
        else:
            new[tuple(slice(0, n) for n in t.shape)] = t
        out[key] = new
    return out


def load_plain_weights(module: nn.Module, plain: dict[str, torch.Tensor]) -> list[tuple[str, float]]:
    """Load folded (inference) weights into a module that carries spectral-norm parametrizations.

    The folded weight becomes the parametrization's original weight and the power-iteration vectors are set to its
    top singular vectors (:func:`converge_spectral_vectors`). The module then computes the file's function in eval
    mode where each folded weight has spectral norm 1, as a trained network's have. An EMA generator's need not
    (exported before session 14): the EMA averages the power-iteration vectors too, and averaged vectors misjudge the
    averaged weight's norm, so its folded weights came out larger (up to 3.7x in the bundled landscapes file, 7.3x in
    CamVid's). Those layers are normalised here (a spectral-normed layer cannot hold anything else), so a warm start
    from such a file makes other images than the file. Returns them: (name, spectral norm in the file) where it is
    off 1 by over 2%.
    """
    suffix = ".parametrizations.weight.original"
    target = module.state_dict()
    state = {}
    for key in target:
        if key.endswith(suffix):
            state[key] = plain[key[: -len(suffix)] + ".weight"]
        elif key.endswith((".parametrizations.weight.0._u", ".parametrizations.weight.0._v")):
            continue
        else:
            state[key] = plain[key]
    missing = module.load_state_dict(state, strict=False).missing_keys
    if any(not k.endswith(("._u", "._v")) for k in missing):
        raise TrainingError(f"the model file lacks weights for {missing[:3]}")
    return [(name, sigma) for name, sigma in converge_spectral_vectors(module) if abs(sigma - 1.0) > 0.02]


def converge_spectral_vectors(module: nn.Module) -> list[tuple[str, float]]:
    """Set every spectral-norm parametrization's power-iteration vectors to its weight's top singular vectors (an
    exact SVD: power iteration converges slowly where the top singular values are close, as they are in trained
    layers), so that in eval mode each folded weight has spectral norm 1, as in the trained network. Returns each
    layer's (name, spectral norm of its original weight).

    For an EMA copy: the EMA averages the vectors with the weights, and averaged vectors fit the averaged weight
    badly (measured in session 14: the CamVid run's EMA, 997 steps after a warm start with converged vectors, read
    a norm of 0.68 where its weight's is 7.26, so that layer computed 10.7x the trained network's), which makes the
    evaluated and exported generator another function than any the discriminator trained against."""
    out = []
    with torch.no_grad():
        for name, m in module.named_modules():
            if hasattr(m, "parametrizations") and "weight" in m.parametrizations:
                sn = m.parametrizations.weight[0]
                w = m.parametrizations.weight.original
                u, s, vh = torch.linalg.svd(w.detach().float().reshape(w.shape[0], -1), full_matrices=False)
                sn._u.copy_(u[:, 0])
                sn._v.copy_(vh[0])
                out.append((name, float(s[0])))
    return out


def unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


# ------------------------------------------------------------------------------------------------ precision
def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The training compute dtype: :func:`oasis_core.runtime.resolve_dtype` (``auto`` picks bf16 only where the
    hardware has it)."""
    return resolve_dtype(precision, device)


# ------------------------------------------------------------------------------------------------ torch.compile
def compile_problem(device: torch.device) -> str | None:
    """Why Inductor cannot compile for ``device`` here, in a few words; None: it can. Looks for the C++ compiler
    (CPU) or Triton (CUDA), then compiles and runs a one-line function, which also needs what those build with
    (Python headers, a C compiler for Triton's launcher)."""
    try:
        if device.type == "cuda":
            from torch.utils._triton import has_triton

            if not has_triton():
                return "Triton is not installed"
        else:
            from torch._inductor import config as inductor_config
            from torch._inductor.cpp_builder import get_cpp_compiler

            try:
                get_cpp_compiler()
            except Exception:
                names = ", ".join(c for c in inductor_config.cpp.cxx if c)
                return f"no C++ compiler was found (tried {names}; set CXX to one)"
    except ImportError as exc:
        return f"this torch build cannot compile ({exc})"
    try:
        x = torch.ones(4, device=device)
        if not torch.equal(torch.compile(lambda t: t * 2 + 1, fullgraph=True)(x), x * 3):
            return "a test compile gave a wrong result"
    except Exception as exc:
        text = str(exc).strip()
        return f"a test compile failed ({text.splitlines()[0][:160] if text else type(exc).__name__})"
    return None


def compile_networks(what: str, g: nn.Module, d: nn.Module, device: torch.device, verbose: bool) -> tuple[str, ...]:
    """Compile the training forward (and so backward) of D (``d``) or of both (``all``) in place: state-dict keys,
    DDP wrapping and checkpoints stay as they are. Returns the names compiled; ``()`` when off or when no compiler
    is found (then one line says why and training runs eager)."""
    if what not in COMPILE_CHOICES:
        raise TrainingError(f"--compile {what!r}: choose one of {', '.join(COMPILE_CHOICES)}")
    if what == "off":
        return ()
    problem = compile_problem(device)
    if problem is not None:
        if verbose:
            print(f"note: --compile {what} is off: {problem}; training runs eager", file=sys.stderr)
        return ()
    names = ("G", "D") if what == "all" else ("D",)
    if what == "all":
        g.compile()  # group counts of the grouped SPADE vary per batch: dynamic shapes after the first recompile
    d.compile()
    return names


# ------------------------------------------------------------------------------------------------ state files
def save_state(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: Path) -> dict:
    try:
        if Path(path).stat().st_size == 0:
            raise TrainingError(f"{path} is empty (a copy cut short?); delete it to start the run again")
        return torch.load(path, map_location="cpu", weights_only=True)
    except TrainingError:
        raise
    except Exception as exc:
        text = str(exc).strip()
        detail = text.splitlines()[0][:200] if text else type(exc).__name__
        raise TrainingError(f"{path} is not a readable training state ({detail})") from None


# ------------------------------------------------------------------------------------------------ samples
def colourize_channels(labels: torch.Tensor, space: LabelSpace) -> np.ndarray:
    pal = np.asarray(space.colours, dtype=np.uint8)
    return pal[labels.cpu().numpy()]


def sample_grid(labels: torch.Tensor, images: torch.Tensor, space: LabelSpace) -> Image.Image:
    """Rows of label map | generated image."""
    rows = []
    imgs = ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    for lab, img in zip(labels, imgs):
        rows.append(np.concatenate([colourize_channels(lab, space), img], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


# ------------------------------------------------------------------------------------------------ the loop
class Run:
    """Everything one training process holds; ``fit`` drives it."""

    def __init__(self, cfg: TrainConfig, info: du.DistInfo, dataset_factory, space: LabelSpace):
        self.cfg, self.info, self.space = cfg, info, space
        self.run_dir = Path(cfg.run_dir)
        self.device = info.device
        self.amp_dtype = resolve_precision(cfg.precision, self.device)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format

        g, d = build_models(cfg, space)
        if info.enabled and self.device.type == "cuda" and cfg.norm in ("batch", "syncbatch"):
            g = nn.SyncBatchNorm.convert_sync_batchnorm(g)
        self.g_plain, self.d_plain = (
            g.to(self.device, memory_format=self.memory_format),
            d.to(self.device, memory_format=self.memory_format),
        )
        for m in self.d_plain.modules():
            if isinstance(m, DResBlock):
                m.fast_resample = cfg.fast_resample
        self.ema = copy.deepcopy(self.g_plain).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.compiled: tuple[str, ...] = ()  # see compile(): training compiles, evaluation and export do not
        if info.enabled:
            ids = [info.local_rank] if self.device.type == "cuda" else None
            self.g = DDP(self.g_plain, device_ids=ids, broadcast_buffers=True)
            self.d = DDP(self.d_plain, device_ids=ids, broadcast_buffers=False)
        else:
            self.g, self.d = self.g_plain, self.d_plain
        betas = (cfg.beta1, cfg.beta2)
        grain = [p for n, p in self.g_plain.named_parameters() if is_grain_parameter(n)]
        if grain and cfg.g_grain_lr != 1.0:  # the grain weights start at zero: a faster rate lets them grow
            rest = [p for n, p in self.g_plain.named_parameters() if not is_grain_parameter(n)]
            groups = [{"params": rest}, {"params": grain, "lr": cfg.lr_g * cfg.g_grain_lr}]
            self.opt_g = torch.optim.Adam(groups, lr=cfg.lr_g, betas=betas)
        else:
            self.opt_g = torch.optim.Adam(self.g_plain.parameters(), lr=cfg.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_plain.parameters(), lr=cfg.lr_d, betas=betas)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.bad_steps = 0
        self.dataset_factory = dataset_factory
        self.train_set = dataset_factory("train")

    # -------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {
            "version": STATE_VERSION,
            "step": self.step,
            "config": json.dumps(self.cfg.to_dict()),
            "label_space": json.dumps(self.space.to_dict()),
            "G": self.g_plain.state_dict(),
            "D": self.d_plain.state_dict(),
            "EMA": self.ema.state_dict(),
            "opt_G": self.opt_g.state_dict(),
            "opt_D": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "bad_steps": self.bad_steps,
        }

    def init_from(self, path: str | Path) -> None:
        """Warm start from a model file (this project's format): G and its EMA from the generator, D if present."""
        from oasis_core.checkpoint import load_checkpoint

        mf = load_checkpoint(path)
        gcfg, dcfg = model_configs(self.cfg, self.space)
        # the upsampling mode has no weights: a warm start may change it (the network adapts); grain weights the
        # file lacks start at zero (the same function), and a file's grain weights a run without grain drops
        free = {"aspect_ratio": 0, "upsample": None, "grain_levels": None, "output_grain": None}
        old = mf.generator_config.to_dict() | free
        new = gcfg.to_dict() | free
        g_state = mf.generator_state
        grain_keys = {k for k in plain_shapes(self.g_plain) if is_grain_parameter(k)}
        dropped = sorted(k for k in g_state if is_grain_parameter(k) and k not in grain_keys)
        if dropped and self.info.is_main:
            print(f"note: this run has no grain where {path} has it: {len(dropped)} grain weight(s) dropped",
                  file=sys.stderr)  # fmt: skip
        g_state = {k: v for k, v in g_state.items() if k not in dropped}
        g_state |= {k: self.g_plain.state_dict()[k].detach().clone() for k in grain_keys - set(g_state)}
        if old | {"multipliers": None} == new | {"multipliers": None} and old["multipliers"] != new["multipliers"]:
            g_state = grow_plain_state(g_state, plain_shapes(self.g_plain), seed=self.cfg.seed)
            if self.info.is_main:
                print(f"note: the generator of {path} was widened to multipliers {gcfg.multipliers}", file=sys.stderr)
        elif old != new:
            raise TrainingError(f"{path}: its generator config differs from this run's ({mf.generator_config})")
        if mf.label_space.num_channels != self.space.num_channels:
            raise TrainingError(f"{path}: its label space has {mf.label_space.num_channels} channels, not "
                                f"{self.space.num_channels}")  # fmt: skip
        off = load_plain_weights(self.g_plain, g_state)
        load_plain_weights(self.ema, g_state)
        if off and self.info.is_main:
            worst = max(off, key=lambda o: abs(o[1] - 1))
            print(f"note: {len(off)} generator layer(s) of {path} have spectral norm other than 1 (up to "
                  f"{worst[1]:.2f}, {worst[0]}: an EMA's averaged power-iteration vectors); this run normalises "
                  "them, so its images differ from the file's", file=sys.stderr)  # fmt: skip
        if mf.discriminator_state is not None and mf.discriminator_config == dcfg:
            load_plain_weights(self.d_plain, mf.discriminator_state)
        elif self.info.is_main:
            print(f"note: {path} has no matching discriminator; D starts from scratch", file=sys.stderr)

    def load_state_dict(self, st: dict) -> None:
        if st.get("version") != STATE_VERSION:
            raise TrainingError(f"training state version {st.get('version')} is not {STATE_VERSION}")
        # states from before the options
        old = {"g_upsample": "nearest", "g_grain": 0, "g_grain_out": False} | json.loads(st["config"])
        for key in (
            "ch", "spade_hidden", "z_dim", "d_channels", "dataset", "norm", "g_multipliers", "g_upsample", "g_grain"
        ):  # fmt: skip
            if old.get(key) != self.cfg.to_dict().get(key):
                raise TrainingError(
                    f"cannot resume: the run was trained with {key}={old.get(key)!r}, now {self.cfg.to_dict()[key]!r}"
                )
        g_state, ema_state = st["G"], st["EMA"]
        if old["g_grain_out"] != self.cfg.g_grain_out:
            if old["g_grain_out"]:
                raise TrainingError("cannot resume: the run was trained with --g-grain-out; pass it again")
            # output grain added to a run: its amplitudes start at zero (the same images)
            zero = {"grain_rgb": self.g_plain.grain_rgb.detach().clone()}
            g_state, ema_state = g_state | zero, ema_state | zero
            if self.info.is_main:
                print("note: output grain added to the resumed run (zero amplitudes)", file=sys.stderr)
        self.g_plain.load_state_dict(g_state)
        self.d_plain.load_state_dict(st["D"])
        self.ema.load_state_dict(ema_state)
        self.opt_g.load_state_dict(self._regrouped(st["opt_G"]))
        self.opt_d.load_state_dict(st["opt_D"])
        self.scaler.load_state_dict(st["scaler"])
        torch.set_rng_state(st["torch_rng"])
        self.step = int(st["step"])
        self.bad_steps = int(st.get("bad_steps", 0))

    def _regrouped(self, saved: dict) -> dict:
        """The generator optimizer's saved state laid out in this run's parameter groups: one group, or the grain
        weights in a second one (``g_grain_lr``), so a resume may change the grain's rate. Each parameter keeps its
        Adam moments; the groups take this run's learning rates."""
        names = [n for n, _ in self.g_plain.named_parameters()]
        grain = [n for n in names if is_grain_parameter(n)]
        layouts = {1: names, 2: [n for n in names if n not in grain] + grain}
        groups = saved["param_groups"]
        now = self.opt_g.param_groups
        if len(groups) == len(now) or len(groups) not in layouts:
            return saved
        old_index = {n: i for i, n in enumerate(layouts[len(groups)])}
        new_order = layouts[len(now)]
        state = {j: saved["state"][old_index[n]] for j, n in enumerate(new_order) if old_index[n] in saved["state"]}
        out_groups, start = [], 0
        for g in now:
            k = len(g["params"])
            out_groups.append({**groups[0], "lr": g["lr"], "params": list(range(start, start + k))})
            start += k
        return {"state": state, "param_groups": out_groups}

    # -------------------------------------------------------------------------------------- batches
    def loader(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        cfg, info = self.cfg, self.info
        sampler = InfiniteShardedSampler(
            len(self.train_set), info.rank, info.world_size, cfg.seed, start_sample=self.step * cfg.batch
        )
        dl = DataLoader(
            SeededItems(self.train_set, cfg.seed),
            batch_size=cfg.batch,
            sampler=sampler,
            num_workers=cfg.workers,
            persistent_workers=cfg.workers > 0,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if cfg.workers > 0 else None,
            worker_init_fn=_ignore_sigint if cfg.workers > 0 else None,
        )
        return iter(dl)

    def onehot(self, labels: torch.Tensor) -> torch.Tensor:
        oh = F.one_hot(labels, self.space.num_channels).permute(0, 3, 1, 2).float()
        return oh.contiguous(memory_format=self.memory_format)

    def noise_fields(
        self, batch: int, height: int, width: int, step: int, salt: int = 0, labels: torch.Tensor | None = None
    ) -> list[NoiseField]:
        """The batch's noise, one :class:`~oasis_core.noise.NoiseField` an image: one vector, as the paper draws it;
        with ``labels`` (B, H, W) and ``mixed_noise`` > 0, that fraction of the images is rerolled inside a random
        region (see :meth:`reroll_region`) with a soft border of ``mixed_noise_feather`` px, exactly as the app
        rerolls. Deterministic per (seed, step, rank, salt)."""
        g = torch.Generator().manual_seed(_mix(self.cfg.seed, step, self.info.rank, salt))
        fields = [NoiseField.constant(v, height, width) for v in sample_vectors(batch, self.cfg.z_dim, g)]
        p = self.cfg.mixed_noise
        if p > 0 and labels is not None:
            for i in range(batch):
                if float(torch.rand((), generator=g)) >= p:
                    continue
                mask = self.reroll_region(labels[i].cpu(), g, self.cfg.mixed_noise_shapes)
                fields[i] = fields[i].reroll(mask, g, 1.0, self.cfg.mixed_noise_feather)
        return fields

    def noise_codes(
        self, batch: int, height: int, width: int, step: int, salt: int = 0, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`noise_fields` as one batch: vectors ``(B, R, z)`` (rows past an image's own vectors are zero)
        and a map ``(B, H, W)`` int64 of which vector each pixel holds."""
        return self.pack_fields(self.noise_fields(batch, height, width, step, salt, labels))

    def pack_fields(self, fields: list[NoiseField]) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise fields as vectors ``(B, R, z)`` (rows past an image's own vectors are zero) and a map ``(B, H, W)``
        int64 of which vector each pixel holds."""
        vectors = torch.zeros(len(fields), max(f.num_vectors for f in fields), self.cfg.z_dim)
        for i, f in enumerate(fields):
            vectors[i, : f.num_vectors] = f.vectors
        return vectors, torch.stack([f.id_map() for f in fields])

    def rerolled_fields(self, fields: list[NoiseField], labels: torch.Tensor, step: int) -> list[NoiseField]:
        """The diversity term's second draw with ``diversity_reroll``: each field rerolled at full strength inside
        a random region (:meth:`reroll_region`, the mixed-noise shapes and soft border), as the app rerolls."""
        g = torch.Generator().manual_seed(_mix(self.cfg.seed, step, self.info.rank, 0xD17))
        shapes, feather = self.cfg.mixed_noise_shapes, self.cfg.mixed_noise_feather
        return [f.reroll(self.reroll_region(lab.cpu(), g, shapes), g, 1.0, feather) for f, lab in zip(fields, labels)]

    def noise(
        self, batch: int, height: int, width: int, step: int, salt: int = 0, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, z, H, W): :meth:`noise_codes` as a dense field."""
        return self.dense_noise(*self.noise_codes(batch, height, width, step, salt, labels))

    def dense_noise(self, vectors: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """(B, z, H, W) on the device: ``vectors[b, region[b, y, x]]``."""
        return SegCodes(region, vectors).dense(memory_format=self.memory_format).to(self.device)

    def seg_codes(self, labels: torch.Tensor, vectors: torch.Tensor, region: torch.Tensor) -> SegCodes:
        """The generator's input for ``labels`` (B, H, W) and the noise ``(vectors, region)`` as ids and per-id
        vectors: id ``region * N + class`` stands for ``cat(vectors[region], onehot(class))``."""
        n = self.space.num_channels
        b, r = vectors.shape[:2]
        onehots = torch.eye(n).repeat(r, 1)  # (R*N, N)
        codes = torch.cat((vectors.repeat_interleave(n, dim=1), onehots.expand(b, -1, -1)), 2)
        return SegCodes((region.to(self.device) * n + labels).contiguous(), codes.to(self.device))

    @staticmethod
    def reroll_region(
        labels: torch.Tensor, g: torch.Generator, shapes: tuple[str, ...] = ("class", "ellipse")
    ) -> torch.Tensor:
        """(H, W) bool: a region as an app reroll picks one, of one of ``shapes`` (equally likely): ``class``, one
        class present in ``labels`` (a per-class reroll); ``ellipse``, 15-45% of the image across, anywhere (a
        lasso); ``box``, a rectangle of the same sizes (the box reroll)."""
        unknown = [s for s in shapes if s not in MIXED_NOISE_SHAPES]
        if not shapes or unknown:
            raise ValueError(f"mixed noise shapes {shapes!r}: choose from {', '.join(MIXED_NOISE_SHAPES)}")
        h, w = labels.shape
        shape = shapes[min(len(shapes) - 1, int(float(torch.rand((), generator=g)) * len(shapes)))]
        if shape == "class":
            present = torch.unique(labels)
            c = present[int(torch.randint(len(present), (), generator=g))]
            return labels == c
        cy, cx = (torch.rand(2, generator=g) * torch.tensor([h, w])).tolist()
        ry, rx = ((0.15 + 0.3 * torch.rand(2, generator=g)) * torch.tensor([h, w]) / 2).tolist()
        yy = torch.arange(h, dtype=torch.float32)[:, None]
        xx = torch.arange(w, dtype=torch.float32)[None, :]
        if shape == "box":
            return ((yy - cy).abs() <= ry) & ((xx - cx).abs() <= rx)
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0

    def g_inputs(self, labels: torch.Tensor, vectors: torch.Tensor, region: torch.Tensor) -> tuple:
        """The generator's arguments: ids and codes (``grouped_spade``), else the dense one-hot map and noise; then
        the grain (None without ``g_grain``)."""
        grain = self.grain(vectors, region)
        if self.cfg.grouped_spade:
            return self.seg_codes(labels, vectors, region), None, grain
        return self.onehot(labels), self.dense_noise(vectors, region), grain

    def grain(self, vectors: torch.Tensor, region: torch.Tensor) -> torch.Tensor | None:
        """(B, grain channels, H, W) per-pixel grain of the noise ``(vectors, region)`` on the device (what the
        generator would derive from its input, from the CPU tensors at hand: no copy back from the device); None
        without grain."""
        k = self.g_plain.config.grain_channels
        if not k:
            return None
        h, w = region.shape[-2:]
        grain = torch.stack([noise_grain(v, r, h, w, k).reshape(k, h, w) for v, r in zip(vectors.cpu(), region.cpu())])
        return grain.to(self.device, non_blocking=True)

    def class_weights(self, labels: torch.Tensor) -> torch.Tensor:
        counts = losses.class_counts(labels, self.space.num_channels)
        counts = du.all_reduce_sum(counts.to(self.device), self.info)  # over the global batch
        return losses.class_weights(counts, self.space.dont_care)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype != torch.float32)

    def _clip(self, opt: torch.optim.Optimizer, module: nn.Module, max_norm: float | None) -> torch.Tensor | None:
        """Clip the global gradient norm (after DDP's all-reduce, so every rank clips alike); returns the norm
        before clipping. One outlier batch otherwise inflates Adam's second moment (beta2 0.999) and freezes
        learning for thousands of steps."""
        if not max_norm:
            return None
        self.scaler.unscale_(opt)
        return torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm).detach()

    def _finite_norm(self, norm: torch.Tensor | None) -> bool:
        """A clipped gradient whose norm is not finite is not applied (fp16's scaler skips such steps itself)."""
        return norm is None or self.scaler.is_enabled() or bool(torch.isfinite(norm))

    def compile(self) -> tuple[str, ...]:
        """``cfg.compile`` applied to the training networks (:func:`compile_networks`); the names compiled."""
        self.compiled = compile_networks(self.cfg.compile, self.g_plain, self.d_plain, self.device, self.info.is_main)
        return self.compiled

    # -------------------------------------------------------------------------------------- one iteration
    def train_step(self, image: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        cfg = self.cfg
        image = image.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        labels = labels.to(self.device, non_blocking=True)
        b, h, w = labels.shape
        weights = self.class_weights(labels)
        fields = self.noise_fields(b, h, w, self.step, labels=labels)
        vectors, region = self.pack_fields(fields)
        # the diversity term's second noise draw for the first half of the batch (same label maps), in the same pass:
        # a new field, or (diversity_reroll) the first draw with a region rerolled
        k = max(1, b // 2) if cfg.lambda_diversity > 0 else 0
        if k:
            if cfg.diversity_reroll:
                v2, r2 = self.pack_fields(self.rerolled_fields(fields[:k], labels[:k], self.step))
            else:
                v2, r2 = self.noise_codes(k, h, w, self.step, salt=0xD17)
            r = max(vectors.shape[1], v2.shape[1])  # the same number of vector rows (the extra ones are zero)
            vectors = torch.cat([F.pad(v, (0, 0, 0, r - v.shape[1])) for v in (vectors, v2)])
            region = torch.cat([region, r2])
            g_labels = torch.cat([labels, labels[:k]])
        else:
            g_labels = labels
        g_in = self.g_inputs(g_labels, vectors, region)

        # G step: D is called outside DDP. Its parameters are frozen, unless its output on the fake is kept for the
        # D step's loss (reuse_fake_logits): then D sees a detached copy of the fake, and the gradient reaches G in
        # two stages (through D to the fake, then from the fake into G), so neither loss leaks into the other network
        # (not with a compiled D: its graph saves spectral norm's vectors without the copies eager mode makes, and the
        # D step's call updates them in place before the kept graph's backward)
        share = cfg.reuse_fake and cfg.reuse_fake_logits and "D" not in self.compiled
        self.d_plain.requires_grad_(share)
        self.opt_g.zero_grad(set_to_none=True)
        extra: dict[str, torch.Tensor] = {}
        div_term = None
        with self.autocast():
            out_g = self.g(*g_in)
            fake = out_g[:b]
            fake_leaf = fake.detach().requires_grad_() if share else fake
            out_fake = self.d_plain(fake_leaf)
            loss_g = losses.generator_loss(out_fake, labels, weights)
            loss_total = loss_g
            if k:
                zd = self.dense_noise(vectors, region)
                if cfg.diversity_reroll:
                    ratio, leak = losses.reroll_diversity(out_g[:k], out_g[b:], zd[:k], zd[b:], DIVERSITY_FAR)
                    extra["leak"] = leak.detach().mean()
                else:
                    ratio, leak = losses.diversity_ratio(out_g[:k], out_g[b:], zd[:k], zd[b:]), None
                div_term = -cfg.lambda_diversity * ratio.clamp(max=cfg.diversity_cap).mean()
                if leak is not None and cfg.diversity_leak > 0:
                    div_term = div_term + cfg.diversity_leak * leak.mean()
                loss_total = loss_g + div_term
                extra["div"] = ratio.detach().mean()  # unclamped: how far the draws are apart
        self.d_plain.requires_grad_(True)
        ok_g = du.all_agree(bool(torch.isfinite(loss_total)), self.info)
        norms: dict[str, torch.Tensor | None] = {}
        backward = False
        if ok_g and share:
            # the loss's own graph is freed at once; D's graph on the fake is kept for the D step
            (grad_out,) = torch.autograd.grad(self.scaler.scale(loss_g), out_fake)
            (grad_fake,) = torch.autograd.grad(out_fake, fake_leaf, grad_out, retain_graph=True)
            outputs, grads = [fake], [grad_fake]
            if div_term is not None:
                outputs.append(self.scaler.scale(div_term))
                grads.append(None)
            torch.autograd.backward(outputs, grads)
            backward = True
        elif ok_g:
            self.scaler.scale(loss_total).backward()
            backward = True
        if ok_g:
            norms["gn_g"] = self._clip(self.opt_g, self.g_plain, cfg.grad_clip_g)
            ok_g = self._finite_norm(norms["gn_g"])  # equal on every rank (taken after the all-reduce)
            if ok_g:
                self.scaler.step(self.opt_g)
        # D step: real and LabelMix, with the fake again (or the G step's detached one) in one D forward (D has no
        # norm layers, so batching them changes nothing), or with D's output on the fake kept from the G step
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            if cfg.reuse_fake:
                fake_d = fake.detach()
            else:
                with torch.no_grad():
                    fake_d = self.g(*self.g_inputs(labels, vectors[:b], region[:b]))
            fake_d = fake_d.to(image.dtype)
            gen = torch.Generator(device="cpu").manual_seed(_mix(cfg.seed, self.step, self.info.rank, 0x1AB))
            mask = losses.labelmix_mask(labels.cpu(), gen).to(self.device)
            mixed = losses.labelmix(mask, image, fake_d)
            if share:
                out = self.d(torch.cat([image, mixed]).contiguous(memory_format=self.memory_format))
                out_real, out_mixed = out.split(b)
            else:
                out = self.d(torch.cat([fake_d, image, mixed]).contiguous(memory_format=self.memory_format))
                out_fake, out_real, out_mixed = out.split(b)
            loss_d, parts = losses.discriminator_loss(
                out_fake, out_real, labels, weights, cfg.lambda_labelmix, out_mixed, mask
            )
        ok_d = du.all_agree(bool(torch.isfinite(loss_d)), self.info)
        if ok_d:
            # only D's parameters: the kept graph of the fake's logits ends at a detached copy (no gradient to it)
            self.scaler.scale(loss_d).backward(inputs=list(self.d_plain.parameters()) if share else None)
            backward = True
            norms["gn_d"] = self._clip(self.opt_d, self.d_plain, cfg.grad_clip_d)
            ok_d = self._finite_norm(norms["gn_d"])
            if ok_d:
                self.scaler.step(self.opt_d)
        if backward:  # a GradScaler update needs an unscale or a step recorded this iteration
            self.scaler.update()
        ema_update(self.ema, self.g_plain, cfg.ema_decay)

        if ok_g and ok_d:
            self.bad_steps = 0
        else:
            self.bad_steps += 1
            if self.info.is_main:
                lg, ld = loss_g.detach().item(), loss_d.detach().item()
                warnings.warn(
                    f"step {self.step}: non-finite loss or gradient (G {lg}, D {ld}); step skipped", stacklevel=2
                )
            if self.bad_steps >= cfg.max_bad_steps:
                raise TrainingError(
                    f"{self.bad_steps} steps in a row produced non-finite losses at step {self.step}: the run "
                    "diverged; lower the learning rates, use --precision fp32, or resume from an earlier state"
                )
        out = {"g": loss_g.detach().item(), "d": loss_d.detach().item(), **{k: v.item() for k, v in parts.items()}}
        out.update({k: v.item() for k, v in norms.items() if v is not None})
        out.update({k: v.item() for k, v in extra.items()})
        return out

    # -------------------------------------------------------------------------------------- extras
    def fixed_val_batch(self, count: int = 4) -> tuple[torch.Tensor, torch.Tensor] | None:
        try:
            val = self.dataset_factory("val")
        except Exception:
            val = self.train_set
        if len(val) == 0:
            return None
        items = [val[i * len(val) // count] for i in range(min(count, len(val)))]
        return torch.stack([it["label"] for it in items]), torch.stack([it["image"] for it in items])

    def bn_batches(self, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Deterministic training batches for BN re-estimation (independent of the training stream), made one at
        a time as they are consumed."""
        n = len(self.train_set)
        g = torch.Generator().manual_seed(_mix(self.cfg.seed, 0xB4))
        for k in range(count):
            idx = torch.randint(0, n, (self.cfg.batch,), generator=g).tolist()
            labels = torch.stack([self.train_set[i]["label"] for i in idx])
            yield self.onehot(labels), self.noise(len(idx), *labels.shape[-2:], 10_000_000 + k)

    def ema_for_eval(self, bn_batches: int | None = None) -> Generator:
        """A copy of the EMA generator with its spectral norms exact (:func:`converge_spectral_vectors`), its BN
        statistics re-estimated, and its output grain (if any) calibrated at the natural size (:mod:`train.grain`):
        the generator that is evaluated and exported."""
        g = copy.deepcopy(self.ema)
        converge_spectral_vectors(g)
        refresh_bn(g, self.bn_batches(self.cfg.bn_refresh_batches if bn_batches is None else bn_batches), self.device)
        if g.grain_rgb is not None:
            calibrate_output_grain(
                g.eval(), self.grain_batches(GRAIN_BATCHES, full_size=True), self.space.dont_care, self.cfg.g_grain_fit
            )
        return g

    def calibrate_grain(self) -> torch.Tensor | None:
        """Re-estimate the training generator's output grain amplitudes on training crops (what the discriminator
        sees), on a copy in training mode so that no BN statistic moves; None without output grain."""
        if self.g_plain.grain_rgb is None:
            return None
        g = copy.deepcopy(self.g_plain).train()
        batches = self.grain_batches(GRAIN_BATCHES, full_size=False)
        amp = calibrate_output_grain(g, batches, self.space.dont_care, self.cfg.g_grain_fit)
        self.g_plain.grain_rgb.copy_(amp.to(self.g_plain.grain_rgb))
        return amp

    def grain_batches(self, count: int, full_size: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Deterministic training images for :func:`train.grain.calibrate_output_grain`: (labels, noise, images),
        whole images at the natural size or training crops; the global random state is left as it was."""
        cfg = self.cfg
        if full_size:
            from train.data import dataset_factory

            size = tuple(cfg.load_size or cfg.size)
            data = dataset_factory(cfg.replace(size=size, load_size=None), self.space)("train")
        else:
            data = self.train_set
        items = SeededItems(data, _mix(cfg.seed, 0x6A1))
        pick = torch.Generator().manual_seed(_mix(cfg.seed, 0x6A2))
        for k in range(count):
            pairs = [items[i] for i in torch.randint(0, len(data), (cfg.batch,), generator=pick).tolist()]
            images = torch.stack([p[0] for p in pairs]).to(self.device)
            labels = torch.stack([p[1] for p in pairs]).to(self.device)
            yield labels, self.noise(len(pairs), *labels.shape[-2:], 20_000_000 + k, salt=0x6A3), images

    def write_samples(self, fixed) -> None:
        if fixed is None:
            return
        labels, _ = fixed
        g = self.ema_for_eval(bn_batches=min(10, self.cfg.bn_refresh_batches))
        with torch.no_grad(), self.autocast():
            out = g(self.onehot(labels.to(self.device)), self.noise(len(labels), *labels.shape[-2:], 0, salt=0x5A))
        grid = sample_grid(labels, out, self.space)
        buf = io.BytesIO()
        grid.save(buf, format="PNG")
        atomic_write_bytes(self.run_dir / "samples" / f"step_{self.step:07d}.png", buf.getvalue())

    def replicas_agree(self) -> bool:
        tensors = [p for p in self.g_plain.parameters()] + [p for p in self.d_plain.parameters()]
        tensors += [b for n, b in self.g_plain.named_buffers() if n.endswith(("_u", "_v"))]
        return du.check_replicas(tensors, self.info)


def _ignore_sigint(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the training process, which stops after the step and saves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StopRequest:
    """SIGINT/SIGTERM during ``fit``: finish the current step, save the state, then stop (a second signal stops at
    once). Handlers are installed only in the main thread and restored on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame) -> None:
        if self.signal is not None:  # the second one: stop now
            raise KeyboardInterrupt
        self.signal = signum
        msg = f"\n{signal.Signals(signum).name}: stopping after this step and saving the state (again: stop at once)\n"
        os.write(2, msg.encode())  # not print: the signal may have interrupted a write to stderr

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def log_line(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def fit(
    cfg: TrainConfig,
    info: du.DistInfo,
    dataset_factory,
    space: LabelSpace,
    resume: bool = False,
    init_from: str | Path | None = None,
) -> Run:
    """Train until ``cfg.iters``; rank 0 writes the run folder, holding its lock (a second ``fit`` on the same
    folder is refused). Returns the Run (for tests and export)."""
    check_training_memory(cfg, info.device, space)
    if not info.is_main:
        return _fit(cfg, info, dataset_factory, space, resume, init_from)
    run_dir = Path(cfg.run_dir)
    try:
        with exclusive_lock(run_dir / LOCK_FILE, f"the run folder {run_dir}"):
            from train.data.check import check_before_training

            if check_before_training(cfg.dataset, cfg.data, space, run_dir):
                print("checked every training pair (cached until the data changes)", file=sys.stderr)
            return _fit(cfg, info, dataset_factory, space, resume, init_from)
    except LockedError as exc:
        raise TrainingError(f"{exc}: another oasis-train fit is training there; choose another --run-dir") from None


def _fit(
    cfg: TrainConfig,
    info: du.DistInfo,
    dataset_factory,
    space: LabelSpace,
    resume: bool,
    init_from: str | Path | None,
) -> Run:
    from tqdm import tqdm

    run = Run(cfg, info, dataset_factory, space)
    run_dir = run.run_dir
    state_path = run_dir / STATE_FILE
    if resume and state_path.exists():
        run.load_state_dict(load_state(state_path))
    elif state_path.exists():
        raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --run-dir")
    else:
        if resume and info.is_main:
            print(f"no training state in {run_dir}: starting from step 0", file=sys.stderr)
        if init_from is not None:
            run.init_from(init_from)
        run.calibrate_grain()  # a new run's output grain starts calibrated
    if info.is_main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2).encode())
        atomic_write_bytes(run_dir / "label_space.json", json.dumps(space.to_dict(), indent=2).encode())
    du.barrier(info)
    tb = None
    if info.is_main:
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(run_dir / "tensorboard"))
        except Exception:  # tensorboard is optional
            tb = None
        if info.device.type == "cpu" and info.enabled:
            print("note: plain BatchNorm per process on CPU (SyncBatchNorm needs CUDA)", file=sys.stderr)
    fixed = run.fixed_val_batch() if info.is_main else None
    batches = run.loader()
    bar = tqdm(total=cfg.iters, initial=run.step, disable=not info.is_main, dynamic_ncols=True, desc="train", unit="it")
    compiling = bool(run.compile())  # before the clock starts: its test compile is not part of the first step
    t0, seen = time.perf_counter(), 0
    stop = StopRequest()
    last_save = time.perf_counter()
    try:
        stop.__enter__()
        while run.step < cfg.iters:
            image, labels = next(batches)
            metrics = run.train_step(image, labels)
            run.step += 1
            seen += image.shape[0] * info.world_size
            bar.update(1)
            if run.step % cfg.log_every == 0 or run.step == cfg.iters:
                dt = time.perf_counter() - t0
                rec = {"step": run.step, **metrics, "images_per_s": seen / max(dt, 1e-9), "time": time.time()}
                if info.is_main:
                    bar.set_postfix(g=f"{metrics['g']:.3f}", d=f"{metrics['d']:.3f}", ips=f"{rec['images_per_s']:.1f}")
                    log_line(run_dir / "metrics.jsonl", rec)
                    if tb is not None:
                        for k, v in metrics.items():
                            tb.add_scalar(f"loss/{k}", v, run.step)
            if compiling:  # the first step compiles: say how long it took; images/s leaves it out from here on
                compiling = False
                if info.is_main:
                    took = time.perf_counter() - t0
                    again = " (G compiles again on a later step, when its shapes vary)" if "G" in run.compiled else ""
                    bar.write(f"torch.compile ({' and '.join(run.compiled)}): the first step took {took:.0f} s, "
                              f"compiling included{again}", file=sys.stderr)  # fmt: skip
                t0, seen = time.perf_counter(), 0
            if run.step % GRAIN_EVERY == 0:
                run.calibrate_grain()  # the same amplitudes on every rank (the same deterministic images)
            if cfg.check_every and run.step % cfg.check_every == 0 and not run.replicas_agree():
                raise TrainingError(f"step {run.step}: ranks hold different weights (replicas diverged)")
            # every save_every steps, and with save_minutes also when that long has passed (any rank's clock)
            saving = run.step % cfg.save_every == 0 or run.step == cfg.iters
            if cfg.save_minutes and not saving:
                saving = not du.all_agree(time.perf_counter() - last_save < 60 * cfg.save_minutes, info)
            if info.is_main and saving:
                save_state(state_path, run.state_dict())
            if info.is_main and cfg.sample_every and (run.step % cfg.sample_every == 0 or run.step == cfg.iters):
                run.write_samples(fixed)
            if saving:
                du.barrier(info)
                last_save = time.perf_counter()
            if run.step < cfg.iters and not du.all_agree(stop.signal is None, info):  # any rank: all stop here
                if info.is_main:
                    if not saving:
                        save_state(state_path, run.state_dict())
                    bar.close()
                    print(f"stopped at step {run.step}; the state is saved in {run_dir}", file=sys.stderr)
                du.barrier(info)
                raise KeyboardInterrupt
    finally:
        stop.__exit__()
        bar.close()
        if tb is not None:
            tb.close()
    if info.is_main:
        atomic_write_bytes(run_dir / "DONE", f"{run.step}\n".encode())
    return run


def cores_per_process() -> int:
    """The cores this training process may use: the ones it is allowed to run on, shared among torchrun's local
    processes."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if du.launched_by_torchrun() else 1
    return max(1, cores // max(1, local))


def default_workers() -> int:
    """Data loader processes per training process when ``--workers`` is not given: none where the process has at
    most 2 cores (a loader process there takes the cores from the compute threads in the middle of their steps:
    2.6 s against 2.2 s per landscapes step on 2 cores, measured in session 12, while loading in the training
    process costs about 0.04 s a step), else 1."""
    return 0 if cores_per_process() <= 2 else 1


def env_threads() -> None:
    """One process per core under torchrun on CPU: keep intra-op threads from oversubscribing."""
    if "OMP_NUM_THREADS" not in os.environ and du.launched_by_torchrun():
        torch.set_num_threads(cores_per_process())
