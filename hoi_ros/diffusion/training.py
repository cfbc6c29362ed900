"""The accelerate set-up every training command here shares (one CPU to many GPUs, DDP or ZeRO)."""

from __future__ import annotations

from typing import Any

import torch

MIXED_PRECISION = ("no", "bf16", "fp16")


def make_accelerator(mixed_precision: str, batch_size: int) -> Any:
    """An ``accelerate.Accelerator`` for this process (configured by ``accelerate launch``).

    DDP tolerates unused parameters (a warm-up may leave a sub-model without gradients); under
    DeepSpeed, which prepares no dataloader here, the micro batch size is set explicitly.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    acc = Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
    if acc.state.deepspeed_plugin is not None:
        acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = batch_size
    return acc


def is_deepspeed(accelerator: Any) -> bool:
    """Whether ``accelerator`` runs DeepSpeed (ZeRO)."""
    return accelerator.state.deepspeed_plugin is not None
