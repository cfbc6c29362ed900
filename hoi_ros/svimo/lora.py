"""LoRA training of G_θ (App. C.1, Table 4 "LoRA Training").

The pretrained CogVideoX layers named by ``targets`` (default: the attention projections
``to_q``, ``to_k``, ``to_v``, ``to_out.0``, as diffusers' CogVideoX LoRA scripts) get a rank-``rank``
adapter and are frozen, like every other pretrained tensor of G_θ. What has no pretrained
counterpart — the motion stream (``motion_patch_embed``, ``motion_norm{1,2}``, ``motion_norm_out``,
``motion_proj_out``) — trains in full (there is nothing to adapt), and so does VID. The paper gives
no rank; it is config (``TrainConfig.lora_rank``).

The adapter is ``peft``'s LoRA for ``nn.Linear`` (``y = W·x + b + (α/r)·B·A·x``, ``A`` Kaiming-uniform,
``B = 0``) with peft's parameter names (``X.base_layer.*``, ``X.lora_A.default.weight``,
``X.lora_B.default.weight``), written out here: with ``peft`` installed, diffusers imports it and it
imports ``transformers`` on every ``import diffusers.models``, which G_θ must not need
(``test_dit.py::test_dit_imports_without_transformers``). The test compares it with peft's layer
where peft is installed.

:func:`merged_state_dict` folds the adapters into the weights (``W + (α/r)·B·A``) under the plain
parameter names, so a LoRA run's ``model.safetensors`` loads into an ordinary
:class:`~hoi_ros.svimo.dit.SViMoTransformer` (and the generator) unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

DEFAULT_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
ADAPTER = "default"
# Parameters of G_θ that no CogVideoX checkpoint has (weights.copy_source): trained in full under LoRA.
MOTION_STREAM = ("motion_patch_embed.", "motion_norm_out.", "motion_proj_out.", ".motion_norm1.", ".motion_norm2.")


def is_trained_under_lora(name: str) -> bool:
    """Whether G_θ's parameter ``name`` trains in a LoRA run (an adapter or the motion stream)."""
    return "lora_" in name or any(part in f".{name}" for part in MOTION_STREAM)


class LoRALinear(nn.Module):
    """``base_layer(x) + (alpha / rank)·lora_B(lora_A(x))`` (peft's ``lora.Linear``, one adapter)."""

    def __init__(self, base_layer: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.scaling = float(alpha) / float(rank)
        dev, dt = base_layer.weight.device, base_layer.weight.dtype
        self.lora_A = nn.ModuleDict({ADAPTER: nn.Linear(base_layer.in_features, rank, bias=False, device=dev,
                                                        dtype=dt)})
        self.lora_B = nn.ModuleDict({ADAPTER: nn.Linear(rank, base_layer.out_features, bias=False, device=dev,
                                                        dtype=dt)})
        nn.init.kaiming_uniform_(self.lora_A[ADAPTER].weight, a=math.sqrt(5))  # peft's init
        nn.init.zeros_(self.lora_B[ADAPTER].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.lora_A[ADAPTER], self.lora_B[ADAPTER]
        return self.base_layer(x) + b(a(x.to(a.weight.dtype))).to(x.dtype) * self.scaling


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == t or name.endswith(f".{t}") for t in targets)


def apply_lora(dit: nn.Module, rank: int, alpha: float, targets: Sequence[str] = DEFAULT_TARGETS,
               seed: int = 0) -> nn.Module:
    """Wrap every ``nn.Linear`` of ``dit`` whose name ends with one of ``targets`` in a
    :class:`LoRALinear` (in place) and freeze the pretrained tensors.

    The adapters start at zero (``lora_B = 0``), so the model computes what it did before; ``seed``
    seeds ``lora_A``'s initialisation (the global RNG is left as it was)."""
    if rank < 1:
        raise ValueError(f"lora_rank: must be >= 1 to apply LoRA, got {rank}")
    names = [n for n, m in dit.named_modules() if isinstance(m, nn.Linear) and _matches(n, targets)]
    if not names:
        raise ValueError(f"lora_targets: no nn.Linear of the DiT matches {list(targets)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            parent_name, _, child = name.rpartition(".")
            parent = dit.get_submodule(parent_name) if parent_name else dit
            setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha))
    for name, param in dit.named_parameters():
        param.requires_grad_(is_trained_under_lora(name))
    return dit


def merged_state_dict(state: Mapping[str, torch.Tensor], rank: int, alpha: float) -> dict[str, torch.Tensor]:
    """``state`` with every adapter folded in: ``X.base_layer.weight`` + (α/r)·``X.lora_B``·``X.lora_A``
    becomes ``X.weight`` (``X.base_layer.bias`` → ``X.bias``); a state without adapters is returned as is."""
    scale = float(alpha) / float(rank)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if f".lora_A.{ADAPTER}." in key or f".lora_B.{ADAPTER}." in key:
            continue
        if key.endswith(".base_layer.weight"):
            prefix = key[: -len(".base_layer.weight")]
            a = state[f"{prefix}.lora_A.{ADAPTER}.weight"].float()
            b = state[f"{prefix}.lora_B.{ADAPTER}.weight"].float()
            out[f"{prefix}.weight"] = (value.float() + scale * (b @ a)).to(value.dtype)
        elif key.endswith(".base_layer.bias"):
            out[key[: -len(".base_layer.bias")] + ".bias"] = value
        else:
            out[key] = value
    return out
