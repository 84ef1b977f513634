"""Where and in what precision the networks run: device and dtype names resolved once, for inference and training
alike, and the one conversion of network output to 8-bit images."""

from __future__ import annotations

import numpy as np
import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available to PyTorch")
    return torch.device(device)


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """(bytes a new allocation on ``device`` can count on, what to call that memory): CUDA's free memory, else the
    host's (``oasis_core.memory.available_bytes``). None: unknown (no refusal on a guess)."""
    from oasis_core import memory

    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0]), "GPU memory"
        except RuntimeError:
            return None, "GPU memory"
    return memory.available_bytes(), "memory"


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The compute dtype for a name (inference and training alike). ``auto``: bf16 on CPUs with native bf16 (else
    fp32: without it bf16 takes oneDNN's slow path); on CUDA bf16 where supported, else fp16."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be auto, fp32, bf16 or fp16, got {dtype!r}")
    if dtype == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is for CUDA; on a CPU use bf16 or fp32")
    return DTYPES[dtype]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
