"""A loaded model described for the GUI, and the runtime choices offered to the user (devices, dtypes)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from app.doc.model_info import ModelInfo
from oasis_core.synthesizer import Synthesizer


def describe(syn: Synthesizer, path: str | os.PathLike = "") -> ModelInfo:
    """The plain description of a loaded model that the rest of the app works with."""
    return ModelInfo(
        name=syn.name,
        model_hash=syn.model_hash,
        label_space=syn.label_space,
        natural_size=tuple(int(s) for s in syn.natural_size),  # type: ignore[arg-type]
        size_multiple=int(syn.size_multiple),
        has_discriminator=bool(syn.has_discriminator),
        path=str(Path(path).resolve()) if path else str(syn.model.path),
        device=str(syn.device),
        dtype=str(syn.dtype).replace("torch.", ""),
        bytes_per_pixel=float(syn.bytes_per_pixel()),
    )


def available_devices() -> list[str]:
    """Device choices for the picker: auto first, CUDA only where PyTorch sees a GPU."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def available_dtypes(device: str) -> list[str]:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return ["auto", "fp32", "bf16", "fp16"]
    return ["auto", "fp32", "bf16"]


def runtime_description() -> str:
    return f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads"
