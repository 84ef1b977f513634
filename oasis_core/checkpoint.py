"""The project's model file (one ``.safetensors``) and the import of the authors' official ``.pth`` files.

Layout of a model file:
- tensors ``generator.<key>`` (EMA generator, spectral norm folded into plain weights) and, optionally,
  ``discriminator.<key>`` (folded the same way);
- safetensors metadata ``{"format": "oasis-studio.model", "format_version": "1", "oasis": <JSON document>}``; the
  document holds the configs, the label space, the natural size, provenance, metrics and the licence text, and
  optionally ``segmentation_prior`` ``{"class_frequencies": [...per label channel...], "strength": 0.5}``: the
  training split's class prior that segmentation adds back to the discriminator's logits
  (``oasis_core.segmentation.prior_bias``; validated on load).

Loading reads JSON and raw tensors only: no code is executed. Official files are read with
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from oasis_core import labels as label_spaces
from oasis_core.config import DiscriminatorConfig, GeneratorConfig, paper_configs
from oasis_core.files import atomic_write_bytes, sha256_file
from oasis_core.labels import LabelSpace
from oasis_core.memory import MAX_SIDE
from oasis_core.nn import Discriminator, Generator
from oasis_core.nn.spectral import fold_spectral_norm, from_official_keys, to_official_keys
from oasis_core.segmentation import check_prior, prior_bias

FORMAT_NAME = "oasis-studio.model"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A model file cannot be used; the message names the file and the reason in one sentence."""


@dataclass
class ModelFile:
    """A loaded model file: configs, label space, metadata and plain (folded) state dicts in float32."""

    path: Path
    generator_config: GeneratorConfig
    discriminator_config: DiscriminatorConfig | None
    label_space: LabelSpace
    generator_state: dict[str, torch.Tensor]
    discriminator_state: dict[str, torch.Tensor] | None
    document: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    @property
    def name(self) -> str:
        return str(self.document.get("name") or self.path.stem)

    @property
    def natural_size(self) -> tuple[int, int]:
        size = self.document.get("natural_size")
        if size:
            return int(size[0]), int(size[1])
        w = 256
        return round(w / self.generator_config.aspect_ratio), w

    @property
    def segment_bias(self) -> np.ndarray | None:
        """Per-class logit bias (label-space channels, float32) that segmentation adds to the discriminator's real
        class logits: the training split's class prior (see ``oasis_core.segmentation.PRIOR_STRENGTH``). None when
        the file carries no class frequencies (official checkpoints, older files)."""
        prior = self.document.get("segmentation_prior")
        if prior is None:
            return None
        freq, strength = check_prior(prior, self.label_space.num_channels)
        return prior_bias(freq, strength)

    def build_generator(self) -> Generator:
        g = Generator(self.generator_config, spectral_norm=False)
        g.load_state_dict(self.generator_state)
        return g.eval()

    def build_discriminator(self) -> Discriminator | None:
        if self.discriminator_config is None or self.discriminator_state is None:
            return None
        d = Discriminator(self.discriminator_config, spectral_norm=False)
        d.load_state_dict(self.discriminator_state)
        return d.eval()


# ----------------------------------------------------------------------------------------------- helpers
def _plain_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's state with spectral norm folded into plain weights (what inference modules load)."""
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return fold_spectral_norm(state)


def _expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _expected_floats(module: nn.Module) -> set[str]:
    """The state keys that hold floating-point values (weights, BN statistics; not BN's step counter)."""
    return {k for k, v in module.state_dict().items() if v.is_floating_point()}


STORED_FLOATS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
MAX_NATURAL_SIDE = MAX_SIDE


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        # keep BN statistics in fp32: they are few and their precision matters
        if v.is_floating_point() and "running_" not in k:
            v = v.to(dtype)
        out[k] = v.contiguous()
    return out


# ----------------------------------------------------------------------------------------------- save
def save_checkpoint(
    path: str | os.PathLike,
    generator: Generator,
    discriminator: Discriminator | None = None,
    *,
    label_space: LabelSpace,
    name: str | None = None,
    natural_size: tuple[int, int] | None = None,
    provenance: dict | None = None,
    metrics: dict | None = None,
    licence: str = "",
    extra: dict | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a model file atomically. Modules may carry spectral-norm parametrizations (they are folded)."""
    if label_space.num_channels != generator.config.semantic_nc:
        raise ValueError(
            f"the label space has {label_space.num_channels} channels but the generator takes "
            f"{generator.config.semantic_nc}"
        )
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"unsupported checkpoint dtype {dtype}")
    tensors = {f"generator.{k}": v for k, v in _cast(_plain_state(generator), dtype).items()}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in _cast(_plain_state(discriminator), dtype).items()})
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ValueError(f"tensor {k} has non-finite values in {dtype} (refusing to write {path})")
    doc = {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION},
        "name": name or Path(path).stem,
        "generator": generator.config.to_dict(),
        "discriminator": discriminator.config.to_dict() if discriminator is not None else None,
        "label_space": label_space.to_dict(),
        "natural_size": list(natural_size) if natural_size else None,
        "dtype": str(dtype).replace("torch.", ""),
        "provenance": provenance or {},
        "metrics": metrics or {},
        "licence": licence,
    }
    if extra:
        doc.update(extra)
    meta = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "oasis": json.dumps(doc)}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))
    return Path(path)


# ----------------------------------------------------------------------------------------------- load
def read_document(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON document of a model file, validated for format name and version (tensors not read)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied (this user may not read the file)") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a model file of this project (not a readable safetensors file: {exc})"
        ) from None
    if meta.get("format") != FORMAT_NAME or "oasis" not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not an OASIS Studio model (no '{FORMAT_NAME}' metadata)"
        )
    try:
        version = int(meta.get("format_version", "0"))
    except ValueError:
        version = -1
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has model format version {meta.get('format_version')!r}; this version of OASIS Studio reads "
            f"version {FORMAT_VERSION}"
        )
    try:
        doc = json.loads(meta["oasis"])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: the model metadata is not valid JSON ({exc})") from exc
    except RecursionError:
        raise CheckpointError(f"{path}: the model metadata is nested too deeply to be a model's") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: the model metadata is not a JSON object")
    return doc


def load_checkpoint(path: str | os.PathLike, with_discriminator: bool = True) -> ModelFile:
    """Read and validate a model file: every expected tensor present with its shape, all values finite."""
    path = Path(path)
    doc = read_document(path)
    try:
        gcfg = GeneratorConfig.from_dict(doc["generator"])
        dcfg = DiscriminatorConfig.from_dict(doc["discriminator"]) if doc.get("discriminator") else None
        space = LabelSpace.from_dict(doc["label_space"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid configuration in the model metadata ({exc})") from exc
    if space.num_channels != gcfg.semantic_nc:
        raise CheckpointError(
            f"{path}: the label space has {space.num_channels} channels but the generator {gcfg.semantic_nc}"
        )
    if doc.get("segmentation_prior") is not None:
        try:
            check_prior(doc["segmentation_prior"], space.num_channels)
        except ValueError as exc:
            raise CheckpointError(f"{path}: invalid segmentation prior in the model metadata ({exc})") from None

    size = doc.get("natural_size")
    if size is not None and not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= MAX_NATURAL_SIDE for v in size)
    ):
        raise CheckpointError(
            f"{path}: natural_size in the model metadata must be [height, width] with sides of 16 to "
            f"{MAX_NATURAL_SIDE} pixels, got {str(size)[:60]}"
        )

    try:
        with torch.device("meta"):  # shapes only: nothing is allocated, however large the widths claim to be
            g_meta = Generator(gcfg, spectral_norm=False)
            d_meta = Discriminator(dcfg, spectral_norm=False) if dcfg is not None else None
    except (RuntimeError, ValueError, OverflowError, TypeError) as exc:
        raise CheckpointError(f"{path}: the network sizes in the model metadata cannot be built ({exc})") from None
    g_shapes = _expected_shapes(g_meta)
    d_shapes = _expected_shapes(d_meta) if d_meta is not None else {}
    floats = {f"generator.{k}" for k in _expected_floats(g_meta)}
    if d_meta is not None:
        floats |= {f"discriminator.{k}" for k in _expected_floats(d_meta)}
    want = {f"generator.{k}": s for k, s in g_shapes.items()}
    if with_discriminator:
        want.update({f"discriminator.{k}": s for k, s in d_shapes.items()})

    tensors: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            missing = [k for k in want if k not in keys]
            if missing:
                raise CheckpointError(f"{path}: tensor {missing[0]} is missing ({len(missing)} missing in all)")
            for k, shape in want.items():
                t = f.get_tensor(k)
                if tuple(t.shape) != shape:
                    raise CheckpointError(f"{path}: tensor {k} has shape {tuple(t.shape)}, expected {shape}")
                if k in floats and t.dtype not in STORED_FLOATS:
                    raise CheckpointError(
                        f"{path}: tensor {k} is stored as {str(t.dtype).replace('torch.', '')}; model weights must "
                        "be float32, float16 or bfloat16"
                    )
                if t.is_floating_point():
                    if not torch.isfinite(t).all():
                        raise CheckpointError(f"{path}: tensor {k} holds non-finite values (NaN or inf)")
                    t = t.float()
                tensors[k] = t
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: the tensor data is damaged ({exc})") from exc

    g_state = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    d_state = {k[len("discriminator.") :]: v for k, v in tensors.items() if k.startswith("discriminator.")}
    return ModelFile(
        path=path,
        generator_config=gcfg,
        discriminator_config=dcfg if (with_discriminator and dcfg is not None) else None,
        label_space=space,
        generator_state=g_state,
        discriminator_state=d_state or None,
        document=doc,
        sha256=sha256_file(path),
    )


# ----------------------------------------------------------------------------------------------- official import
OFFICIAL_DATASETS = {"ade20k": "ade20k", "cityscapes": "cityscapes", "coco": "coco"}


def read_official_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of an official ``.pth`` state dict; anything needing code is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.name.endswith(".pkl"):
        raise CheckpointError(f"{path}: option pickles (opt.pkl) are never read; give the *_EMA.pth / *_D.pth files")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError... for foreign files
        # name what the pickle asks for; torch's own text suggests weights_only=False: never pass that on
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found:
            raise CheckpointError(
                f"{path} cannot be read as a plain PyTorch state dict without running code "
                f"(it asks for {found.group(1)}), so it is refused"
            ) from None
        if "Weights only load failed" in text:
            detail = "unsupported pickle data"
        else:
            detail = f"{type(exc).__name__}: {text.strip().splitlines()[0][:200] if text.strip() else ''}"
        raise CheckpointError(f"{path} is not a readable PyTorch state dict file ({detail})") from None
    if isinstance(state, nn.Module) or not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict (found {type(state).__name__})")
    out = {}
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path}: entry {k!r} is not a named tensor")
        out[k.removeprefix("module.")] = v
    return out


class LayoutMismatch(CheckpointError):
    """An official state dict's keys or shapes are not those of the expected network."""


def check_official_state(
    state: dict[str, torch.Tensor], module: nn.Module | dict[str, tuple[int, ...]], path: Path, what: str
) -> None:
    """Compare keys and shapes with the official layout of ``module`` (or that layout itself: key -> shape); name
    what is missing or unexpected, and refuse non-finite values."""
    expected = module if isinstance(module, dict) else to_official_keys(_expected_shapes(module))
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys ({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})")
    if unexpected:
        problems.append(
            f"unexpected {len(unexpected)} keys ({', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''})"
        )
    for k, shape in expected.items():
        if k in state and tuple(state[k].shape) != shape:
            problems.append(f"{k} has shape {tuple(state[k].shape)}, expected {shape}")
            break
    if problems:
        raise LayoutMismatch(f"{path} is not an official OASIS {what} for this dataset: " + "; ".join(problems))
    for k, v in state.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{path}: tensor {k} holds non-finite values")


@functools.cache
def official_generator_layout(dataset: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official generator state dict for ``dataset`` (built once on the meta device)."""
    gcfg, _ = paper_configs(dataset)
    with torch.device("meta"):
        g = Generator(gcfg, spectral_norm=True)
    return to_official_keys(_expected_shapes(g))


def official_datasets_of(path: str | os.PathLike) -> list[str]:
    """The dataset whose official generator layout ``path`` matches (keys and shapes; values finite), read without
    running code; the datasets named in the path are tried first, and the first match is returned. Raises
    CheckpointError, naming what does not fit, when it is no official OASIS generator."""
    path = Path(path)
    state = read_official_state(path)
    problems = []
    for dataset in sorted(OFFICIAL_DATASETS, key=lambda d: d not in str(path).lower()):
        try:
            check_official_state(state, official_generator_layout(dataset), path, "generator")
        except LayoutMismatch as exc:  # another dataset's layout (non-finite values of this one's raise)
            problems.append(str(exc).split(": ", 1)[-1])
            continue
        return [dataset]
    raise CheckpointError(
        f"{path} is not an official OASIS generator (ade20k, cityscapes or coco): {problems[0] if problems else ''}"
    )


def convert_official(
    generator_path: str | os.PathLike,
    discriminator_path: str | os.PathLike | None,
    dataset: str,
    out_path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Import the authors' ``best_EMA.pth`` (and optionally ``best_D.pth``) into this project's model file."""
    if dataset not in OFFICIAL_DATASETS:
        raise CheckpointError(f"unknown dataset {dataset!r}; expected one of {', '.join(OFFICIAL_DATASETS)}")
    gcfg, dcfg = paper_configs(dataset)
    generator_path = Path(generator_path)
    g_state = read_official_state(generator_path)
    g = Generator(gcfg, spectral_norm=True)
    check_official_state(g_state, g, generator_path, "generator")
    g.load_state_dict(from_official_keys(g_state))
    d = None
    if discriminator_path is not None:
        discriminator_path = Path(discriminator_path)
        d_state = read_official_state(discriminator_path)
        d = Discriminator(dcfg, spectral_norm=True)
        check_official_state(d_state, d, discriminator_path, "discriminator")
        d.load_state_dict(from_official_keys(d_state))
    space = label_spaces.get(dataset)
    natural = (256, 512) if dataset == "cityscapes" else (256, 256)
    return save_checkpoint(
        out_path,
        g,
        d,
        label_space=space,
        name=f"OASIS {dataset} (official)",
        natural_size=natural,
        provenance={
            "source": "official OASIS checkpoint (Schönfeld, Sushko et al., ICLR 2021)",
            "generator_file": generator_path.name,
            "discriminator_file": Path(discriminator_path).name if discriminator_path else None,
            "dataset": dataset,
        },
        licence="Weights by the OASIS authors (Bosch Research); see their repository for the terms of use.",
        dtype=dtype,
    )
