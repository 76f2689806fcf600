"""torchrun / DistributedDataParallel setup: one process per GPU (or several CPU processes over gloo)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, ``local_rank`` on its node, and its ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` and join the process group (NCCL on CUDA, gloo
    on CPU). Without them: a single process on ``device`` ("auto" = ``cuda`` when available, else ``cpu``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if use_cuda:
        dev = torch.device("cuda", local_rank) if device in ("auto", "cuda") else torch.device(device)
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, device_id=dev if dev.type == "cuda" else None)
        log.info("rank %d/%d joined the %s process group on %s", rank, world, backend, dev)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.distributed:
        torch.distributed.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group (no-op in a single process)."""
    if info.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
