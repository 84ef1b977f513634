"""torchrun detection, process group set-up and teardown, rank helpers (small on purpose)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (NCCL on CUDA, gloo on CPU); else a single process."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        dev = torch.device("cuda", 0) if want_cuda else torch.device("cpu")
        if want_cuda:
            torch.cuda.set_device(dev)
        return DistInfo(device=dev)
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if want_cuda:
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", device_id=dev)
    else:
        dev = torch.device("cpu")
        dist.init_process_group("gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_agree(flag: bool, info: DistInfo) -> bool:
    """True only if ``flag`` is true on every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_replicas(tensors: list[torch.Tensor], info: DistInfo) -> bool:
    """Whether every rank holds bitwise-identical ``tensors`` (compares per-tensor float64 checksums)."""
    if not info.enabled:
        return True
    sums = torch.stack(
        [t.detach().double().sum() for t in tensors] + [t.detach().double().square().sum() for t in tensors]
    )
    lo, hi = sums.clone().to(info.device), sums.clone().to(info.device)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool(torch.equal(lo, hi))


def finish(info: DistInfo, exit_code: int) -> None:
    """End a torchrun worker without the gloo teardown abort.

    With torch 2.13 on CPU, gloo's worker threads can outlive ``destroy_process_group()`` and abort the process
    while the interpreter finalises (PLATFORM.md; pytorch issue 190489). Destroying the group, flushing every
    stream, then ``os._exit`` skips the finalisation that races with those threads.
    """
    if info.enabled and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception as exc:  # the run's result is already written; do not turn success into failure
            print(f"warning: destroy_process_group failed: {exc}", file=sys.stderr)
    if info.enabled:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
